"""Who the service tests act as: an admin, coders by name, and accounts made in a test's database."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.services import accounts
from app.services.auth import CurrentUser, Role

ADMIN = CurrentUser("admin", Role.ADMIN)
PASSWORD = "correct horse battery staple"


def as_coder(username: str) -> CurrentUser:
    return CurrentUser(username, Role.CODER)


def make_accounts(session: Session, *usernames: str, role: Role = Role.CODER) -> list[CurrentUser]:
    """Accounts (password PASSWORD) for notes to be assigned to and users to sign in as."""
    for username in usernames:
        accounts.create_user(session, ADMIN, username, PASSWORD, role)
    return [CurrentUser(username, role) for username in usernames]
