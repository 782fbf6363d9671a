"""The worklist: importing notes, listing and filtering them, assigning them and picking the next one.

Notes are keyed by an external id (the corpus's id, or a hash of a pasted text), so importing the same
file twice or pasting the same note again finds the note already there instead of copying it.

Every function a page calls takes the signed-in user and checks it here, whatever the page showed: a
coder sees and opens the notes assigned to them or to nobody; importing and assigning are for admins.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import Session

from app.services import audit
from app.services.audit import AuditAction
from app.services.auth import CurrentUser, PermissionDeniedError, Role, require_role
from app.services.db import transactional
from app.services.store import Note, NoteStatus, User
from plant_core.corpus.records import Note as CorpusNote
from plant_core.corpus.records import iter_jsonl

PASTED_SOURCE = "pasted"
# Existing-id look-ups go in chunks so that a large import stays under SQL parameter limits.
_ID_CHUNK = 500
# About 1 MB of text: the model reads a note of any length in windows, but a page showing, tinting and
# storing a larger paste would crawl; larger notes are refused with this limit named.
MAX_NOTE_CHARACTERS = 1_048_576


class NoteNotFoundError(LookupError):
    """No note has this id; it may have been opened from an old link or another database."""


class EmptyNoteError(ValueError):
    """A note must contain some text to be coded."""


class NoteTooLongError(ValueError):
    """A note longer than MAX_NOTE_CHARACTERS; the message says how to split it."""


def check_note_text(text: str, where: str = "The note") -> str:
    """`text` when it can be coded; EmptyNoteError or NoteTooLongError with a message naming `where`."""
    if not text.strip():
        raise EmptyNoteError(f"{where} is empty: it needs some text to be coded.")
    if "\x00" in text:
        raise ValueError(f"{where} holds NUL characters: it looks like a binary file, not text.")
    if len(text) > MAX_NOTE_CHARACTERS:
        raise NoteTooLongError(
            f"{where} has {len(text):,} characters; the limit is {MAX_NOTE_CHARACTERS:,} (about 1 MB). "
            "Split it into several notes."
        )
    return text


def can_open(user: CurrentUser, note: Note) -> bool:
    """Admins open any note; a coder the notes assigned to them or to nobody."""
    return user.is_admin or note.assignee in (None, user.username)


@dataclass(frozen=True)
class NoteFilter:
    """What the Worklist and Export pages narrow the notes to; empty fields do not filter."""

    statuses: Sequence[str] = ()
    assignee: str | None = None  # "" means notes that nobody is assigned to
    source: str | None = None
    text_contains: str = ""


@dataclass(frozen=True)
class NoteRow:
    """A worklist line: everything about a note but its text."""

    id: int
    external_id: str
    status: str
    assignee: str | None
    revision: int
    source: str
    characters: int
    updated_at: datetime


@dataclass(frozen=True)
class ImportResult:
    added: int
    already_there: int
    external_ids: list[str] = field(default_factory=list)


def pasted_note_id(text: str) -> str:
    return "pasted-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@transactional
def create_pasted_note(session: Session, user: CurrentUser, text: str) -> Note:
    """The note for a pasted text: a new worklist entry, or the existing one if the same text was pasted."""
    require_role(user, Role.CODER)
    if not text.strip():
        raise EmptyNoteError("Paste the text of a note first: the note is empty.")
    check_note_text(text, "The pasted note")
    external_id = pasted_note_id(text)
    existing = session.scalar(select(Note).where(Note.external_id == external_id))
    if existing is not None:
        _check_access(user, existing)
        return existing
    note = Note(external_id=external_id, text=text, source=PASTED_SOURCE, imported_codes=[])
    session.add(note)
    session.flush()
    return note


@transactional
def import_notes(
    session: Session, user: CurrentUser, records: Iterable[CorpusNote], source: str
) -> ImportResult:
    """Adds the notes of a corpus to the worklist (admins only); notes whose id is already there are left
    as they are. All or nothing: a bad note anywhere imports none of the file."""
    require_role(user, Role.ADMIN)
    result = _import(session, records, source)
    audit.record(
        session,
        user,
        AuditAction.IMPORTED,
        f"source {source}",
        {"added": result.added, "already_there": result.already_there},
    )
    return result


def _import(session: Session, records: Iterable[CorpusNote], source: str) -> ImportResult:
    batch: dict[str, CorpusNote] = {}
    added: list[str] = []
    seen = 0
    for record in records:
        check_note_text(record.text, f"Note {record.id!r} in {source}")
        seen += 1
        batch.setdefault(str(record.id), record)
        if len(batch) >= _ID_CHUNK:
            added += _insert_new(session, batch, source)
            batch = {}
    added += _insert_new(session, batch, source)
    return ImportResult(added=len(added), already_there=seen - len(added), external_ids=added)


def _insert_new(session: Session, batch: dict[str, CorpusNote], source: str) -> list[str]:
    if not batch:
        return []
    existing = set(session.scalars(select(Note.external_id).where(Note.external_id.in_(batch))))
    new_ids = [external_id for external_id in batch if external_id not in existing]
    for external_id in new_ids:
        record = batch[external_id]
        session.add(
            Note(
                external_id=external_id,
                subject_id=_optional_str(getattr(record, "subject_id", None)),
                hadm_id=_optional_str(getattr(record, "hadm_id", None)),
                text=record.text,
                source=source,
                imported_codes=list(record.codes),
            )
        )
    session.flush()
    return new_ids


def _optional_str(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


@transactional
def seed_demo_worklist(session: Session, demo_notes: Path) -> int:
    """Fills an empty worklist with the demo notes, so a fresh install has something to code. Run by the
    app itself at start-up, not on anyone's behalf."""
    if not demo_notes.is_file() or session.scalar(select(func.count(Note.id))):
        return 0
    return _import(session, iter_jsonl(demo_notes), source=f"demo:{demo_notes.name}").added


