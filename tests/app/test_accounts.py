"""Accounts and sign-in on a real database (SQLite and PostgreSQL), the `python -m app.admin` command
line, and the sign-in, idle sign-out and role checks of the pages through AppTest.
"""

import logging
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from app.markdown_text import plain
from app.services import accounts, audit
from app.services.accounts import AccountError, LockedOutError, SignInError
from app.services.auth import CurrentUser, PermissionDeniedError, Role
from app.services.db import make_engine, migrate, open_session
from app.services.store import AuditEvent, SignInAttempt, User
from app.signed_in import DRAFT_KEYS, LAST_ACTIVITY_KEY, NOTICE_KEY, USERNAME_KEY
from tests.app.people import ADMIN, PASSWORD, as_coder, make_accounts

REPO_ROOT = Path(__file__).resolve().parents[2]
MAIN = REPO_ROOT / "app" / "main.py"
PAGES = REPO_ROOT / "app" / "pages"


def test_a_password_is_stored_only_as_an_argon2_hash_and_never_logged(session, caplog):
    caplog.set_level(logging.DEBUG)
    make_accounts(session, "alice")
    user = session.scalar(select(User).where(User.username == "alice"))
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    assert accounts.sign_in(session, "alice", PASSWORD) == as_coder("alice")
    with pytest.raises(SignInError):
        accounts.sign_in(session, "alice", PASSWORD + "!")
    stored = [repr(e.detail) + e.target for e in session.scalars(select(AuditEvent))]
    assert stored and not any(PASSWORD in text for text in stored)
    assert PASSWORD not in caplog.text


def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(session):
    make_accounts(session, "alice")
    with pytest.raises(SignInError) as wrong_password:
        accounts.sign_in(session, "alice", "not the password")
    with pytest.raises(SignInError) as unknown_user:
        accounts.sign_in(session, "mallory", PASSWORD)
    assert str(wrong_password.value) == str(unknown_user.value) == "Wrong username or password."
    attempts = session.scalars(select(SignInAttempt).order_by(SignInAttempt.id)).all()
    assert [(a.username, a.succeeded) for a in attempts] == [("alice", False), ("mallory", False)]


def test_ten_failed_sign_ins_lock_the_account_until_an_admin_sets_a_new_password(session):
    make_accounts(session, "alice")
    for _ in range(accounts.MAX_FAILED_SIGN_INS):
        with pytest.raises(SignInError) as refused:
            accounts.sign_in(session, "alice", "guess")
        assert not isinstance(refused.value, LockedOutError)
    with pytest.raises(LockedOutError, match="Too many failed sign-ins"):
        accounts.sign_in(session, "alice", PASSWORD)  # even the right password, now
    assert [a.locked for a in accounts.list_accounts(session, ADMIN)] == [True]
    accounts.set_password(session, ADMIN, "alice", "a brand new passphrase")
    assert accounts.sign_in(session, "alice", "a brand new passphrase").username == "alice"


def test_a_lockout_ends_by_itself_and_a_success_resets_the_count(session, monkeypatch):
    make_accounts(session, "alice")
    monkeypatch.setattr(accounts, "LOCKOUT", timedelta(seconds=4))
    for _ in range(accounts.MAX_FAILED_SIGN_INS):
        with pytest.raises(SignInError):
            accounts.sign_in(session, "alice", "guess")
    with pytest.raises(LockedOutError):
        accounts.sign_in(session, "alice", PASSWORD)
    time.sleep(4.2)
    accounts.sign_in(session, "alice", PASSWORD)
    for _ in range(accounts.MAX_FAILED_SIGN_INS - 1):  # counted afresh from the success
        with pytest.raises(SignInError):
            accounts.sign_in(session, "alice", "guess")
    accounts.sign_in(session, "alice", PASSWORD)


def test_guessing_unknown_usernames_is_rate_limited_too(session):
    for _ in range(accounts.MAX_FAILED_SIGN_INS):
        with pytest.raises(SignInError):
            accounts.sign_in(session, "root", "toor")
    with pytest.raises(LockedOutError):
        accounts.sign_in(session, "root", "toor")


def test_only_admins_manage_accounts(session):
    [alice] = make_accounts(session, "alice")
    with pytest.raises(PermissionDeniedError, match="needs the admin role"):
        accounts.create_user(session, alice, "eve", PASSWORD, "admin")
    with pytest.raises(PermissionDeniedError):
        accounts.update_account(session, alice, "alice", role="admin")
    with pytest.raises(PermissionDeniedError):
        accounts.set_password(session, alice, "admin", "taking over now")
    with pytest.raises(PermissionDeniedError):
        accounts.list_accounts(session, alice)
    accounts.set_password(session, alice, "alice", "my own new password")  # one's own password is fine
    assert accounts.sign_in(session, "alice", "my own new password") == alice


