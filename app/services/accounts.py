"""Accounts: creating users, signing in, changing passwords and roles.

Passwords are stored only as argon2id hashes (argon2-cffi) and never logged. Every sign-in try is kept
in `sign_in_attempts`; after `MAX_FAILED_SIGN_INS` failures in a row (within `LOCKOUT`) the account
refuses even the right password until the lock-out has passed or an admin sets a new password. No
account ships: the first admin is made by `python -m app.admin create-user`, or by `ensure_first_admin`
(which `make run` calls) with a random password printed once.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.services import audit
from app.services.audit import AuditAction
from app.services.auth import CurrentUser, PermissionDeniedError, Role, require_role
from app.services.db import transactional
from app.services.store import SignInAttempt, User, utc_now

MAX_FAILED_SIGN_INS = 10
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10
FIRST_ADMIN_USERNAME = "admin"
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}")
_hasher = PasswordHasher()  # argon2id with argon2-cffi's RFC 9106 low-memory defaults
# Verified against when the username is unknown, so that a wrong name takes as long as a wrong password.
_UNKNOWN_USER_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A username, password or role that cannot be used; the message says why."""


class SignInError(PermissionError):
    """Wrong username or password (which of the two is not said)."""


class LockedOutError(SignInError):
    """Too many failed sign-ins in a row for this username."""


@dataclass(frozen=True)
class Account:
    """What the Users page shows of an account (never its hash)."""

    username: str
    role: str
    active: bool
    created_at: datetime
    locked: bool


def _check_username(username: str) -> str:
    if not _USERNAME.fullmatch(username or ""):
        raise AccountError(
            f"{username!r} cannot be a username: use 1 to 100 letters, digits or . _ @ - "
            "(starting with a letter or digit)."
        )
    return username


def _check_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise AccountError(f"The password needs at least {MIN_PASSWORD_LENGTH} characters.")
    return password


def _check_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise AccountError(
            f"{role!r} is not a role; use one of {', '.join(r.value for r in Role)}."
        ) from None


def _user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


@transactional
def create_user(session: Session, actor: CurrentUser, username: str, password: str, role: str) -> User:
    """A new account (admins only)."""
    require_role(actor, Role.ADMIN)
    username, role = _check_username(username), _check_role(role)
    if _user(session, username) is not None:
        raise AccountError(f"There is already an account named {username}.")
    user = User(username=username, password_hash=_hasher.hash(_check_password(password)), role=role)
    session.add(user)
    session.flush()
    audit.record(session, actor, AuditAction.USER_CREATED, f"user {username}", {"role": role.value})
    return user


def ensure_first_admin(session: Session) -> str | None:
    """When the database has no account at all, creates `admin` with a random password and returns that
    password (to be printed once); otherwise returns None and changes nothing."""
    if session.scalar(select(func.count(User.id))):
        return None
    password = secrets.token_urlsafe(18)
    installer = CurrentUser("(first start)", Role.ADMIN)
    create_user(session, installer, FIRST_ADMIN_USERNAME, password, Role.ADMIN)
    return password


def _failures_in_a_row(session: Session, user: User | None, username: str) -> int:
    """Failed tries since the last success, the last password change and the start of the lock-out window."""
    since = utc_now() - LOCKOUT
    if user is not None:
        since = max(since, user.password_changed_at)
    last_success = session.scalar(
        select(func.max(SignInAttempt.attempted_at)).where(
            SignInAttempt.username == username, SignInAttempt.succeeded.is_(True)
        )
    )
    if last_success is not None:
        since = max(since, last_success)
    return session.scalar(
        select(func.count(SignInAttempt.id)).where(
            SignInAttempt.username == username,
            SignInAttempt.succeeded.is_(False),
            SignInAttempt.attempted_at > since,
        )
    )


