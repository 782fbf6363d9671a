"""The audit log on a real database (SQLite and PostgreSQL): what is recorded, that the database itself
refuses to change or delete a row, and the admin's Audit log page and CSV export.
"""

import csv
import io
import time
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError
from streamlit.testing.v1 import AppTest

from app.services import audit, decisions, export_files, notes, suggestions
from app.services.audit import AuditFilter
from app.services.auth import PermissionDeniedError, Role
from app.services.db import make_engine, migrate, open_session
from app.services.store import Action, AuditEvent
from app.signed_in import LAST_ACTIVITY_KEY, USERNAME_KEY
from tests.app.people import ADMIN, as_coder, make_accounts

MAIN = Path(__file__).resolve().parents[2] / "app" / "main.py"


def actions_of(session, username):
    return [
        (e.action, e.target) for e in reversed(audit.events(session, ADMIN, AuditFilter(username=username)))
    ]


def test_views_decisions_submissions_exports_and_imports_are_recorded(
    session, coder, model_version_id, test_notes, tmp_path
):
    alice = as_coder("alice")
    notes.import_notes(session, ADMIN, test_notes[:1], source="t.jsonl")
    note = notes.find_note(session, ADMIN, test_notes[0].id)
    notes.view_note(session, alice, note.id)
    run = suggestions.suggest_for_note(session, alice, note, coder, model_version_id, top_k=3)
    decisions.decide_all(session, alice, note.id, Action.ACCEPTED, 1, predicted=True)
    decisions.decide_all(session, alice, note.id, Action.REJECTED, 1, predicted=False)
    decisions.submit(
        session, alice, note.id, decisions.review_state(session, alice, note.id).note.lock_version
    )
    export_files.save_export(session, alice, tmp_path, "labels.csv", b"x", notes=1)

    recorded = actions_of(session, "alice")
    assert recorded[0] == ("viewed", f"note {note.id}")
    assert [a for a, _ in recorded[1:]] == ["decided"] * len(run.suggestions) + ["submitted", "exported"]
    assert actions_of(session, "admin") == [("imported", "source t.jsonl")]
    event = audit.events(session, ADMIN, AuditFilter(action="decided"))[0]
    assert event.detail["code"] in {s.code for s in run.suggestions} and event.at.tzinfo is not None


def test_the_database_refuses_to_change_or_delete_an_audit_row(engine, session):
    audit.record_now(session, ADMIN, "viewed", "note 1")
    for statement in (
        update(AuditEvent).values(username="someone else"),
        delete(AuditEvent),
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            session.execute(statement)
        session.rollback()
    with engine.connect() as connection, pytest.raises(DBAPIError, match="append-only"):
        connection.execute(text("DELETE FROM audit_events"))
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection, pytest.raises(DBAPIError, match="append-only"):
            connection.execute(text("TRUNCATE audit_events"))
    with open_session(engine) as fresh:
        [event] = fresh.scalars(select(AuditEvent)).all()
        assert (event.username, event.action) == ("admin", "viewed")


def test_only_admins_read_and_export_the_log(session):
    audit.record_now(session, as_coder("alice"), "viewed", '=HYPERLINK("http://evil")')
    with pytest.raises(PermissionDeniedError):
        audit.events(session, as_coder("alice"))
    with pytest.raises(PermissionDeniedError):
        audit.export_csv(session, as_coder("alice"))
    rows = list(csv.DictReader(io.StringIO(audit.export_csv(session, ADMIN).decode())))
    assert rows[0]["target"].startswith("'=")  # a spreadsheet shows it as text, never runs it
    assert audit.events(session, ADMIN)[0].action == "audit log exported"  # the export is logged too


@pytest.fixture
def app_db(monkeypatch, tmp_path, model_dir):
    url = f"sqlite:///{tmp_path / 'var' / 'plant_coder.db'}"
    monkeypatch.setenv("PLANT_CODER_DB_URL", url)
    monkeypatch.setenv("PLANT_CODER_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("PLANT_CODER_DEMO_NOTES", str(tmp_path / "none.jsonl"))
    engine = make_engine(url)
    migrate(engine)
    with open_session(engine) as session:
        make_accounts(session, "alice")
        make_accounts(session, "root", role=Role.ADMIN)
    yield engine
    engine.dispose()


def test_admin_lists_filters_and_downloads_the_log_on_its_page(app_db):
    with open_session(app_db) as session:
        audit.record_now(session, as_coder("alice"), "viewed", "note 7")
        audit.record_now(session, as_coder("alice"), "decided", "note 7", {"code": "I10"})
    at = AppTest.from_file(str(MAIN), default_timeout=120)
    at.session_state[USERNAME_KEY] = "root"
    at.session_state[LAST_ACTIVITY_KEY] = time.time()
    at = at.switch_page("pages/audit_log.py").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["action"])[:2] == ["decided", "viewed"] and set(table["user"]) == {"alice", "admin"}
    at.selectbox(key="audit_action").select("viewed").run()
    assert set(at.dataframe[0].value["action"]) == {"viewed"}
    at.button(key="audit_prepare_csv").click().run()
    assert at.session_state["audit_csv"].decode().splitlines()[0] == ",".join(audit.AUDIT_CSV_COLUMNS)
