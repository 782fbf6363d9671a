"""The coders' corrections as training data: every submitted note at its submitted revision, labelled
with the codes accepted or added (rejected codes are negatives, by being absent), and the codes coders
corrected, i.e. rejected or added somewhere: the model was wrong about them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.services.auth import CurrentUser, Role, require_role
from app.services.decisions import export_records
from app.services.store import Note
from plant_core.corpus.records import Note as CorpusNote

CORRECTING_DECISIONS = ("rejected", "added")


@dataclass(frozen=True)
class Corrections:
    notes: list[CorpusNote]  # id = the note's external id, codes = its corrected labels
    corrected_codes: list[str]  # sorted


def collect(session: Session, user: CurrentUser) -> Corrections:
    """All submitted notes' corrected labels (an admin's view: every coder's submissions)."""
    require_role(user, Role.ADMIN)
    note_ids = list(
        session.scalars(select(Note.id).where(Note.submitted_revision.is_not(None)).order_by(Note.id))
    )
    records = export_records(session, user, note_ids)
    notes = [CorpusNote(id=r.external_id, text=r.text, codes=r.labels) for r in records]
    corrected = {c.code for r in records for c in r.codes if c.decision in CORRECTING_DECISIONS}
    return Corrections(notes=notes, corrected_codes=sorted(corrected))


def submitted_count(session: Session, user: CurrentUser) -> int:
    """How many notes a retraining job would learn from now."""
    require_role(user, Role.ADMIN)
    return (
        session.scalar(select(func.count()).select_from(Note).where(Note.submitted_revision.is_not(None)))
        or 0
    )
