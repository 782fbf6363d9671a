"""Each page driven through Streamlit's AppTest against a real SQLite file and the real tiny model:
suggest, focus, accept, reject, add by search, submit, revise, reopen, worklist import and assignment,
export in every format (parsed back), the model page.
"""

import csv
import html
import io
import json
import os
import re
import time
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from app.markdown_text import plain
from app.review_session import FOCUS_KEY, NOTE_KEY
from app.services import accounts, decisions, exporters, notes, suggestions
from app.services.auth import Role
from app.services.db import make_engine, migrate, open_session
from app.services.store import Action, Decision, Note, NoteStatus
from app.signed_in import LAST_ACTIVITY_KEY, USERNAME_KEY
from plant_core.corpus.loaders import load_corpus, write_caml
from plant_core.corpus.records import iter_jsonl, write_jsonl
from tests.app.people import ADMIN, as_coder, make_accounts

MAIN = Path(__file__).resolve().parents[2] / "app" / "main.py"
# A code the tiny model cannot suggest (not among its labels), added by search as a missed code.
MISSED = "H52.4"
RUN_TIMEOUT = 120  # seconds; the first run of a test loads the model


@pytest.fixture
def db_url(monkeypatch, tmp_path, model_dir):
    url = f"sqlite:///{tmp_path / 'var' / 'plant_coder.db'}"
    monkeypatch.setenv("PLANT_CODER_DB_URL", url)
    monkeypatch.setenv("PLANT_CODER_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("PLANT_CODER_DEMO_NOTES", str(tmp_path / "no-demo-notes.jsonl"))
    monkeypatch.setenv("PLANT_CODER_EXPORT_DIR", str(tmp_path / "exports"))
    return url


@pytest.fixture
def db(db_url):
    engine = make_engine(db_url)
    migrate(engine)  # as the app does on start, so a test can fill the database first
    yield engine
    engine.dispose()


def ensure_accounts(*usernames: str, role: Role = Role.CODER) -> None:
    """Accounts in the app's database (PLANT_CODER_DB_URL), made where missing."""
    engine = make_engine(os.environ["PLANT_CODER_DB_URL"])
    migrate(engine)
    with open_session(engine) as session:
        missing = [u for u in usernames if accounts.signed_in_user(session, u) is None]
        make_accounts(session, *missing, role=role)
    engine.dispose()


def signed_in_as(at: AppTest, username: str, role: Role = Role.CODER) -> AppTest:
    """The session as it is after `username` signed in on the sign-in page (tested in test_accounts)."""
    ensure_accounts(username, role=role)
    at.session_state[USERNAME_KEY] = username
    at.session_state[LAST_ACTIVITY_KEY] = time.time()
    return at


def start_app(username="alice", query_params=None, role: Role = Role.CODER) -> AppTest:
    at = signed_in_as(AppTest.from_file(str(MAIN), default_timeout=RUN_TIMEOUT), username, role)
    for name, value in (query_params or {}).items():
        at.query_params[name] = value
    return at.run()


def check(at: AppTest) -> AppTest:
    assert not at.exception, [e.message for e in at.exception]
    return at


def paste_and_suggest(at: AppTest, text: str) -> AppTest:
    at.text_area(key="review_paste").input(text)
    return check(at.button(key="review_suggest").click().run())


def open_state(db, at):
    with open_session(db) as session:
        return decisions.review_state(session, ADMIN, at.session_state[NOTE_KEY])


def evidence_html(at: AppTest) -> str:
    [shown] = [h.value for h in at.html if "evidence-note" in h.value]
    return shown


def code_labels(at: AppTest) -> dict[str, str]:
    """The review list's codes, in order, with their labels (marker icon, code, description)."""
    return {b.key.removeprefix("focus-"): b.label for b in at.button if b.key and b.key.startswith("focus-")}


def code_list(at: AppTest) -> list[str]:
    return list(code_labels(at))


def focus_on(at: AppTest, code: str) -> AppTest:
    return check(at.button(key=f"focus-{code}").click().run())


@pytest.fixture
def shown(coder) -> int:
    """How many suggestions the Review page lists: 15, or every code of a model that knows fewer."""
    return min(15, len(coder.labels_))


def test_suggest_accept_reject_add_by_search_and_submit(db, test_notes, shown):
    at = paste_and_suggest(start_app("alice"), test_notes[0].text)
    state = open_state(db, at)
    suggested = [s.code for s in state.run.suggestions]
    assert code_list(at) == suggested and len(suggested) == shown
    preselected = [s.code for s in state.run.suggestions if s.predicted]
    assert all(
        s.probability >= state.run.model_version.threshold for s in state.run.suggestions if s.predicted
    )
    assert at.button(key="review_submit").disabled

    # Focusing a code shows its evidence: the tinted note and its top phrases.
    second = suggested[1]
    focus_on(at, second)
    assert at.session_state[FOCUS_KEY] == second
    assert any(f"#### {plain(second)}" in m.value for m in at.markdown)
    evidence = evidence_html(at)
    assert "evidence-note" in evidence and "rgba(255,140,0," in evidence and "Top evidence" in evidence

    check(at.button(key="review_accept").click().run())
    assert at.session_state[FOCUS_KEY] != second  # moved on to the next undecided suggestion
    focus_on(at, suggested[2])
    check(at.button(key="review_reject").click().run())

    # A missed code, found by words, with evidence words marked in the note.
    marked = test_notes[0].text.split()[0]
    check(at.text_input(key="review_add_evidence").input(marked).run())
    check(at.text_input(key="review_add_query").input("presbyopia").run())
    results = [b.key.removeprefix("add-") for b in at.button if b.key and b.key.startswith("add-")]
    assert results[0] == MISSED
    check(at.button(key=f"add-{MISSED}").click().run())
    assert MISSED in code_list(at) and at.session_state[FOCUS_KEY] == MISSED
    assert "rgba(30,136,229" in evidence_html(at)  # the coder's marked words

    with open_session(db) as session:
        newest = decisions.latest_decisions(session, ADMIN, at.session_state[NOTE_KEY], 1)
    assert newest[second].action == Action.ACCEPTED and newest[second].coder == "alice"
    assert newest[suggested[2]].action == Action.REJECTED
    assert newest[MISSED].action == Action.ADDED and newest[MISSED].evidence_spans[0][0] == 0

    check(at.button(key="review_accept_preselected").click().run())
    check(at.button(key="review_reject_others").click().run())
    assert not at.button(key="review_submit").disabled
    check(at.button(key="review_submit").click().run())
    assert any("Submitted" in s.value for s in at.success)

    state = open_state(db, at)
    assert state.note.status == NoteStatus.SUBMITTED and state.note.submitted_revision == 1
    expected = {second, MISSED} | (set(preselected) - {suggested[2]})
    assert set(state.coded) == expected
    assert at.button(key="review_accept").disabled


def test_overview_heatmap_shows_each_suggested_code_by_note_section(db, test_notes):
    at = paste_and_suggest(start_app(), test_notes[5].text)
    assert not at.get("plotly_chart")  # drawn only while its expander is open
    at.session_state["review_overview_open"] = True  # the expander's key
    check(at.run())
    [chart] = at.get("plotly_chart")
    heatmap = json.loads(chart.proto.spec)["data"][0]
    assert heatmap["type"] == "heatmap" and heatmap["y"] == code_list(at)
    assert len(heatmap["x"]) >= 2 and all(title in test_notes[5].text for title in heatmap["x"][1:])


def test_next_and_previous_move_the_focus_and_deciding_moves_to_the_next_undecided(db, test_notes):
    at = paste_and_suggest(start_app(), test_notes[4].text)
    suggested = code_list(at)
    assert at.session_state[FOCUS_KEY] == suggested[0] and at.button(key="review_previous").disabled
    check(at.button(key="review_next").click().run())
    check(at.button(key="review_next").click().run())
    assert at.session_state[FOCUS_KEY] == suggested[2]
    check(at.button(key="review_previous").click().run())
    assert at.session_state[FOCUS_KEY] == suggested[1]
    check(at.button(key="review_reject").click().run())
    assert at.session_state[FOCUS_KEY] == suggested[2]
    focus_on(at, suggested[-1])
    check(at.button(key="review_accept").click().run())
    assert at.session_state[FOCUS_KEY] == suggested[0]  # round to the first still undecided


def test_submitted_note_is_revised_into_a_new_revision(db, test_notes):
    at = paste_and_suggest(start_app("alice"), test_notes[1].text)
    check(at.button(key="review_accept_preselected").click().run())
    check(at.button(key="review_reject_others").click().run())
    check(at.button(key="review_submit").click().run())
    first = code_list(at)[0]

    signed_in_as(at, "bob")
    check(at.button(key="review_revise").click().run())
    focus_on(at, first)
    check(at.button(key="review_reject").click().run())
    check(at.button(key="review_submit").click().run())

    with open_session(db) as session:
        note_id = at.session_state[NOTE_KEY]
        [record] = decisions.export_records(session, ADMIN, [note_id])
        assert record.revision == 2 and record.submitted_by == "bob" and first not in record.labels
        revisions = [
            (d.revision, d.coder) for d in decisions.history(session, ADMIN, note_id) if d.code == first
        ]
    assert revisions[0] == (1, "alice") and revisions[-1] == (2, "bob")


def test_decisions_are_there_after_reopening_the_note_from_its_url(db, test_notes):
    at = paste_and_suggest(start_app("alice"), test_notes[2].text)
    accepted, rejected = code_list(at)[:2]
    focus_on(at, accepted)
    check(at.button(key="review_accept").click().run())
    focus_on(at, rejected)
    check(at.button(key="review_reject").click().run())
    note_id = at.session_state[NOTE_KEY]
    assert at.query_params["note"] == str(note_id)

    reloaded = check(start_app("alice", query_params={"note": str(note_id)}))
    labels = code_labels(reloaded)
    assert "check_circle" in labels[accepted] and "cancel" in labels[rejected]
    assert sum("radio_button" in label for label in labels.values()) == len(labels) - 2


def test_markup_in_a_note_is_shown_as_text(db):
    text = "Pt with COPD. <script>alert('x')</script> <img src=x onerror=alert(1)> Plan: inhalers."
    at = paste_and_suggest(start_app(), text)
    evidence = evidence_html(at)
    assert "<script" not in evidence and "<img" not in evidence
    # With our own tags stripped, the note reads exactly as pasted: its markup became text.
    assert text in html.unescape(re.sub(r"<[^>]+>", "", evidence))


def test_an_empty_paste_asks_for_text(db):
    at = paste_and_suggest(start_app(), "   ")
    assert any("empty" in w.value for w in at.warning)
    with open_session(db) as session:
        assert notes.list_notes(session, ADMIN) == []


def test_next_from_worklist_opens_the_next_note_with_suggestions(db, test_notes, shown):
    at = start_app("alice")
    with open_session(db) as session:
        notes.import_notes(session, ADMIN, test_notes[:2], source="test.jsonl")
        notes.assign_notes(session, ADMIN, [notes.find_note(session, ADMIN, test_notes[1].id).id], "alice")
    check(at.button(key="review_next_note").click().run())
    with open_session(db) as session:
        opened = session.get(Note, at.session_state[NOTE_KEY])
        assert opened.external_id == test_notes[1].id  # the coder's own note first
        assert suggestions.latest_run(session, ADMIN, opened.id) is not None
    assert len(code_list(at)) == shown
    check(at.button(key="review_next_note").click().run())
    with open_session(db) as session:
        assert session.get(Note, at.session_state[NOTE_KEY]).external_id == test_notes[0].id


def test_worklist_imports_filters_assigns_and_opens_a_note(db, tmp_path, test_notes):
    corpus = tmp_path / "incoming.jsonl"
    write_jsonl(test_notes[:4], corpus)
    ensure_accounts("carol")
    at = start_app("alice", role=Role.ADMIN).switch_page("pages/worklist.py")
    check(at.run())
    check(at.text_input(key="worklist_path").input(str(corpus)).run())
    check(at.button(key="worklist_import_path").click().run())
    assert any(plain("Imported 4 note(s)") in s.value for s in at.success)
    check(at.button(key="worklist_import_path").click().run())
    assert any(plain("4 were already in the worklist") in s.value for s in at.success)
    assert list(at.dataframe[0].value["note"]) == [n.id for n in test_notes[:4]]

    check(at.text_input(key="worklist_text").input(test_notes[2].id).run())
    assert list(at.dataframe[0].value["note"]) == [test_notes[2].id]
    at.session_state["worklist_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    check(at.run())
    check(at.selectbox(key="worklist_assign_to").select("carol").run())
    check(at.button(key="worklist_assign").click().run())
    with open_session(db) as session:
        assert notes.find_note(session, ADMIN, test_notes[2].id).assignee == "carol"

    check(at.selectbox(key="worklist_assignee").select("carol").run())
    assert list(at.dataframe[0].value["assigned to"]) == ["carol"]
    at.session_state["worklist_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    check(at.run())
    check(at.button(key="worklist_open").click().run())
    with open_session(db) as session:
        assert session.get(Note, at.session_state[NOTE_KEY]).external_id == test_notes[2].id


def test_worklist_imports_an_uploaded_caml_file_and_reports_a_bad_one(db, tmp_path, test_notes):
    write_caml({"test": test_notes[:3]}, tmp_path)
    at = check(start_app(role=Role.ADMIN).switch_page("pages/worklist.py").run())
    caml = (tmp_path / "test_full.csv").read_bytes()
    check(at.file_uploader(key="worklist_upload").set_value(("test_full.csv", caml, "text/csv")).run())
    check(at.button(key="worklist_import_upload").click().run())
    assert any(plain("Imported 3 note(s) from test_full.csv") in s.value for s in at.success)
    with open_session(db) as session:
        stored = notes.find_note(session, ADMIN, test_notes[0].id)
        assert stored.text == test_notes[0].text and stored.imported_codes == test_notes[0].codes

    broken = b'{"id": "x"}\n'
    check(
        at.file_uploader(key="worklist_upload").set_value(("broken.jsonl", broken, "application/jsonl")).run()
    )
    check(at.button(key="worklist_import_upload").click().run())
    assert any("Nothing was imported" in e.value for e in at.error)
    with open_session(db) as session:
        assert len(notes.list_notes(session, ADMIN)) == 3


def test_a_note_suggested_by_an_older_model_can_be_suggested_again(db, test_notes, coder, model_dir):
    with open_session(db) as session:
        older = suggestions.register_model_version(session, {**coder.info(), "version": "plant-older"}, "old")
        note = notes.create_pasted_note(session, ADMIN, test_notes[3].text)
        old_run = suggestions.suggest_for_note(session, ADMIN, note, coder, older.id, top_k=3)
        kept = old_run.suggestions[0].code
        decisions.decide(session, as_coder("alice"), note.id, kept, Action.ACCEPTED, 1)
    at = check(start_app(query_params={"note": str(note.id)}))
    assert any(plain("plant-older") in i.value for i in at.info)
    check(at.button(key="review_resuggest").click().run())
    with open_session(db) as session:
        state = decisions.review_state(session, ADMIN, note.id)
        assert state.run.model_version.version == coder.info()["version"]
        assert next(row for row in state.rows if row.code == kept).action == Action.ACCEPTED
    assert not [i for i in at.info if plain("plant-older") in i.value]


def _submit_two_notes(db, test_notes, coder, model_dir) -> None:
    with open_session(db) as session:
        version = suggestions.register_model_version(session, coder.info(), str(model_dir))
        for record in test_notes[:2]:
            note = notes.create_pasted_note(session, ADMIN, record.text)
            suggestions.suggest_for_note(session, ADMIN, note, coder, version.id, top_k=5)
            decisions.decide_all(session, as_coder("alice"), note.id, Action.ACCEPTED, 1, predicted=True)
            decisions.decide_all(session, as_coder("bob"), note.id, Action.REJECTED, 1, predicted=False)
            decisions.add_code(session, as_coder("carol"), note.id, MISSED, 1)
            lock_version = decisions.review_state(session, ADMIN, note.id).note.lock_version
            decisions.submit(session, as_coder("alice"), note.id, lock_version)
        notes.create_pasted_note(session, ADMIN, "An unsubmitted note.")


def _export(at: AppTest, format_name: str, tmp_path: Path) -> Path:
    check(at.radio(key="export_format").set_value(format_name).run())
    check(at.button(key="export_save").click().run())
    assert any(s.value.startswith("Saved 2 note(s)") for s in at.success)
    return Path(at.code[-1].value)


def test_export_page_saves_every_format_and_each_parses_back(db, tmp_path, test_notes, coder, model_dir):
    _submit_two_notes(db, test_notes, coder, model_dir)
    at = check(start_app(role=Role.ADMIN).switch_page("pages/export.py").run())
    with open_session(db) as session:
        records = decisions.export_records(
            session, ADMIN, notes.filtered_note_ids(session, ADMIN, notes.NoteFilter())
        )
    expected = {record.external_id: record.labels for record in records}
    assert [m.value for m in at.metric] == ["2", str(sum(len(labels) for labels in expected.values()))]
    version = coder.info()["version"]

    rows = list(csv.DictReader(io.StringIO(_export(at, "CSV (one row per decision)", tmp_path).read_text())))
    assert {r["note_id"] for r in rows} == set(expected)
    assert {r["coder"] for r in rows} == {"alice", "bob", "carol"}
    assert {r["model_version"] for r in rows if r["decision"] != "added"} == {version}

    corpus = list(iter_jsonl(_export(at, "JSON lines (corpus format + audit)", tmp_path)))
    assert {n.id: n.codes for n in corpus} == expected

    caml_path = _export(at, "MIMIC CAML CSV", tmp_path)
    assert caml_path.read_text().splitlines()[0] == "SUBJECT_ID,HADM_ID,TEXT,LABELS,length"
    assert {n.id: n.codes for n in load_corpus(caml_path, format="caml")["train"]} == expected

    bundle = json.loads(_export(at, "FHIR R4B Bundle of Conditions", tmp_path).read_text())
    Bundle.model_validate(bundle)
    assert exporters.fhir_problems(bundle) == []
    coded = sorted(e["resource"]["code"]["coding"][0]["code"] for e in bundle["entry"])
    assert coded == sorted(code for labels in expected.values() for code in labels)


def test_export_can_be_narrowed_by_a_filter(db, test_notes, coder, model_dir):
    _submit_two_notes(db, test_notes, coder, model_dir)
    with open_session(db) as session:
        first = notes.find_note(session, ADMIN, notes.pasted_note_id(test_notes[0].text))
        make_accounts(session, "dave")
        notes.assign_notes(session, ADMIN, [first.id], "dave")
    at = check(start_app(role=Role.ADMIN).switch_page("pages/export.py").run())
    assert at.metric[0].value == "2"
    check(at.radio(key="export_scope").set_value("Filtered").run())
    check(at.selectbox(key="export_assignee").select("dave").run())
    assert at.metric[0].value == "1"


def test_models_page_shows_the_model_in_use_and_its_evaluation(db, coder):
    at = check(start_app().switch_page("pages/models.py").run())
    info = coder.info()
    assert any(plain(info["version"]) in s.value for s in at.subheader)
    assert at.metric[1].value == f"{info['threshold']:.3f}"
    assert set(at.dataframe[0].value["split"]) >= {"dev", "test"}
    with open_session(db) as session:
        assert [v.version for v in suggestions.list_model_versions(session, ADMIN)] == [info["version"]]


def test_an_empty_worklist_is_seeded_from_the_demo_notes_on_start(db, monkeypatch, tmp_path, test_notes):
    demo = tmp_path / "demo" / "test.jsonl"
    demo.parent.mkdir()
    write_jsonl(test_notes[:3], demo)
    monkeypatch.setenv("PLANT_CODER_DEMO_NOTES", str(demo))
    check(start_app())
    with open_session(db) as session:
        assert [row.external_id for row in notes.list_notes(session, ADMIN)] == [n.id for n in test_notes[:3]]


def test_app_starts_on_an_empty_database_and_records_nothing_until_asked(db):
    check(start_app())
    with open_session(db) as session:
        assert session.scalars(select(Decision)).all() == []
        assert notes.status_counts(session, ADMIN) == {"new": 0, "in progress": 0, "submitted": 0}
