"""The failures published for comparable tools (Label Studio, doccano, MedCATtrainer, Streamlit apps),
each tried here: default accounts, session secrets, stored XSS through note text and label descriptions,
upload checks done only in the browser, reading another coder's note by its id, pickled model files,
`../` in file names, spreadsheet formula injection, `cp` backups of a live SQLite file, "database is
locked" under a trainer and coders writing at once, tracebacks shown to users; and two coders saving
the same note.
"""

import html
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import pytest
import torch
from sqlalchemy import select
from streamlit import config as streamlit_config
from streamlit.testing.v1 import AppTest

from app.markdown_text import plain
from app.services import accounts, audit, decisions, export_files, exporters, imports, notes, suggestions
from app.services.auth import PermissionDeniedError, Role
from app.services.backup import BackupError, backup_sqlite
from app.services.db import make_engine, migrate, open_session
from app.services.store import Action, Decision, Note
from app.signed_in import LAST_ACTIVITY_KEY, USERNAME_KEY
from plant_core.coder import Coder, ModelLoadError
from plant_core.corpus.records import Note as CorpusNote
from tests.app.people import ADMIN, PASSWORD, as_coder, make_accounts

REPO_ROOT = Path(__file__).resolve().parents[2]
MAIN = REPO_ROOT / "app" / "main.py"
XSS = "<img src=x onerror=alert(1)><script>alert('x')</script>"


# ---- accounts and sessions ----


def test_no_account_ships_and_admin_admin_does_not_sign_in(session):
    assert accounts.list_accounts(session, ADMIN) == []
    with pytest.raises(accounts.SignInError):
        accounts.sign_in(session, "admin", "admin")
    first = accounts.ensure_first_admin(session)
    with pytest.raises(accounts.SignInError):
        accounts.sign_in(session, "admin", "admin")
    assert first != "admin" and accounts.sign_in(session, "admin", first).is_admin


def test_first_admin_passwords_are_random_per_database(tmp_path):
    passwords = set()
    for name in ("a", "b"):
        engine = make_engine(f"sqlite:///{tmp_path / name}.db")
        migrate(engine)
        with open_session(engine) as session:
            passwords.add(accounts.ensure_first_admin(session))
        engine.dispose()
    assert len(passwords) == 2


