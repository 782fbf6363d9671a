"""The service layer on a real database (a SQLite file and PostgreSQL) and the real tiny model: notes,
suggestions, decisions, submission, revision, export records.
"""

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from app.services import decisions, notes, suggestions
from app.services.db import migrate, open_session
from app.services.store import Action, Base, Decision, Note, NoteStatus, SuggestionRun
from plant_core.corpus.records import Note as CorpusNote
from plant_core.corpus.records import write_jsonl
from tests.app.people import ADMIN, as_coder, make_accounts


@pytest.fixture
def suggested_note(session, coder, model_version_id, test_notes):
    """A pasted test note with the model's suggestions stored."""
    note = notes.create_pasted_note(session, ADMIN, test_notes[0].text)
    run = suggestions.suggest_for_note(session, ADMIN, note, coder, model_version_id, top_k=5)
    return note, run


def _decide_every_suggestion(session, note, run, coder_name="alice"):
    for index, suggestion in enumerate(run.suggestions):
        action = Action.ACCEPTED if index % 2 == 0 else Action.REJECTED
        decisions.decide(session, as_coder(coder_name), note.id, suggestion.code, action, note.revision)


def test_migrations_build_the_schema_of_the_models_and_can_run_again(engine):
    migrate(engine)  # a second start changes nothing
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(engine):
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragmas")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def test_pasting_the_same_text_twice_opens_the_same_note(session):
    first = notes.create_pasted_note(session, ADMIN, "Pt with COPD.")
    again = notes.create_pasted_note(session, ADMIN, "Pt with COPD.")
    assert first.id == again.id and first.source == notes.PASTED_SOURCE
    with pytest.raises(notes.EmptyNoteError):
        notes.create_pasted_note(session, ADMIN, "  \n ")


def test_import_adds_new_notes_and_leaves_known_ones(session, test_notes):
    first = notes.import_notes(session, ADMIN, test_notes[:3], source="test.jsonl")
    second = notes.import_notes(session, ADMIN, test_notes[:5], source="test.jsonl")
    assert (first.added, first.already_there) == (3, 0)
    assert (second.added, second.already_there) == (2, 3)
    stored = notes.find_note(session, ADMIN, test_notes[0].id)
    assert stored.text == test_notes[0].text and stored.imported_codes == test_notes[0].codes
    assert stored.status == NoteStatus.NEW and stored.revision == 1


def test_demo_worklist_is_seeded_only_into_an_empty_database(session, tmp_path, test_notes):
    demo = tmp_path / "test.jsonl"
    write_jsonl(test_notes[:4], demo)
    assert notes.seed_demo_worklist(session, tmp_path / "absent.jsonl") == 0
    assert notes.seed_demo_worklist(session, demo) == 4
    assert notes.seed_demo_worklist(session, demo) == 0
    assert notes.status_counts(session, ADMIN) == {"new": 4, "in progress": 0, "submitted": 0}


def test_next_note_goes_round_the_coders_own_then_unassigned_notes_never_submitted_or_others(session):
    records = [CorpusNote(id=f"n{i}", text=f"note {i}", codes=[]) for i in range(5)]
    notes.import_notes(session, ADMIN, records, source="t")
    ids = {note.external_id: note.id for note in session.scalars(select(Note))}
    make_accounts(session, "alice", "bob")
    notes.assign_notes(session, ADMIN, [ids["n0"]], "bob")
    notes.assign_notes(session, ADMIN, [ids["n3"]], "alice")
    session.get(Note, ids["n1"]).status = NoteStatus.SUBMITTED
    session.commit()
    assert notes.next_note(session, as_coder("alice")).external_id == "n3"
    # alice's queue: n3 (hers), then the unassigned n2 and n4; n0 is bob's, n1 is submitted.
    assert notes.next_note(session, as_coder("alice"), after_note_id=ids["n3"]).external_id == "n2"
    assert notes.next_note(session, as_coder("alice"), after_note_id=ids["n2"]).external_id == "n4"
    assert (
        notes.next_note(session, as_coder("alice"), after_note_id=ids["n4"]).external_id == "n3"
    )  # round again
    assert (
        notes.next_note(session, as_coder("alice"), after_note_id=ids["n1"]).external_id == "n3"
    )  # not queued: first
    assert notes.next_note(session, as_coder("bob")).external_id == "n0"
    for note_id in (ids["n2"], ids["n3"], ids["n4"]):
        session.get(Note, note_id).status = NoteStatus.SUBMITTED
    session.commit()
    assert notes.next_note(session, as_coder("alice")) is None