def sign_in(session: Session, username: str, password: str) -> CurrentUser:
    """The signed-in user for a right username and password; SignInError or LockedOutError otherwise.
    Every try is recorded (and committed) whatever its outcome."""
    username = (username or "").strip()[:200]
    try:
        user = _user(session, username)
        if _failures_in_a_row(session, user, username) >= MAX_FAILED_SIGN_INS:
            _remember_attempt(session, username, user, succeeded=False, detail={"reason": "locked out"})
            session.commit()
            raise LockedOutError(
                f"Too many failed sign-ins for {username}: try again in {LOCKOUT.seconds // 60} minutes, "
                "or ask an admin to set a new password."
            )
        if not _password_matches(user, password) or not user.active:
            _remember_attempt(session, username, user, succeeded=False)
            session.commit()
            raise SignInError("Wrong username or password.")
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
        _remember_attempt(session, username, user, succeeded=True)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return CurrentUser(user.username, Role(user.role))


def _password_matches(user: User | None, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash if user is not None else _UNKNOWN_USER_HASH, password or "")
    except (VerificationError, InvalidHashError):
        return False


def _remember_attempt(
    session: Session, username: str, user: User | None, succeeded: bool, detail: dict | None = None
) -> None:
    session.add(SignInAttempt(username=username, succeeded=succeeded))
    target = f"user {username}"
    if user is None:
        audit.record_unknown_user(session, username, AuditAction.SIGN_IN_FAILED, target, detail)
    elif succeeded:
        audit.record(session, CurrentUser(user.username, Role(user.role)), AuditAction.SIGNED_IN, target)
    else:
        who = CurrentUser(user.username, Role(user.role))
        audit.record(session, who, AuditAction.SIGN_IN_FAILED, target, detail)


def signed_in_user(session: Session, username: str) -> CurrentUser | None:
    """The account behind a session as it is now: None once deactivated or deleted, and its current role,
    so that a change an admin makes applies at the user's next click."""
    user = _user(session, username)
    if user is None or not user.active:
        return None
    return CurrentUser(user.username, Role(user.role))


def list_accounts(session: Session, actor: CurrentUser) -> list[Account]:
    require_role(actor, Role.ADMIN)
    users = session.scalars(select(User).order_by(User.username)).all()
    return [
        Account(
            username=u.username,
            role=u.role,
            active=u.active,
            created_at=u.created_at,
            locked=_failures_in_a_row(session, u, u.username) >= MAX_FAILED_SIGN_INS,
        )
        for u in users
    ]


def _existing(session: Session, username: str) -> User:
    user = _user(session, username)
    if user is None:
        raise AccountError(f"There is no account named {username}.")
    return user


@transactional
def set_password(session: Session, actor: CurrentUser, username: str, password: str) -> None:
    """A new password for `username` (its owner, or an admin); it also lifts a lock-out."""
    if actor.username != username:
        require_role(actor, Role.ADMIN)
    user = _existing(session, username)
    user.password_hash = _hasher.hash(_check_password(password))
    user.password_changed_at = utc_now()
    audit.record(session, actor, AuditAction.USER_CHANGED, f"user {username}", {"changed": "password"})


@transactional
def update_account(
    session: Session, actor: CurrentUser, username: str, role: str | None = None, active: bool | None = None
) -> None:
    """Changes an account's role or switches it off (admins only); the last active admin stays one."""
    require_role(actor, Role.ADMIN)
    user = _existing(session, username)
    was_active_admin = user.active and user.role == Role.ADMIN.value
    changes: dict = {}
    if role is not None and _check_role(role) != user.role:
        changes["role"] = user.role = _check_role(role).value
    if active is not None and active != user.active:
        changes["active"] = user.active = active
    if not changes:
        return
    session.flush()
    admins_left = session.scalar(
        select(func.count(User.id)).where(User.role == Role.ADMIN.value, User.active.is_(True))
    )
    if was_active_admin and not admins_left:
        raise PermissionDeniedError(f"{username} is the last active admin; make another admin first.")
    audit.record(session, actor, AuditAction.USER_CHANGED, f"user {username}", changes)
