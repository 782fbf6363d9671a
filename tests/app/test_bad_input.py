"""Bad input gets a clear message, in the services, the app and the command line, and loses nothing
already saved: empty and 1 MB notes, binary and non-UTF-8 files, broken CSVs, unknown codes, duplicate
ids, a missing, foreign or corrupt model folder, a locked or full database.
"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import event, func, select
from streamlit.testing.v1 import AppTest

from app.markdown_text import plain
from app.services import db as db_module
from app.services import decisions, imports, notes, suggestions
from app.services.db import DatabaseUnavailableError, make_engine, migrate, open_session
from app.services.store import Action, Note
from app.signed_in import LAST_ACTIVITY_KEY, USERNAME_KEY
from plant_core.coder import Coder, ModelLoadError
from tests.app.people import ADMIN, make_accounts

REPO_ROOT = Path(__file__).resolve().parents[2]
MAIN = REPO_ROOT / "app" / "main.py"


def note_count(session) -> int:
    return session.scalar(select(func.count(Note.id)))


# ---- notes ----


def test_empty_and_oversized_notes_are_refused_and_a_1_mb_note_is_read_whole(
    session, coder, model_version_id
):
    for empty in ("", "   \n\t "):
        with pytest.raises(notes.EmptyNoteError, match="empty"):
            notes.create_pasted_note(session, ADMIN, empty)
    with pytest.raises(notes.NoteTooLongError, match="limit is 1,048,576"):
        notes.create_pasted_note(session, ADMIN, "x " * (notes.MAX_NOTE_CHARACTERS // 2 + 1))
    with pytest.raises(ValueError, match="binary"):
        notes.create_pasted_note(session, ADMIN, "abc\x00def")
    assert note_count(session) == 0

    sentence = "Pt with essential hypertension and hyperlipidemia, on lisinopril and atorvastatin. "
    big = sentence * (1_000_000 // len(sentence))
    note = notes.create_pasted_note(session, ADMIN, big)
    run = suggestions.suggest_for_note(session, ADMIN, note, coder, model_version_id, top_k=3)
    offsets = suggestions.token_offsets(run)
    assert offsets[-1][1] > len(big) - len(sentence)  # the model read to the end: nothing was cut off
    window = run.model_version.info["config"]["decoder"]["window"]
    assert len(offsets) > 100 * window


def test_the_review_page_says_how_a_long_note_was_read(monkeypatch, tmp_path, model_dir):
    at = signed_in_app(monkeypatch, tmp_path, model_dir)
    at.text_area(key="review_paste").input("Pt with hypertension. " * 400)
    at.button(key="review_suggest").click().run()
    assert not at.exception
    assert any("read by the model in" in c.value and "Nothing was cut off" in c.value for c in at.caption)


# ---- imports ----


def test_binary_and_non_utf8_files_are_refused_with_the_line(session, tmp_path):
    latin = tmp_path / "notes.csv"
    latin.write_bytes("id,text,codes\n1,ok,I10\n2,caf\xe9 au lait,I10\n".encode("latin-1"))
    with pytest.raises(imports.ImportFailedError, match="line 3"):
        imports.import_upload(session, ADMIN, "notes.csv", latin.read_bytes())
    with pytest.raises(imports.ImportFailedError, match="Nothing was imported"):
        imports.import_path(session, ADMIN, latin)
    with pytest.raises(imports.ImportFailedError, match="binary"):
        imports.import_upload(session, ADMIN, "notes.jsonl", bytes(range(256)) * 10)
    assert note_count(session) == 0


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("id,body\n1,Pt with HTN\n", "text"),  # a missing column: the message names the columns found
        ("id;text;codes\n1;Pt with HTN;I10\n", "text"),  # semicolons where commas were expected
        ('id,text,codes\n1,Pt with HTN,"I10,E78.5"\n', "separator|contains ','"),  # codes joined wrongly
        ("id,text,codes\n1,Pt with HTN,Z99.999\n2,Pt with DM,E11.9\n", "Z99.999"),  # an unknown code
        ("id,text,codes\n1,Pt with HTN,I10\n1,Pt again,I10\n", "duplicate id '1'"),
        ("id,text,codes\n1,,I10\n", "empty"),
    ],
)
def test_broken_csv_files_import_nothing_and_say_why(session, tmp_path, content, problem):
    notes.import_notes(session, ADMIN, [], source="nothing")
    path = tmp_path / "incoming.csv"
    path.write_text(content)
    with pytest.raises(imports.ImportFailedError, match=problem):
        imports.import_path(session, ADMIN, path, "csv")
    assert note_count(session) == 0


def test_quoted_newlines_and_commas_in_csv_text_are_kept(session, tmp_path):
    path = tmp_path / "incoming.csv"
    path.write_text('id,text,codes\n1,"Line one, with a comma\nLine two ""quoted""",I10;E78.5\n')
    report = imports.import_path(session, ADMIN, path, "csv")
    assert report.result.added == 1 and report.not_icd10cm == []
    stored = notes.find_note(session, ADMIN, "1")
    assert stored.text == 'Line one, with a comma\nLine two "quoted"' and stored.imported_codes == [
        "I10",
        "E78.5",
    ]


