"""alembic upgrades an existing database without losing rows: a database made at revision 0001 (before
accounts and the audit log) and filled, then upgraded to the newest revision, on SQLite and PostgreSQL.
"""

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, inspect, text

from app.services import accounts, audit, decisions
from app.services.db import MIGRATIONS_DIR, make_engine, migrate, open_session
from app.services.store import Base
from tests.app.people import ADMIN, PASSWORD, as_coder

OLDEST = "0001"


def upgrade_to(engine: Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def fill_at_oldest_revision(engine: Engine) -> None:
    """Rows as revision 0001's app wrote them, in plain SQL (today's ORM classes know newer columns)."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO notes (id, external_id, text, source, imported_codes, status, assignee, revision, "
                "submitted_revision, lock_version, created_at, updated_at) VALUES (1, 'n1', 'Pt with HTN.', "
                "'old.jsonl', '[\"I10\"]', 'submitted', NULL, 1, 1, 3, '2025-11-01 10:00:00+00:00', "
                "'2025-11-01 10:05:00+00:00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO decisions (note_id, revision, code, action, coder, decided_at, suggestion_id, "
                "evidence_spans) VALUES (1, 1, 'I10', 'added', 'alice', '2025-11-01 10:04:00+00:00', NULL, "
                "'[[7, 10]]')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO submissions (note_id, revision, coder, submitted_at) "
                "VALUES (1, 1, 'alice', '2025-11-01 10:05:00+00:00')"
            )
        )


def test_upgrading_an_existing_database_keeps_every_row(db_url):
    engine = make_engine(db_url)
    try:
        upgrade_to(engine, OLDEST)
        assert "users" not in inspect(engine).get_table_names()
        fill_at_oldest_revision(engine)

        migrate(engine)  # what the app does on its next start

        tables = set(inspect(engine).get_table_names())
        assert {"users", "audit_events", "sign_in_attempts", "drafts"} <= tables
        assert set(Base.metadata.tables) <= tables
        with open_session(engine) as session:
            [record] = decisions.export_records(session, ADMIN, [1])
            assert (record.external_id, record.labels, record.submitted_by) == ("n1", ["I10"], "alice")
            assert record.codes[0].evidence_spans == [[7, 10]]
            accounts.create_user(session, ADMIN, "alice", PASSWORD, "coder")
            assert accounts.sign_in(session, "alice", PASSWORD) == as_coder("alice")
            assert [e.action for e in audit.events(session, ADMIN)] == ["signed in", "user created"]
    finally:
        engine.dispose()


def test_migrating_twice_changes_nothing(db_url):
    engine = make_engine(db_url)
    try:
        migrate(engine)
        with open_session(engine) as session:
            accounts.create_user(session, ADMIN, "bob", PASSWORD, "coder")
        migrate(engine)
        with open_session(engine) as session:
            assert accounts.sign_in(session, "bob", PASSWORD) == as_coder("bob")
    finally:
        engine.dispose()