def stored_note(session: Session, note_id: int) -> Note:
    """The note by its database id, for services that have checked the user already."""
    note = session.get(Note, note_id)
    if note is None:
        raise NoteNotFoundError(f"There is no note with id {note_id}; it may be in another database.")
    return note


def _check_access(user: CurrentUser, note: Note) -> Note:
    require_role(user, Role.CODER)
    if not can_open(user, note):
        # Same message whatever the note holds: an id typed into the URL learns nothing about it.
        raise PermissionDeniedError(f"Note {note.id} is assigned to another coder; ask an admin for it.")
    return note


def get_note(session: Session, user: CurrentUser, note_id: int) -> Note:
    """The note, if `user` may open it (PermissionDeniedError otherwise)."""
    return _check_access(user, stored_note(session, note_id))


def view_note(session: Session, user: CurrentUser, note_id: int) -> Note:
    """`get_note`, recorded in the audit log as a view: the Review page calls it once per note opened."""
    note = get_note(session, user, note_id)
    audit.record_now(session, user, AuditAction.VIEWED, f"note {note.id}", {"external_id": note.external_id})
    return note


def find_note(session: Session, user: CurrentUser, external_id: str) -> Note | None:
    note = session.scalar(select(Note).where(Note.external_id == external_id))
    return _check_access(user, note) if note is not None else None


def _visible(statement: Select, user: CurrentUser) -> Select:
    require_role(user, Role.CODER)
    if user.is_admin:
        return statement
    return statement.where(or_(Note.assignee == user.username, Note.assignee.is_(None)))


def _filtered(statement: Select, user: CurrentUser, note_filter: NoteFilter) -> Select:
    statement = _visible(statement, user)
    if note_filter.statuses:
        statement = statement.where(Note.status.in_(list(note_filter.statuses)))
    if note_filter.assignee == "":
        statement = statement.where(Note.assignee.is_(None))
    elif note_filter.assignee is not None:
        statement = statement.where(Note.assignee == note_filter.assignee)
    if note_filter.source:
        statement = statement.where(Note.source == note_filter.source)
    if note_filter.text_contains.strip():
        needle = f"%{note_filter.text_contains.strip()}%"
        statement = statement.where(or_(Note.text.ilike(needle), Note.external_id.ilike(needle)))
    return statement


def list_notes(
    session: Session, user: CurrentUser, note_filter: NoteFilter = NoteFilter(), limit: int = 1000
) -> list[NoteRow]:
    statement = select(
        Note.id,
        Note.external_id,
        Note.status,
        Note.assignee,
        Note.revision,
        Note.source,
        func.length(Note.text),
        Note.updated_at,
    ).order_by(Note.id)
    rows = session.execute(_filtered(statement, user, note_filter).limit(limit)).all()
    return [NoteRow(*row) for row in rows]


def filtered_note_ids(session: Session, user: CurrentUser, note_filter: NoteFilter) -> list[int]:
    return list(session.scalars(_filtered(select(Note.id), user, note_filter).order_by(Note.id)))


def status_counts(session: Session, user: CurrentUser) -> dict[str, int]:
    statement = _visible(select(Note.status, func.count(Note.id)), user).group_by(Note.status)
    counts = dict(session.execute(statement).all())
    return {status.value: counts.get(status.value, 0) for status in NoteStatus}


def sources(session: Session, user: CurrentUser) -> list[str]:
    return list(session.scalars(_visible(select(Note.source), user).distinct().order_by(Note.source)))


def assignees(session: Session, user: CurrentUser) -> list[str]:
    statement = _visible(select(Note.assignee), user).where(Note.assignee.is_not(None)).distinct()
    return list(session.scalars(statement))


@transactional
def assign_notes(session: Session, user: CurrentUser, note_ids: Sequence[int], assignee: str | None) -> int:
    """Assigns the notes to an account (None: to nobody; admins only); returns how many were changed."""
    require_role(user, Role.ADMIN)
    assignee = (assignee or "").strip() or None
    if assignee is not None and session.scalar(select(User.id).where(User.username == assignee)) is None:
        raise ValueError(f"There is no account named {assignee}; create it on the Users page first.")
    notes = session.scalars(select(Note).where(Note.id.in_(list(note_ids)))).all()
    for note in notes:
        note.assignee = assignee
    audit.record(
        session, user, AuditAction.ASSIGNED, f"{len(notes)} note(s)",
        {"note_ids": [note.id for note in notes], "assignee": assignee},
    )  # fmt: skip
    return len(notes)


def next_note(session: Session, user: CurrentUser, after_note_id: int | None = None) -> Note | None:
    """The next note for the user in worklist order: unsubmitted, assigned to them (first) or to nobody,
    oldest first; after `after_note_id` when that note is in the queue (wrapping round), else the first."""
    require_role(user, Role.CODER)
    coder = user.username
    queue = list(
        session.scalars(
            select(Note.id)
            .where(Note.status != NoteStatus.SUBMITTED, or_(Note.assignee == coder, Note.assignee.is_(None)))
            .order_by(case((Note.assignee == coder, 0), else_=1), Note.id)
        )
    )
    if after_note_id in queue:
        queue = queue[queue.index(after_note_id) + 1 :] + queue[: queue.index(after_note_id)]
    return session.get(Note, queue[0]) if queue else None