def test_icd9_codes_of_a_mimic_file_are_kept_and_reported(session, tmp_path):
    path = tmp_path / "test_full.csv"
    path.write_text("SUBJECT_ID,HADM_ID,TEXT,LABELS,length\n1,100,Pt with HTN,401.9;428.0,3\n")
    report = imports.import_path(session, ADMIN, path, "caml")
    assert report.result.added == 1 and report.not_icd10cm == ["401.9", "428.0"]
    assert "not ICD-10-CM and were kept as given" in imports.describe(report, "test_full.csv")


def test_duplicate_ids_across_splits_import_nothing(session, tmp_path):
    for split in ("train", "test"):
        (tmp_path / f"{split}.jsonl").write_text(
            json.dumps({"id": "n1", "text": f"{split} note", "codes": []}) + "\n"
        )
    with pytest.raises(imports.ImportFailedError, match="occur more than once"):
        imports.import_path(session, ADMIN, tmp_path, "jsonl")
    assert note_count(session) == 0


def test_a_bad_import_leaves_the_notes_already_saved(session, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("id,text,codes\n1,Pt with HTN,I10\n")
    imports.import_path(session, ADMIN, good, "csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("id,text,codes\n2,Pt with DM,E11.9\n3,Pt with CHF,NOT-A-CODE\n")
    with pytest.raises(imports.ImportFailedError):
        imports.import_path(session, ADMIN, bad, "csv")
    assert [row.external_id for row in notes.list_notes(session, ADMIN)] == ["1"]


def test_the_command_line_reports_a_bad_import_in_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,body\n1,Pt with HTN\n")
    done = subprocess.run(
        [sys.executable, "-m", "app.admin", "import", "--path", str(bad), "--format", "csv"],
        cwd=REPO_ROOT,
        env={**os.environ, "PLANT_CODER_DB_URL": f"sqlite:///{tmp_path / 'cli.db'}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stderr.startswith("error: Nothing was imported")
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


# ---- the model folder ----


def test_missing_foreign_and_corrupt_model_folders_are_named(tmp_path, model_dir):
    with pytest.raises(ModelLoadError, match="does not exist"):
        Coder.load(tmp_path / "nowhere")
    foreign = tmp_path / "foreign"
    shutil.copytree(model_dir, foreign)
    config = json.loads((foreign / "config.json").read_text())
    (foreign / "config.json").write_text(json.dumps({**config, "format_version": 999}))
    with pytest.raises(ModelLoadError, match="model format 999"):
        Coder.load(foreign)
    corrupt = tmp_path / "corrupt"
    shutil.copytree(model_dir, corrupt)
    (corrupt / "weights.pt").write_bytes(b"not a torch file")
    with pytest.raises(ModelLoadError, match="weights.pt"):
        Coder.load(corrupt)


def signed_in_app(monkeypatch, tmp_path, model_dir, username="alice") -> AppTest:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    monkeypatch.setenv("PLANT_CODER_DB_URL", url)
    monkeypatch.setenv("PLANT_CODER_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("PLANT_CODER_DEMO_NOTES", str(tmp_path / "none.jsonl"))
    engine = make_engine(url)
    migrate(engine)
    with open_session(engine) as session:
        make_accounts(session, username)
    engine.dispose()
    at = AppTest.from_file(str(MAIN), default_timeout=120)
    at.session_state[USERNAME_KEY] = username
    at.session_state[LAST_ACTIVITY_KEY] = time.time()
    return at.run()


def test_the_app_says_what_is_wrong_with_the_model_folder(monkeypatch, tmp_path):
    at = signed_in_app(monkeypatch, tmp_path, tmp_path / "no-model-here")
    assert not at.exception
    assert any("could not be loaded" in e.value for e in at.error)
    assert at.button(key="review_suggest").disabled


# ---- the database ----


def _note_with_a_decision(engine, coder, model_dir):
    with open_session(engine) as session:
        version = suggestions.register_model_version(session, coder.info(), str(model_dir))
        note = notes.create_pasted_note(session, ADMIN, "Pt with hypertension and hyperlipidemia.")
        run = suggestions.suggest_for_note(session, ADMIN, note, coder, version.id, top_k=3)
        decisions.decide(session, ADMIN, note.id, run.suggestions[0].code, Action.ACCEPTED, 1)
        return note.id, [s.code for s in run.suggestions]


def test_a_locked_database_is_reported_and_loses_nothing(tmp_path, monkeypatch, coder, model_dir):
    monkeypatch.setattr(db_module, "SQLITE_BUSY_TIMEOUT_MS", 200)
    path = tmp_path / "locked.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    note_id, codes = _note_with_a_decision(engine, coder, model_dir)
    other = sqlite3.connect(path)
    other.execute("BEGIN EXCLUSIVE")  # another program holds the write lock
    try:
        with open_session(engine) as session, pytest.raises(DatabaseUnavailableError, match="busy"):
            decisions.decide(session, ADMIN, note_id, codes[1], Action.REJECTED, 1)
    finally:
        other.rollback()
        other.close()
    with open_session(engine) as session:
        assert list(decisions.latest_decisions(session, ADMIN, note_id, 1)) == [codes[0]]
        decisions.decide(session, ADMIN, note_id, codes[1], Action.REJECTED, 1)  # works again
    engine.dispose()


def test_a_full_database_is_reported_and_loses_nothing(tmp_path, coder, model_dir):
    path = tmp_path / "full.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    note_id, _ = _note_with_a_decision(engine, coder, model_dir)
    pages = sqlite3.connect(path).execute("PRAGMA page_count").fetchone()[0]

    @event.listens_for(engine, "connect")
    def _no_room_left(dbapi_connection, _record):  # as a disk with no free space would
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages + 2}")

    engine.dispose()  # new connections get the limit
    with open_session(engine) as session, pytest.raises(DatabaseUnavailableError, match="full"):
        notes.create_pasted_note(session, ADMIN, "Pt with a very long history. " * 20_000)
    with open_session(engine) as session:
        assert note_count(session) == 1
        assert decisions.review_state(session, ADMIN, note_id).coded
    engine.dispose()


def test_the_review_page_tells_the_coder_when_the_database_is_busy(monkeypatch, tmp_path, model_dir):
    monkeypatch.setattr(db_module, "SQLITE_BUSY_TIMEOUT_MS", 200)
    at = signed_in_app(monkeypatch, tmp_path, model_dir)
    at.text_area(key="review_paste").input("Pt with hypertension and hyperlipidemia.")
    at.button(key="review_suggest").click().run()
    first = next(b.key.removeprefix("focus-") for b in at.button if b.key and b.key.startswith("focus-"))
    other = sqlite3.connect(tmp_path / "app.db")
    other.execute("BEGIN EXCLUSIVE")
    try:
        at.button(key=f"focus-{first}").click().run()
        at.button(key="review_accept").click().run()
    finally:
        other.rollback()
        other.close()
    assert not at.exception
    assert any(plain("The database is busy") in e.value for e in at.error)
