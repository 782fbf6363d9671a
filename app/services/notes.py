"""The worklist: importing notes, listing and filtering them, assigning them and picking the next one.

Notes are keyed by an external id (the corpus's id, or a hash of a pasted text), so importing the same
file twice or pasting the same note again finds the note already there instead of copying it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import Session

from app.services.db import transactional
from app.services.store import Note, NoteStatus
from plant_core.corpus.records import Note as CorpusNote
from plant_core.corpus.records import iter_jsonl

PASTED_SOURCE = "pasted"
# Existing-id look-ups go in chunks so that a large import stays under SQL parameter limits.
_ID_CHUNK = 500


class NoteNotFoundError(LookupError):
    """No note has this id; it may have been opened from an old link or another database."""


class EmptyNoteError(ValueError):
    """A note must contain some text to be coded."""


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
def create_pasted_note(session: Session, text: str) -> Note:
    """The note for a pasted text: a new worklist entry, or the existing one if the same text was pasted."""
    if not text.strip():
        raise EmptyNoteError("Paste the text of a note first: the note is empty.")
    external_id = pasted_note_id(text)
    existing = session.scalar(select(Note).where(Note.external_id == external_id))
    if existing is not None:
        return existing
    note = Note(external_id=external_id, text=text, source=PASTED_SOURCE, imported_codes=[])
    session.add(note)
    session.flush()
    return note


@transactional
def import_notes(session: Session, records: Iterable[CorpusNote], source: str) -> ImportResult:
    """Adds the notes of a corpus to the worklist; notes whose id is already there are left as they are."""
    batch: dict[str, CorpusNote] = {}
    added: list[str] = []
    seen = 0
    for record in records:
        if not record.text.strip():
            raise EmptyNoteError(
                f"Note {record.id!r} in {source} has no text; fix or remove it and import again."
            )
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


def seed_demo_worklist(session: Session, demo_notes: Path) -> int:
    """Fills an empty worklist with the demo notes, so a fresh install has something to code."""
    if not demo_notes.is_file() or session.scalar(select(func.count(Note.id))):
        return 0
    return import_notes(session, iter_jsonl(demo_notes), source=f"demo:{demo_notes.name}").added


def get_note(session: Session, note_id: int) -> Note:
    note = session.get(Note, note_id)
    if note is None:
        raise NoteNotFoundError(f"There is no note with id {note_id}; it may be in another database.")
    return note


def find_note(session: Session, external_id: str) -> Note | None:
    return session.scalar(select(Note).where(Note.external_id == external_id))


def _filtered(statement: Select, note_filter: NoteFilter) -> Select:
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


def list_notes(session: Session, note_filter: NoteFilter = NoteFilter(), limit: int = 1000) -> list[NoteRow]:
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
    rows = session.execute(_filtered(statement, note_filter).limit(limit)).all()
    return [NoteRow(*row) for row in rows]


def filtered_note_ids(session: Session, note_filter: NoteFilter) -> list[int]:
    return list(session.scalars(_filtered(select(Note.id), note_filter).order_by(Note.id)))


def status_counts(session: Session) -> dict[str, int]:
    counts = dict(session.execute(select(Note.status, func.count(Note.id)).group_by(Note.status)).all())
    return {status.value: counts.get(status.value, 0) for status in NoteStatus}


def sources(session: Session) -> list[str]:
    return list(session.scalars(select(Note.source).distinct().order_by(Note.source)))


def assignees(session: Session) -> list[str]:
    return list(session.scalars(select(Note.assignee).where(Note.assignee.is_not(None)).distinct()))


@transactional
def assign_notes(session: Session, note_ids: Sequence[int], assignee: str | None) -> int:
    """Assigns the notes to a coder (None: to nobody); returns how many notes were changed."""
    assignee = (assignee or "").strip() or None
    notes = session.scalars(select(Note).where(Note.id.in_(list(note_ids)))).all()
    for note in notes:
        note.assignee = assignee
    return len(notes)


def next_note(session: Session, coder: str, after_note_id: int | None = None) -> Note | None:
    """The next note for `coder` in worklist order: unsubmitted, assigned to them (first) or to nobody,
    oldest first; after `after_note_id` when that note is in the queue (wrapping round), else the first."""
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