def test_filters_narrow_the_worklist(session):
    notes.import_notes(
        session,
        ADMIN,
        [CorpusNote(id=f"n{i}", text=f"copd {i}" if i % 2 else "asthma", codes=[]) for i in range(4)],
        source="a.jsonl",
    )
    notes.create_pasted_note(session, ADMIN, "pasted copd")
    ids = notes.filtered_note_ids(session, ADMIN, notes.NoteFilter(source="a.jsonl", text_contains="COPD"))
    assert [session.get(Note, i).external_id for i in ids] == ["n1", "n3"]
    make_accounts(session, "alice")
    notes.assign_notes(session, ADMIN, ids, "alice")
    assert len(notes.list_notes(session, ADMIN, notes.NoteFilter(assignee="alice"))) == 2
    assert len(notes.list_notes(session, ADMIN, notes.NoteFilter(assignee=""))) == 3


def test_suggestions_are_stored_once_per_note_and_model_version(
    session, suggested_note, coder, model_version_id
):
    note, run = suggested_note
    again = suggestions.suggest_for_note(session, ADMIN, note, coder, model_version_id, top_k=5)
    assert again.id == run.id
    assert session.scalars(select(SuggestionRun)).all() == [run]
    assert [s.rank for s in run.suggestions] == list(range(5))
    probabilities = [s.probability for s in run.suggestions]
    assert probabilities == sorted(probabilities, reverse=True)
    assert run.model_version.version == coder.info()["version"]
    assert all(s.predicted == (s.probability >= coder.threshold_) for s in run.suggestions)


def test_stored_attention_is_the_models_attention(session, suggested_note, coder):
    note, run = suggested_note
    codes = [s.code for s in run.suggestions]
    attention = coder.attention(note.text, codes)
    np.testing.assert_array_equal(suggestions.token_offsets(run), attention.offsets)
    for row, suggestion in enumerate(run.suggestions):
        np.testing.assert_allclose(
            suggestions.token_weights(suggestion), attention.weights[row], atol=1 / 255
        )
        for evidence in suggestion.evidence:
            assert note.text[evidence["start"] : evidence["end"]] == evidence["text"]


def test_model_version_is_registered_once(session, coder, model_dir, model_version_id):
    again = suggestions.register_model_version(session, coder.info(), str(model_dir))
    assert again.id == model_version_id and len(suggestions.list_model_versions(session, ADMIN)) == 1


def test_submission_is_refused_while_a_suggestion_is_undecided(session, suggested_note):
    note, run = suggested_note
    first = run.suggestions[0]
    decisions.decide(session, as_coder("alice"), note.id, first.code, Action.ACCEPTED, note.revision)
    state = decisions.review_state(session, ADMIN, note.id)
    assert not state.can_submit and state.undecided == [s.code for s in run.suggestions[1:]]
    with pytest.raises(decisions.UndecidedSuggestionsError) as refused:
        decisions.submit(session, as_coder("alice"), note.id, state.note.lock_version)
    assert refused.value.undecided == state.undecided
    assert session.get(Note, note.id).status == NoteStatus.IN_PROGRESS


def test_decisions_are_kept_in_the_database_across_sessions(engine, session, suggested_note):
    note, run = suggested_note
    first, second = run.suggestions[0], run.suggestions[1]
    decisions.decide(session, as_coder("alice"), note.id, first.code, Action.ACCEPTED, 1)
    decisions.decide(session, as_coder("alice"), note.id, second.code, Action.REJECTED, 1)
    decisions.add_code(session, as_coder("alice"), note.id, "h52.4", 1, evidence_spans=[(0, 5)])
    with open_session(engine) as fresh:
        state = decisions.review_state(fresh, ADMIN, note.id)
        by_code = {row.code: row for row in state.rows}
        assert by_code[first.code].action == Action.ACCEPTED and by_code[first.code].decided_by == "alice"
        assert by_code[second.code].action == Action.REJECTED
        assert by_code["H52.4"].action == Action.ADDED and by_code["H52.4"].evidence_spans == [[0, 5]]
        assert state.rows[-1].code == "H52.4" and state.rows[-1].suggestion is None
        assert set(state.coded) == {first.code, "H52.4"}


def test_changing_a_decision_appends_and_the_newest_counts(session, suggested_note):
    note, run = suggested_note
    code = run.suggestions[0].code
    decisions.decide(session, as_coder("alice"), note.id, code, Action.ACCEPTED, 1)
    decisions.decide(session, as_coder("bob"), note.id, code, Action.REJECTED, 1)
    row = next(r for r in decisions.review_state(session, ADMIN, note.id).rows if r.code == code)
    assert (row.action, row.decided_by) == (Action.REJECTED, "bob")
    assert [(d.action, d.coder) for d in decisions.history(session, ADMIN, note.id)] == [
        (Action.ACCEPTED, "alice"),
        (Action.REJECTED, "bob"),
    ]


def test_adding_a_suggested_code_accepts_it(session, suggested_note):
    note, run = suggested_note
    decision = decisions.add_code(session, as_coder("alice"), note.id, run.suggestions[2].code, 1)
    assert decision.action == Action.ACCEPTED and decision.suggestion_id == run.suggestions[2].id