def test_no_session_secret_is_shipped_and_identity_is_never_in_the_url(monkeypatch, tmp_path, model_dir):
    settings = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text())
    assert "cookieSecret" not in settings.get("server", {})
    sources = "\n".join(p.read_text() for p in (REPO_ROOT / "app").rglob("*.py"))
    assert not re.search(r"(cookie_?secret|secret_?key)\s*=", sources, re.IGNORECASE)
    url = f"sqlite:///{tmp_path / 'app.db'}"
    monkeypatch.setenv("PLANT_CODER_DB_URL", url)
    monkeypatch.setenv("PLANT_CODER_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("PLANT_CODER_DEMO_NOTES", str(tmp_path / "none.jsonl"))
    at = AppTest.from_file(str(MAIN), default_timeout=120)
    for name, value in {"user": "admin", "username": "admin", "role": "admin", "session": "x"}.items():
        at.query_params[name] = value  # nothing in the URL signs anyone in
    at.run()
    assert [t.value for t in at.title] == ["Sign in"]


def test_error_pages_show_no_traceback(monkeypatch):
    monkeypatch.chdir(REPO_ROOT)  # `streamlit run` reads .streamlit/config.toml from here
    try:
        streamlit_config.get_config_options(force_reparse=True)
        assert streamlit_config.get_option("client.showErrorDetails") == "none"
        assert streamlit_config.get_option("server.enableXsrfProtection") is True
    finally:
        monkeypatch.undo()
        streamlit_config.get_config_options(force_reparse=True)


# ---- stored XSS ----


@pytest.fixture
def xss_model(tmp_path, model_dir) -> Path:
    """The tiny model with markup in its first code's description, as a tampered labels.json would have."""
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    labels = json.loads((copy / "labels.json").read_text())
    labels[0]["description"] = XSS
    (copy / "labels.json").write_text(json.dumps(labels))
    return copy


def test_markup_in_note_text_and_code_descriptions_is_shown_as_text(monkeypatch, tmp_path, xss_model):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    monkeypatch.setenv("PLANT_CODER_DB_URL", url)
    monkeypatch.setenv("PLANT_CODER_MODEL_DIR", str(xss_model))
    monkeypatch.setenv("PLANT_CODER_DEMO_NOTES", str(tmp_path / "none.jsonl"))
    engine = make_engine(url)
    migrate(engine)
    with open_session(engine) as session:
        make_accounts(session, "alice")
    engine.dispose()
    at = AppTest.from_file(str(MAIN), default_timeout=120)
    at.session_state[USERNAME_KEY] = "alice"
    at.session_state[LAST_ACTIVITY_KEY] = time.time()
    at.run()
    labels = json.loads((xss_model / "labels.json").read_text())
    note = f"Pt with hypertension and hyperlipidemia. {XSS} Plan: continue meds."
    at.text_area(key="review_paste").input(note)
    at.button(key="review_suggest").click().run()
    assert not at.exception
    at.button(key=f"focus-{labels[0]['code']}").click().run()
    raw_html = "".join(h.value for h in at.html)
    assert "<script" not in raw_html and "<img" not in raw_html
    # With our own tags stripped, the note reads as pasted: its markup became text.
    assert note in html.unescape(re.sub(r"<[^>]+>", "", raw_html))
    markdown = [m.value for m in at.markdown] + [b.label for b in at.button]
    assert any(plain(XSS) in text for text in markdown)  # markdown escaped, not rendered


# ---- uploads, ids, model files, file names, spreadsheets ----


def test_uploads_are_checked_on_the_server_whatever_the_browser_allowed(session):
    for name, data, problem in (
        ("payload.exe", b"MZ\x90\x00", "not a corpus file"),
        ("notes.csv", b"id,text\n1,\x00\x01\x02binary", "binary data"),
        ("notes.jsonl", '{"id": "1", "text": "caf\xe9"}\n'.encode("latin-1"), "not UTF-8"),
        ("empty.csv", b"", "is empty"),
    ):
        with pytest.raises(imports.ImportFailedError, match=problem):
            imports.import_upload(session, ADMIN, name, data)
    assert imports.check_upload("../../etc/cron.d/x.csv", b"id,text,codes\n1,a,I10\n") == "x.csv"
    with pytest.raises(PermissionDeniedError):
        imports.import_upload(session, as_coder("alice"), "notes.jsonl", b'{"id": "1", "text": "a"}\n')
    assert notes.list_notes(session, ADMIN) == []


def test_a_coder_cannot_open_another_coders_note_by_its_id(session, coder, model_version_id):
    alice, bob = make_accounts(session, "alice", "bob")
    notes.import_notes(session, ADMIN, [CorpusNote(id="n1", text="Pt with HTN.", codes=[])], source="t")
    note = notes.find_note(session, ADMIN, "n1")
    notes.assign_notes(session, ADMIN, [note.id], "alice")
    suggestions.suggest_for_note(session, alice, note, coder, model_version_id, top_k=3)
    for attempt in (
        lambda: notes.get_note(session, bob, note.id),
        lambda: notes.view_note(session, bob, note.id),
        lambda: decisions.review_state(session, bob, note.id),
        lambda: decisions.history(session, bob, note.id),
        lambda: suggestions.latest_run(session, bob, note.id),
        lambda: decisions.add_code(session, bob, note.id, "I10", 1),
        lambda: decisions.revise(session, bob, note.id),
    ):
        with pytest.raises(PermissionDeniedError, match="assigned to another coder"):
            attempt()
    assert notes.list_notes(session, bob) == [] and notes.next_note(session, bob) is None
    assert decisions.export_records(session, bob, [note.id]) == []
    assert decisions.review_state(session, alice, note.id).note.id == note.id


def test_the_review_page_refuses_another_coders_note_from_the_url(monkeypatch, tmp_path, model_dir):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    monkeypatch.setenv("PLANT_CODER_DB_URL", url)
    monkeypatch.setenv("PLANT_CODER_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("PLANT_CODER_DEMO_NOTES", str(tmp_path / "none.jsonl"))
    engine = make_engine(url)
    migrate(engine)
    with open_session(engine) as session:
        make_accounts(session, "alice", "bob")
        notes.import_notes(session, ADMIN, [CorpusNote(id="n1", text="Secret: pt with HIV.", codes=[])], "t")
        note_id = notes.find_note(session, ADMIN, "n1").id
        notes.assign_notes(session, ADMIN, [note_id], "alice")
    at = AppTest.from_file(str(MAIN), default_timeout=120)
    at.session_state[USERNAME_KEY] = "bob"
    at.session_state[LAST_ACTIVITY_KEY] = time.time()
    at.query_params["note"] = str(note_id)
    at.run()
    assert any("assigned to another coder" in w.value for w in at.warning)
    assert "HIV" not in "".join(h.value for h in at.html) + "".join(m.value for m in at.markdown)
    with open_session(engine) as session:
        assert session.scalars(select(Decision)).all() == []
    engine.dispose()


def test_model_files_are_never_unpickled(tmp_path, model_dir):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    tampered = tmp_path / "model"
    shutil.copytree(model_dir, tampered)
    torch.save({"weights": Payload()}, tampered / "weights.pt")
    with pytest.raises(ModelLoadError, match="cannot be read safely"):
        Coder.load(tampered)
    assert not marker.exists()


def test_export_and_upload_names_cannot_leave_their_folders(session, tmp_path):
    for name in ("../outside.csv", "..", "a/../../b.csv", "/etc/passwd", "x\\..\\y.csv", ""):
        with pytest.raises(export_files.ExportPathError):
            export_files.save_export(session, ADMIN, tmp_path / "exports", name, b"x", notes=0)
    saved = export_files.save_export(session, ADMIN, tmp_path / "exports", "labels.csv", b"x", notes=0)
    assert saved.resolve().is_relative_to((tmp_path / "exports").resolve())
    assert not (tmp_path / "outside.csv").exists()


def test_csv_exports_defuse_spreadsheet_formulas():
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    code = exporters.ExportCode("I10", "=cmd|' /C calc'!A0", "accepted", "@SUM(1+1)", now, "-2+3", 0.9)
    note = exporters.ExportNote("+note", None, None, '=HYPERLINK("x")', 1, "=bob", now, [code])
    for table in (exporters.to_csv([note]), exporters.to_caml_csv([note])):
        cells = [cell for line in table.decode().splitlines()[1:] for cell in line.split(",")]
        assert not any(cell.lstrip('"').startswith(("=", "+", "-", "@")) for cell in cells), cells


# ---- backups and concurrent writers ----


def _decide_in_a_loop(engine, user, note_id, codes, stop, acknowledged, errors):
    """Decides codes of the note one click after another, each in its own session as a page run does."""
    index = 0
    while not stop.is_set():
        code = codes[index % len(codes)]
        action = Action.ACCEPTED if index % 2 else Action.REJECTED
        try:
            with open_session(engine) as session:
                acknowledged.append(decisions.decide(session, user, note_id, code, action, 1).id)
        except Exception as e:  # noqa: BLE001 - every failure is a finding here
            errors.append(repr(e))
        index += 1


def _suggested_notes(session, coder, model_version_id, count):
    ids = []
    for i in range(count):
        note = notes.create_pasted_note(session, ADMIN, f"Note {i}: pt with hypertension and hyperlipidemia.")
        suggestions.suggest_for_note(session, ADMIN, note, coder, model_version_id, top_k=4)
        ids.append(note.id)
    return ids


def test_a_live_sqlite_database_is_backed_up_consistently_while_coders_write(tmp_path, coder, model_dir):
    url = f"sqlite:///{tmp_path / 'live.db'}"
    engine = make_engine(url)
    migrate(engine)
    with open_session(engine) as session:
        version = suggestions.register_model_version(session, coder.info(), str(model_dir))
        note_ids = _suggested_notes(session, coder, version.id, 2)
        codes = {i: [s.code for s in suggestions.latest_run(session, ADMIN, i).suggestions] for i in note_ids}
    stop, acknowledged, errors = threading.Event(), [], []
    writers = [
        threading.Thread(
            target=_decide_in_a_loop,
            args=(engine, as_coder(name), note_id, codes[note_id], stop, acknowledged, errors),
        )
        for name, note_id in zip(("alice", "bob"), note_ids, strict=True)
    ]
    for writer in writers:
        writer.start()
    time.sleep(0.5)
    before = len(acknowledged)
    result = backup_sqlite(url, tmp_path / "backups" / "copy.db")
    time.sleep(0.3)
    stop.set()
    for writer in writers:
        writer.join()
    assert errors == []
    copy = sqlite3.connect(result.path)
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    in_copy = copy.execute("SELECT count(*) FROM decisions").fetchone()[0]
    copy.close()
    assert before <= in_copy <= len(acknowledged) and result.tables["decisions"] == in_copy
    assert not (tmp_path / "backups" / "copy.db-wal").exists()
    with pytest.raises(BackupError, match="exists already"):
        backup_sqlite(url, result.path)
    with pytest.raises(BackupError, match="pg_dump"):
        backup_sqlite("postgresql+psycopg://u@localhost/db", tmp_path / "x.db")
    engine.dispose()


def test_a_trainer_and_coders_writing_at_once_never_see_database_is_locked(engine, coder, model_dir):
    """A background trainer holds write transactions for a while (registering model versions) while
    four coders decide: SQLite's WAL and busy timeout make them queue instead of failing."""
    with open_session(engine) as session:
        version = suggestions.register_model_version(session, coder.info(), str(model_dir))
        note_ids = _suggested_notes(session, coder, version.id, 4)
        codes = {i: [s.code for s in suggestions.latest_run(session, ADMIN, i).suggestions] for i in note_ids}
    stop, acknowledged, errors = threading.Event(), [], []

    def trainer():
        with open_session(engine) as session:
            for round_number in range(5):
                info = {**coder.info(), "version": f"retrained-{round_number}"}
                suggestions.register_model_version(session, info, str(model_dir))
                time.sleep(0.05)

    threads = [threading.Thread(target=trainer)] + [
        threading.Thread(
            target=_decide_in_a_loop,
            args=(engine, as_coder(f"coder{i}"), note_id, codes[note_id], stop, acknowledged, errors),
        )
        for i, note_id in enumerate(note_ids)
    ]
    for thread in threads:
        thread.start()
    threads[0].join()
    time.sleep(0.5)
    stop.set()
    for thread in threads[1:]:
        thread.join()
    assert errors == [] and len(acknowledged) > 20
    with open_session(engine) as session:
        stored = set(session.scalars(select(Decision.id)))
    assert set(acknowledged) <= stored  # every acknowledged decision is in the database


# ---- two coders on one note ----


def test_two_coders_saving_the_same_note_keep_both_and_the_second_is_told(monkeypatch, tmp_path, model_dir):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    monkeypatch.setenv("PLANT_CODER_DB_URL", url)
    monkeypatch.setenv("PLANT_CODER_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("PLANT_CODER_DEMO_NOTES", str(tmp_path / "none.jsonl"))
    engine = make_engine(url)
    migrate(engine)
    with open_session(engine) as session:
        make_accounts(session, "alice", "bob")

    def signed_in(username):
        at = AppTest.from_file(str(MAIN), default_timeout=120)
        at.session_state[USERNAME_KEY] = username
        at.session_state[LAST_ACTIVITY_KEY] = time.time()
        return at

    alice = signed_in("alice").run()
    alice.text_area(key="review_paste").input("Pt with hypertension and hyperlipidemia, on statin.")
    alice.button(key="review_suggest").click().run()
    note_id = alice.session_state["review_note_id"]
    alice.button(key="review_accept_preselected").click().run()
    alice.button(key="review_reject_others").click().run()
    bob = signed_in("bob")
    bob.query_params["note"] = str(note_id)
    bob.run()
    assert not bob.button(key="review_submit").disabled
    first = next(b.key.removeprefix("focus-") for b in alice.button if b.key and b.key.startswith("focus-"))
    alice.button(key=f"focus-{first}").click().run()
    alice.button(key="review_reject").click().run()  # alice changes the note after bob's page loaded it
    bob.button(key="review_submit").click().run()
    assert any(plain("changed since this page showed it") in e.value for e in bob.error)
    with open_session(engine) as session:
        stored = session.get(Note, note_id)
        assert stored.submitted_revision is None  # bob's stale submission was refused
        coders = {d.coder for d in decisions.history(session, ADMIN, note_id)}
    assert coders == {"alice"}
    bob.run()  # reloaded: bob now sees alice's change and submits it
    bob.button(key="review_submit").click().run()
    with open_session(engine) as session:
        assert session.get(Note, note_id).submitted_revision == 1
        history = decisions.history(session, ADMIN, note_id)
    assert [d.action for d in history if d.code == first][-1] == Action.REJECTED
    engine.dispose()


def test_wrong_password_attempts_do_not_leak_which_accounts_exist(session):
    make_accounts(session, "alice")
    timings = {}
    for name in ("alice", "nobody"):
        start = time.perf_counter()
        with pytest.raises(accounts.SignInError):
            accounts.sign_in(session, name, PASSWORD + "x")
        timings[name] = time.perf_counter() - start
    assert timings["nobody"] > timings["alice"] / 4  # the unknown name still pays for a hash check
    assert Role.ADMIN.value == "admin"


def test_two_coders_clicking_on_the_same_note_at_once_lose_no_decision(engine, coder, model_dir):
    with open_session(engine) as session:
        version = suggestions.register_model_version(session, coder.info(), str(model_dir))
        [note_id] = _suggested_notes(session, coder, version.id, 1)
        codes = [s.code for s in suggestions.latest_run(session, ADMIN, note_id).suggestions]
    stop, acknowledged, errors = threading.Event(), [], []
    coders = [
        threading.Thread(
            target=_decide_in_a_loop,
            args=(engine, as_coder(name), note_id, codes, stop, acknowledged, errors),
        )
        for name in ("alice", "bob")
    ]
    for thread in coders:
        thread.start()
    time.sleep(1.5)
    stop.set()
    for thread in coders:
        thread.join()
    assert errors == [] and len(acknowledged) > 10
    with open_session(engine) as session:
        stored = [d.id for d in decisions.history(session, ADMIN, note_id)]
    assert sorted(acknowledged) == stored


def test_the_backup_command_copies_the_live_database_and_is_audited(tmp_path):
    url = f"sqlite:///{tmp_path / 'live.db'}"
    engine = make_engine(url)
    migrate(engine)
    with open_session(engine) as session:
        make_accounts(session, "alice")
    command = [sys.executable, "-m", "app.admin", "backup", "--out", str(tmp_path / "copy.db")]
    environment = {**os.environ, "PLANT_CODER_DB_URL": url}
    done = subprocess.run(
        command, cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "Backed up to" in done.stdout
    copy = make_engine(f"sqlite:///{tmp_path / 'copy.db'}")
    with open_session(copy) as session:
        assert accounts.sign_in(session, "alice", PASSWORD).username == "alice"
    copy.dispose()
    again = subprocess.run(
        command, cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 2 and "exists already" in again.stderr
    with open_session(engine) as session:
        assert audit.events(session, ADMIN)[0].action == "backed up"
    engine.dispose()
