"""Unsaved input kept over a sign-out: what a coder had typed but not saved (a pasted note, a code
search, evidence words) is stored when an idle session is signed out and given back at the next sign-in.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.services.auth import CurrentUser, Role, require_role
from app.services.db import transactional
from app.services.store import Draft, utc_now


@transactional
def save_drafts(session: Session, user: CurrentUser, texts: Mapping[str, str]) -> int:
    """Keeps each non-blank text under its name, replacing an older draft of the same name."""
    require_role(user, Role.CODER)
    kept = 0
    for name, content in texts.items():
        if not content or not content.strip():
            continue
        draft = session.scalar(select(Draft).where(Draft.username == user.username, Draft.name == name))
        if draft is None:
            session.add(Draft(username=user.username, name=name, content=content))
        else:
            draft.content, draft.saved_at = content, utc_now()
        kept += 1
    return kept


@transactional
def take_drafts(session: Session, user: CurrentUser) -> dict[str, str]:
    """The user's drafts by name, removed from the database now that the page holds them again."""
    require_role(user, Role.CODER)
    drafts = session.scalars(select(Draft).where(Draft.username == user.username)).all()
    texts = {draft.name: draft.content for draft in drafts}
    session.execute(delete(Draft).where(Draft.username == user.username))
    return texts