def test_add_code_refuses_unknown_codes_and_spans_outside_the_note(session, suggested_note):
    note, _ = suggested_note
    with pytest.raises(ValueError, match="not in the ICD-10-CM"):
        decisions.add_code(session, as_coder("alice"), note.id, "Z99.999", 1)
    with pytest.raises(ValueError, match="outside the note"):
        decisions.add_code(
            session, as_coder("alice"), note.id, "I10", 1, evidence_spans=[(0, len(note.text) + 1)]
        )
    assert decisions.history(session, ADMIN, note.id) == []


def test_bulk_decisions_cover_the_preselected_or_the_other_suggestions(session, suggested_note):
    note, run = suggested_note
    accepted = decisions.decide_all(session, as_coder("alice"), note.id, Action.ACCEPTED, 1, predicted=True)
    rejected = decisions.decide_all(session, as_coder("alice"), note.id, Action.REJECTED, 1, predicted=False)
    assert accepted + rejected == len(run.suggestions)
    state = decisions.review_state(session, ADMIN, note.id)
    assert state.can_submit
    assert sorted(state.coded) == sorted(s.code for s in run.suggestions if s.predicted)


def test_submission_from_a_stale_page_is_refused(session, suggested_note):
    note, run = suggested_note
    _decide_every_suggestion(session, note, run)
    seen = decisions.review_state(session, ADMIN, note.id).note.lock_version
    decisions.decide(
        session, as_coder("bob"), note.id, run.suggestions[0].code, Action.REJECTED, 1
    )  # another tab
    with pytest.raises(decisions.StaleNoteError):
        decisions.submit(session, as_coder("alice"), note.id, seen)
    submission = decisions.submit(
        session, as_coder("alice"), note.id, decisions.review_state(session, ADMIN, note.id).note.lock_version
    )
    assert submission.revision == 1 and submission.coder == "alice"


def test_submitted_note_changes_only_in_a_new_revision(session, suggested_note):
    note, run = suggested_note
    _decide_every_suggestion(session, note, run)
    decisions.submit(
        session, as_coder("alice"), note.id, decisions.review_state(session, ADMIN, note.id).note.lock_version
    )
    code = run.suggestions[0].code
    with pytest.raises(decisions.NoteSubmittedError):
        decisions.decide(session, as_coder("alice"), note.id, code, Action.REJECTED, 1)

    revised = decisions.revise(session, as_coder("bob"), note.id)
    assert (revised.revision, revised.status) == (2, NoteStatus.IN_PROGRESS)
    state = decisions.review_state(session, ADMIN, note.id)
    assert state.undecided == [] and code in state.coded  # revision 2 starts from the submitted decisions
    with pytest.raises(decisions.StaleNoteError):
        decisions.decide(
            session, as_coder("bob"), note.id, code, Action.REJECTED, 1
        )  # a page still on revision 1
    decisions.decide(session, as_coder("bob"), note.id, code, Action.REJECTED, 2)

    [in_progress] = decisions.export_records(session, ADMIN, [note.id])
    assert in_progress.revision == 1 and code in in_progress.labels  # revision 2 is not submitted yet
    decisions.submit(
        session, as_coder("bob"), note.id, decisions.review_state(session, ADMIN, note.id).note.lock_version
    )
    [record] = decisions.export_records(session, ADMIN, [note.id])
    assert record.revision == 2 and record.submitted_by == "bob" and code not in record.labels
    assert [s.revision for s in decisions.submissions(session, ADMIN, note.id)] == [1, 2]
    assert session.scalars(select(Decision).where(Decision.revision == 1)).all()  # revision 1 is kept


def test_export_records_name_coder_and_model_version_per_code(session, suggested_note, coder):
    note, run = suggested_note
    _decide_every_suggestion(session, note, run, coder_name="carol")
    decisions.add_code(session, as_coder("dave"), note.id, "H52.4", 1)
    decisions.submit(
        session, as_coder("carol"), note.id, decisions.review_state(session, ADMIN, note.id).note.lock_version
    )
    unsubmitted = notes.create_pasted_note(session, ADMIN, "another note")
    [record] = decisions.export_records(session, ADMIN, [note.id, unsubmitted.id])
    by_code = {c.code: c for c in record.codes}
    assert by_code["H52.4"].coder == "dave" and by_code["H52.4"].model_version is None
    first = by_code[run.suggestions[0].code]
    assert (first.decision, first.coder, first.model_version) == (
        "accepted",
        "carol",
        coder.info()["version"],
    )
    assert first.probability == pytest.approx(run.suggestions[0].probability)
    assert record.labels == [s.code for s in run.suggestions[::2]] + ["H52.4"]