def test_bad_usernames_passwords_and_roles_are_refused_with_the_reason(session):
    with pytest.raises(AccountError, match="cannot be a username"):
        accounts.create_user(session, ADMIN, "<script>", PASSWORD, "coder")
    with pytest.raises(AccountError, match="at least 10 characters"):
        accounts.create_user(session, ADMIN, "bob", "short", "coder")
    with pytest.raises(AccountError, match="not a role"):
        accounts.create_user(session, ADMIN, "bob", PASSWORD, "superuser")
    make_accounts(session, "bob")
    with pytest.raises(AccountError, match="already an account"):
        accounts.create_user(session, ADMIN, "bob", PASSWORD, "coder")


def test_the_last_active_admin_cannot_be_demoted_or_switched_off(session):
    [root] = make_accounts(session, "root", role=Role.ADMIN)
    with pytest.raises(PermissionDeniedError, match="last active admin"):
        accounts.update_account(session, root, "root", role="coder")
    with pytest.raises(PermissionDeniedError, match="last active admin"):
        accounts.update_account(session, root, "root", active=False)
    make_accounts(session, "second", role=Role.ADMIN)
    accounts.update_account(session, root, "root", role="coder")
    assert accounts.signed_in_user(session, "root") == as_coder("root")


def test_a_switched_off_account_cannot_sign_in_and_its_session_ends(session):
    make_accounts(session, "alice")
    accounts.update_account(session, ADMIN, "alice", active=False)
    assert accounts.signed_in_user(session, "alice") is None
    with pytest.raises(SignInError):
        accounts.sign_in(session, "alice", PASSWORD)


def test_the_first_admin_gets_a_random_password_once(session):
    password = accounts.ensure_first_admin(session)
    assert password and len(password) >= 20 and password != "admin"
    assert accounts.ensure_first_admin(session) is None
    assert accounts.sign_in(session, "admin", password) == CurrentUser("admin", Role.ADMIN)
    with pytest.raises(SignInError):
        accounts.sign_in(session, "admin", "admin")


def test_account_changes_are_in_the_audit_log(session):
    make_accounts(session, "alice")
    accounts.update_account(session, ADMIN, "alice", role="admin")
    events = [(e.username, e.action, e.target) for e in audit.events(session, ADMIN)]
    assert ("admin", "user changed", "user alice") in events and (
        "admin",
        "user created",
        "user alice",
    ) in events


# ---- the command line ----


