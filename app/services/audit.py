"""The audit log: who viewed, decided, exported, imported, retrained, promoted or administered what, and
when. Rows are only ever appended (the database refuses UPDATE and DELETE on the table); only admins
read them.

Other services call `record` inside their own transaction, so an action and its audit row are committed
together or not at all.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.services.auth import CurrentUser, Role, require_role
from app.services.exporters import neutralize_cell
from app.services.store import AuditEvent

_TARGET_LENGTH = 500


class AuditAction(StrEnum):
    SIGNED_IN = "signed in"
    SIGN_IN_FAILED = "sign-in failed"
    SIGNED_OUT = "signed out"
    SESSION_EXPIRED = "session expired"
    VIEWED = "viewed"
    DECIDED = "decided"
    SUBMITTED = "submitted"
    REVISED = "revised"
    ASSIGNED = "assigned"
    EXPORTED = "exported"
    IMPORTED = "imported"
    RETRAINED = "retrained"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled back"
    USER_CREATED = "user created"
    USER_CHANGED = "user changed"
    BACKED_UP = "backed up"
    AUDIT_EXPORTED = "audit log exported"


@dataclass(frozen=True)
class AuditFilter:
    username: str | None = None
    action: str | None = None
    since: datetime | None = None


def record(
    session: Session, user: CurrentUser, action: AuditAction | str, target: str, detail: dict | None = None
) -> AuditEvent:
    """Adds an audit row to the caller's transaction (the caller commits it with the action itself)."""
    return _append(session, user.username, user.role.value, action, target, detail)


def record_unknown_user(
    session: Session, username: str, action: AuditAction | str, target: str, detail: dict | None = None
) -> AuditEvent:
    """An audit row for a name that is no account (a failed sign-in with a mistyped or guessed name)."""
    return _append(session, username, "", action, target, detail)


def _append(
    session: Session, username: str, role: str, action: AuditAction | str, target: str, detail: dict | None
) -> AuditEvent:
    event = AuditEvent(
        username=username[:200],
        role=role,
        action=str(action),
        target=str(target)[:_TARGET_LENGTH],
        detail=detail,
    )
    session.add(event)
    session.flush()
    return event


def record_now(
    session: Session, user: CurrentUser, action: AuditAction | str, target: str, detail: dict | None = None
) -> AuditEvent:
    """`record` committed on its own: for reads (views, exports) that have no transaction of their own."""
    try:
        event = record(session, user, action, target, detail)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return event


def events(
    session: Session, user: CurrentUser, audit_filter: AuditFilter = AuditFilter(), limit: int = 5000
) -> list[AuditEvent]:
    """The newest events first (admins only)."""
    require_role(user, Role.ADMIN)
    statement = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if audit_filter.username:
        statement = statement.where(AuditEvent.username == audit_filter.username)
    if audit_filter.action:
        statement = statement.where(AuditEvent.action == audit_filter.action)
    if audit_filter.since is not None:
        statement = statement.where(AuditEvent.at >= audit_filter.since)
    return list(session.scalars(statement))


AUDIT_CSV_COLUMNS = ("id", "at", "username", "role", "action", "target", "detail")


def to_csv(rows: Sequence[AuditEvent]) -> bytes:
    """The events as CSV; cells a spreadsheet would run as a formula are defused as in every export."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(AUDIT_CSV_COLUMNS)
    for event in rows:
        values = (event.id, event.at.isoformat(), event.username, event.role, event.action, event.target,
                  "" if event.detail is None else json.dumps(event.detail, ensure_ascii=False))  # fmt: skip
        writer.writerow([neutralize_cell(value) for value in values])
    return buffer.getvalue().encode("utf-8")


def export_csv(session: Session, user: CurrentUser, audit_filter: AuditFilter = AuditFilter()) -> bytes:
    """The filtered log as CSV, itself recorded in the log (admins only)."""
    rows = events(session, user, audit_filter, limit=1_000_000)
    record_now(session, user, AuditAction.AUDIT_EXPORTED, "audit log", {"rows": len(rows)})
    return to_csv(rows)