def admin_cli(db_url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.admin", *args],
        cwd=REPO_ROOT,
        env={**os.environ, "PLANT_CODER_DB_URL": db_url},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_command_line_creates_users_and_the_first_admin_once(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'cli.db'}"
    first = admin_cli(db_url, "ensure-admin")
    assert first.returncode == 0 and "username: admin" in first.stdout
    password = first.stdout.split("password: ")[1].split()[0]
    again = admin_cli(db_url, "ensure-admin")
    assert again.returncode == 0 and again.stdout == ""  # printed once only

    created = admin_cli(db_url, "create-user", "--username", "bob", "--password", PASSWORD, "--role", "coder")
    assert created.returncode == 0 and PASSWORD not in created.stdout + created.stderr
    refused = admin_cli(db_url, "create-user", "--username", "bob", "--password", "short", "--role", "coder")
    assert (
        refused.returncode == 2 and refused.stderr.startswith("error: ") and "Traceback" not in refused.stderr
    )

    engine = make_engine(db_url)
    with open_session(engine) as session:
        assert accounts.sign_in(session, "admin", password).is_admin
        assert accounts.sign_in(session, "bob", PASSWORD) == as_coder("bob")
        creators = {e.target: e.username for e in audit.events(session, ADMIN) if e.action == "user created"}
    engine.dispose()
    assert creators["user bob"].startswith("cli:")


# ---- the pages ----


@pytest.fixture
def app_db(monkeypatch, tmp_path, model_dir):
    """The app's environment with a migrated SQLite database holding alice (coder) and root (admin)."""
    url = f"sqlite:///{tmp_path / 'var' / 'plant_coder.db'}"
    monkeypatch.setenv("PLANT_CODER_DB_URL", url)
    monkeypatch.setenv("PLANT_CODER_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("PLANT_CODER_DEMO_NOTES", str(tmp_path / "no-demo-notes.jsonl"))
    engine = make_engine(url)
    migrate(engine)
    with open_session(engine) as session:
        make_accounts(session, "alice")
        make_accounts(session, "root", role=Role.ADMIN)
    yield engine
    engine.dispose()


def new_session(path: Path = MAIN) -> AppTest:
    return AppTest.from_file(str(path), default_timeout=120)


def sign_in_form(at: AppTest, username: str, password: str) -> AppTest:
    """Fills in and submits the sign-in form."""
    at.text_input(key="sign_in_username").input(username)
    at.text_input(key="sign_in_password").input(password)
    return at.button[0].click().run()


def next_request(at: AppTest) -> AppTest:
    """The session's next page run. AppTest does not run the app again after the sign-in callback
    (the page the form was on is gone from the navigation), which a browser does: the next request
    is made as a new AppTest holding the session's state."""
    following = new_session()
    for key in (USERNAME_KEY, LAST_ACTIVITY_KEY, NOTICE_KEY, *DRAFT_KEYS):
        if key in at.session_state:
            following.session_state[key] = at.session_state[key]
    return following.run()


def test_a_new_session_sees_only_the_sign_in_page(app_db):
    at = new_session().run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Sign in"]
    assert not at.text_area  # no note box, no worklist
    at.query_params["note"] = "1"
    at.session_state["signed_in_username"] = None
    assert [t.value for t in at.run().title] == ["Sign in"]


def test_signing_in_opens_the_review_page_and_a_wrong_password_does_not(app_db):
    at = sign_in_form(new_session().run(), "alice", "wrong password!")
    assert any("Wrong username or password" in e.value for e in at.error)
    assert [t.value for t in at.title] == ["Sign in"] and USERNAME_KEY not in at.session_state
    at = sign_in_form(new_session().run(), "alice", PASSWORD)
    assert at.session_state[USERNAME_KEY] == "alice"
    assert not any(PASSWORD in str(v) for v in at.query_params.values())
    at = next_request(at)
    assert not at.exception and [t.value for t in at.title] == ["Review"]


def test_the_sign_in_page_says_when_the_account_is_locked(app_db):
    at = new_session().run()
    for attempt in range(accounts.MAX_FAILED_SIGN_INS):
        at = sign_in_form(at, "alice", f"guess number {attempt}")
        assert any("Wrong username or password" in e.value for e in at.error)
    at = sign_in_form(at, "alice", PASSWORD)
    assert any(plain("Too many failed sign-ins") in e.value for e in at.error)
    assert USERNAME_KEY not in at.session_state
    assert [t.value for t in at.title] == ["Sign in"]


def test_an_idle_session_is_signed_out_and_its_unsaved_note_comes_back(app_db):
    at = next_request(sign_in_form(new_session().run(), "alice", PASSWORD))
    at.text_area(key="review_paste").input("Pt with COPD, typed but not yet suggested.")
    at.session_state[LAST_ACTIVITY_KEY] = time.time() - 21 * 60  # 20 minutes is the default
    at.run()
    assert USERNAME_KEY not in at.session_state
    at = next_request(at)
    assert [t.value for t in at.title] == ["Sign in"]
    assert any("signed out after 20 minutes" in i.value for i in at.info)
    with open_session(app_db) as session:
        actions = [e.action for e in audit.events(session, ADMIN)]
    assert "session expired" in actions
    at = next_request(sign_in_form(at, "alice", PASSWORD))
    assert at.text_area(key="review_paste").value == "Pt with COPD, typed but not yet suggested."


def test_the_idle_time_is_configurable(app_db, monkeypatch):
    monkeypatch.setenv("PLANT_CODER_IDLE_MINUTES", "30")
    at = next_request(sign_in_form(new_session().run(), "alice", PASSWORD))
    at.session_state[LAST_ACTIVITY_KEY] = time.time() - 25 * 60
    assert [t.value for t in at.run().title] == ["Review"]
    at.session_state[LAST_ACTIVITY_KEY] = time.time() - 31 * 60
    assert USERNAME_KEY not in at.run().session_state


def test_coders_do_not_get_the_admin_pages_and_each_admin_page_refuses_them(app_db):
    at = next_request(sign_in_form(new_session().run(), "alice", PASSWORD))
    assert not at.exception and [t.value for t in at.title] == ["Review"]
    for page in ("users.py", "audit_log.py"):
        direct = new_session(PAGES / page)
        direct.session_state[USERNAME_KEY] = "alice"
        direct.session_state[LAST_ACTIVITY_KEY] = time.time()
        direct.run()
        assert any("needs the admin role" in e.value for e in direct.error), page
        assert not direct.dataframe  # nothing listed
    admin = (
        next_request(sign_in_form(new_session().run(), "root", PASSWORD)).switch_page("pages/users.py").run()
    )
    assert not admin.exception and [t.value for t in admin.title] == ["Users"]
    assert set(admin.dataframe[0].value["username"]) == {"alice", "root"}


def test_a_role_taken_away_applies_at_the_next_click(app_db):
    with open_session(app_db) as session:
        make_accounts(session, "bob", role=Role.ADMIN)
    at = next_request(sign_in_form(new_session().run(), "bob", PASSWORD)).switch_page("pages/users.py").run()
    assert [t.value for t in at.title] == ["Users"]
    with open_session(app_db) as session:
        accounts.update_account(session, ADMIN, "bob", role="coder")
    at.run()
    assert [t.value for t in at.title] != ["Users"] and not at.dataframe


def test_admin_creates_an_account_on_the_users_page(app_db):
    at = next_request(sign_in_form(new_session().run(), "root", PASSWORD)).switch_page("pages/users.py").run()
    at.text_input(key="users_new_username").input("carol")
    at.text_input(key="users_new_password").input(PASSWORD)
    at.radio(key="users_new_role").set_value("coder")
    at = at.button(key="FormSubmitter:users_create-Create").click().run()
    assert not at.exception and any("Created carol" in s.value for s in at.success)
    with open_session(app_db) as session:
        assert accounts.sign_in(session, "carol", PASSWORD) == as_coder("carol")
