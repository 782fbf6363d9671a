"""A coder's decisions on a note: accept, reject, add, submit, revise, and the review state they give.

Every click is its own committed transaction, appended to `decisions`; the state of a note at a revision
is the newest decision per code up to that revision. Submission is refused while a suggestion is
undecided and when the page that asked for it was looking at an older state of the note.

Each public function takes the signed-in user, checks their role and their access to the note itself,
and records what they did in the audit log in the same transaction.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from typing import ParamSpec, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.services import audit
from app.services.audit import AuditAction
from app.services.auth import CurrentUser, Role, require_role
from app.services.db import transactional
from app.services.exporters import ExportCode, ExportNote
from app.services.notes import get_note, stored_note
from app.services.store import (
    Action,
    Decision,
    Note,
    NoteStatus,
    Submission,
    Suggestion,
    SuggestionRun,
    utc_now,
)
from app.services.suggestions import stored_latest_run
from plant_core import codes

# Notes per query when collecting an export, to stay under SQL parameter limits.
_EXPORT_CHUNK = 500
_CONFLICT_RETRIES = 10
P = ParamSpec("P")
R = TypeVar("R")


class NoteSubmittedError(RuntimeError):
    """The note is submitted; its decisions change only in a new revision (the Revise button)."""


class StaleNoteError(RuntimeError):
    """Someone changed the note after this page loaded it; reload it to see their changes first."""


class UndecidedSuggestionsError(RuntimeError):
    """A note cannot be submitted while some of its suggestions are neither accepted nor rejected."""

    def __init__(self, undecided: Sequence[str]):
        self.undecided = list(undecided)
        super().__init__(
            f"Decide every suggestion before submitting; still open: {', '.join(self.undecided)}"
        )


@dataclass(frozen=True)
class CodeRow:
    """One line of the review list: a suggested or added code and the newest decision on it."""

    code: str
    description: str
    probability: float | None  # None for a code the model did not suggest
    predicted: bool  # above the model's threshold: preselected
    suggestion: Suggestion | None
    action: str | None  # Action value, or None while undecided
    decided_by: str | None
    decided_at: datetime | None
    evidence_spans: list  # the coder's marked evidence for an added code: [[start, end], ...]

    @property
    def is_coded(self) -> bool:
        """Whether the code is among the note's labels under the current decisions."""
        return self.action in (Action.ACCEPTED, Action.ADDED)


@dataclass(frozen=True)
class ReviewState:
    note: Note
    run: SuggestionRun | None
    rows: list[CodeRow]  # suggestions by rank, then added codes in the order they were added

    @property
    def undecided(self) -> list[str]:
        return [row.code for row in self.rows if row.suggestion is not None and row.action is None]

    @property
    def coded(self) -> list[str]:
        return [row.code for row in self.rows if row.is_coded]

    @property
    def can_submit(self) -> bool:
        return self.run is not None and not self.undecided and self.note.status != NoteStatus.SUBMITTED


def latest_decisions(
    session: Session, user: CurrentUser, note_id: int, up_to_revision: int
) -> dict[str, Decision]:
    """The newest decision per code among the note's decisions up to a revision, in first-decided order."""
    get_note(session, user, note_id)
    return _latest_decisions(session, note_id, up_to_revision)


def _latest_decisions(session: Session, note_id: int, up_to_revision: int) -> dict[str, Decision]:
    decisions = session.scalars(
        select(Decision)
        .where(Decision.note_id == note_id, Decision.revision <= up_to_revision)
        .order_by(Decision.id)
    )
    newest: dict[str, Decision] = {}
    for decision in decisions:
        newest[decision.code] = decision
    return newest


def review_state(session: Session, user: CurrentUser, note_id: int) -> ReviewState:
    return _review_state(session, get_note(session, user, note_id))


def _review_state(session: Session, note: Note) -> ReviewState:
    note_id = note.id
    run = stored_latest_run(session, note_id)
    decided = _latest_decisions(session, note_id, note.revision)
    rows = []
    suggested_codes = set()
    for suggestion in run.suggestions if run is not None else []:
        suggested_codes.add(suggestion.code)
        rows.append(_row(suggestion.code, suggestion.description, suggestion, decided.get(suggestion.code)))
    # Codes added by the coder, or decided on an earlier model version's suggestions: still the note's.
    for code, decision in decided.items():
        if code not in suggested_codes:
            rows.append(_row(code, _description(code), None, decision))
    return ReviewState(note=note, run=run, rows=rows)


def _row(code: str, description: str, suggestion: Suggestion | None, decision: Decision | None) -> CodeRow:
    return CodeRow(
        code=code,
        description=description,
        probability=suggestion.probability if suggestion is not None else None,
        predicted=suggestion.predicted if suggestion is not None else False,
        suggestion=suggestion,
        action=decision.action if decision is not None else None,
        decided_by=decision.coder if decision is not None else None,
        decided_at=decision.decided_at if decision is not None else None,
        evidence_spans=list(decision.evidence_spans or []) if decision is not None else [],
    )


def _description(code: str) -> str:
    try:
        return codes.description(code)
    except ValueError:
        return ""


def _locked_note(session: Session, note_id: int) -> Note:
    # populate_existing: the access check may have loaded the row already; the locked read must win.
    note = session.scalar(
        select(Note).where(Note.id == note_id).with_for_update().execution_options(populate_existing=True)
    )
    return note if note is not None else stored_note(session, note_id)  # raises NoteNotFoundError


def _open_note(session: Session, user: CurrentUser, note_id: int, expected_revision: int) -> Note:
    """The note, locked for this transaction, if the user may change its decisions for `expected_revision`."""
    get_note(session, user, note_id)  # role and access, before the row lock is taken
    note = _locked_note(session, note_id)
    if note.status == NoteStatus.SUBMITTED:
        raise NoteSubmittedError(
            f"Note {note.external_id} is submitted (revision {note.revision}); press Revise to change it."
        )
    if note.revision != expected_revision:
        raise StaleNoteError(
            f"Note {note.external_id} is at revision {note.revision}, not {expected_revision}: "
            "it was revised elsewhere. Reload the note."
        )
    return note


def _retried_on_conflict(func: Callable[P, R]) -> Callable[P, R]:
    """A click that only appends a decision is tried again when another coder's click on the same note
    committed between its read and its write (SQLite has no row locks to queue them); whatever the
    other click did, `_open_note` checks the revision again. Submitting is never retried: a stale
    submission must be refused."""

    @wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(_CONFLICT_RETRIES):
            try:
                return func(*args, **kwargs)
            except StaleNoteError as e:
                if "at the same moment" not in str(e):
                    raise
            time.sleep(random.uniform(0, 0.005 * (attempt + 1)))  # out of step with the other click
        return func(*args, **kwargs)

    return run


@_retried_on_conflict
@transactional
def decide(
    session: Session, user: CurrentUser, note_id: int, code: str, action: Action, expected_revision: int
) -> Decision:
    """Accepts or rejects a code on the note (a suggestion, or a code decided on before)."""
    if action not in (Action.ACCEPTED, Action.REJECTED):
        raise ValueError(f"decide() accepts or rejects; use add_code() to add a code (got {action!r})")
    note = _open_note(session, user, note_id, expected_revision)
    prior = _latest_decisions(session, note_id, note.revision).get(code)
    suggestion = _current_suggestion(session, note_id, code) or (prior.suggestion if prior else None)
    if suggestion is None and prior is None:
        raise ValueError(f"{code} is neither suggested for nor added to note {note.external_id}")
    if suggestion is None and action == Action.ACCEPTED:
        action = Action.ADDED  # taking back the rejection of a code the coder had added
    spans = list(prior.evidence_spans or []) if prior is not None else []
    return _append(session, note, code, action, user, suggestion, spans)


def _current_suggestion(session: Session, note_id: int, code: str) -> Suggestion | None:
    run = stored_latest_run(session, note_id)
    return next((s for s in run.suggestions if s.code == code), None) if run is not None else None


@_retried_on_conflict
@transactional
def add_code(
    session: Session,
    user: CurrentUser,
    note_id: int,
    code: str,
    expected_revision: int,
    evidence_spans: Sequence[tuple[int, int]] = (),
) -> Decision:
    """Adds a code the model missed (or accepts it, if it is among the suggestions after all).

    `evidence_spans` are character spans of the note the coder marked as the code's evidence.
    """
    code = codes.normalize(code)
    note = _open_note(session, user, note_id, expected_revision)
    for start, end in evidence_spans:
        if not 0 <= start < end <= len(note.text):
            raise ValueError(f"Evidence span {start}-{end} is outside the note ({len(note.text)} characters)")
    suggestion = _current_suggestion(session, note_id, code)
    action = Action.ACCEPTED if suggestion is not None else Action.ADDED
    spans = [[int(start), int(end)] for start, end in evidence_spans]
    return _append(session, note, code, action, user, suggestion, spans)


def _lock_for_writing(session: Session, note: Note) -> None:
    """On SQLite, which ignores FOR UPDATE: takes the database's write lock just before writing (a write
    that changes nothing), then reads the note again and checks it may still change. A second coder's
    click on the same note then waits for this one instead of failing at its end, and the lock is held
    for the writes only, so a worker's progress writes are not starved."""
    if session.get_bind().dialect.name != "sqlite":
        return  # PostgreSQL: _open_note's SELECT ... FOR UPDATE holds the row already
    revision = note.revision
    session.execute(update(Note.__table__).where(Note.id == note.id).values(id=Note.id))
    session.refresh(note)
    if note.status == NoteStatus.SUBMITTED or note.revision != revision:
        raise StaleNoteError(
            f"Note {note.external_id} was submitted or revised elsewhere at this moment; reload the note."
        )


def _append(
    session: Session,
    note: Note,
    code: str,
    action: Action,
    user: CurrentUser,
    suggestion: Suggestion | None,
    evidence_spans: list,
) -> Decision:
    _lock_for_writing(session, note)
    decision = Decision(
        note_id=note.id,
        revision=note.revision,
        code=code,
        action=action,
        coder=user.username,
        suggestion_id=suggestion.id if suggestion is not None else None,
        evidence_spans=evidence_spans,
    )
    session.add(decision)
    note.status = NoteStatus.IN_PROGRESS
    note.updated_at = utc_now()  # always an UPDATE of the note, so its lock_version moves with each decision
    _flush_note(session, note)
    audit.record(
        session, user, AuditAction.DECIDED, f"note {note.id}",
        {"code": code, "action": str(action), "revision": note.revision},
    )  # fmt: skip
    return decision


def _flush_note(session: Session, note: Note) -> None:
    external_id = note.external_id  # read now: a failed flush leaves the session unable to load it
    try:
        session.flush()
    except StaleDataError:
        raise StaleNoteError(
            f"Note {external_id} was changed elsewhere at the same moment; try again."
        ) from None


@_retried_on_conflict
@transactional
def decide_all(
    session: Session, user: CurrentUser, note_id: int, action: Action, expected_revision: int, predicted: bool
) -> int:
    """Accepts or rejects every undecided suggestion above (`predicted`) or below the threshold at once."""
    note = _open_note(session, user, note_id, expected_revision)
    run = stored_latest_run(session, note_id)
    decided = _latest_decisions(session, note_id, note.revision)
    chosen = [
        s for s in (run.suggestions if run else []) if s.code not in decided and s.predicted == predicted
    ]
    for suggestion in chosen:
        _append(session, note, suggestion.code, action, user, suggestion, [])
    return len(chosen)


@transactional
def submit(session: Session, user: CurrentUser, note_id: int, expected_lock_version: int) -> Submission:
    """Submits the note's current revision once every suggestion is decided.

    `expected_lock_version` is the note's `lock_version` when the page showed it: if the note changed
    since, the coder has not seen what they would submit, so StaleNoteError asks them to reload.
    """
    note = _open_note(session, user, note_id, expected_revision=stored_note(session, note_id).revision)
    if note.lock_version != expected_lock_version:
        raise StaleNoteError(
            f"Note {note.external_id} changed since this page showed it; reload to see the changes, then submit."
        )
    state = _review_state(session, note)
    if state.run is None:
        raise UndecidedSuggestionsError(["(ask for suggestions first)"])
    if state.undecided:
        raise UndecidedSuggestionsError(state.undecided)
    submission = Submission(note_id=note.id, revision=note.revision, coder=user.username)
    session.add(submission)
    note.status = NoteStatus.SUBMITTED
    note.submitted_revision = note.revision
    _flush_note(session, note)
    audit.record(session, user, AuditAction.SUBMITTED, f"note {note.id}", {"revision": note.revision})
    return submission


@transactional
def revise(session: Session, user: CurrentUser, note_id: int) -> Note:
    """Reopens a submitted note as a new revision that starts from the submitted decisions."""
    get_note(session, user, note_id)
    note = _locked_note(session, note_id)
    if note.status != NoteStatus.SUBMITTED:
        raise ValueError(f"Note {note.external_id} is not submitted; change its decisions directly.")
    note.revision += 1
    note.status = NoteStatus.IN_PROGRESS
    _flush_note(session, note)
    audit.record(session, user, AuditAction.REVISED, f"note {note.id}", {"revision": note.revision})
    return note


def submissions(session: Session, user: CurrentUser, note_id: int) -> list[Submission]:
    get_note(session, user, note_id)
    return list(
        session.scalars(select(Submission).where(Submission.note_id == note_id).order_by(Submission.id))
    )


def history(session: Session, user: CurrentUser, note_id: int) -> list[Decision]:
    """Every decision ever recorded on the note, oldest first."""
    get_note(session, user, note_id)
    return list(session.scalars(select(Decision).where(Decision.note_id == note_id).order_by(Decision.id)))


def export_records(session: Session, user: CurrentUser, note_ids: Sequence[int]) -> list[ExportNote]:
    """The submitted notes among `note_ids` at their last submitted revision, ready for the exporters.
    A coder exports their own work: the notes whose last submission is theirs; an admin every note."""
    require_role(user, Role.CODER)
    records = []
    for chunk_start in range(0, len(note_ids), _EXPORT_CHUNK):
        chunk = list(note_ids[chunk_start : chunk_start + _EXPORT_CHUNK])
        notes = session.scalars(
            select(Note).where(Note.id.in_(chunk), Note.submitted_revision.is_not(None)).order_by(Note.id)
        ).all()
        submitted = {
            (s.note_id, s.revision): s
            for s in session.scalars(select(Submission).where(Submission.note_id.in_(chunk)))
        }
        decisions_by_note: dict[int, list[Decision]] = {}
        for decision in session.scalars(
            select(Decision).where(Decision.note_id.in_(chunk)).order_by(Decision.id)
        ):
            decisions_by_note.setdefault(decision.note_id, []).append(decision)
        for note in notes:
            newest: dict[str, Decision] = {}
            for decision in decisions_by_note.get(note.id, []):
                if decision.revision <= note.submitted_revision:
                    newest[decision.code] = decision
            submission = submitted[(note.id, note.submitted_revision)]
            if not user.is_admin and submission.coder != user.username:
                continue
            records.append(
                ExportNote(
                    external_id=note.external_id,
                    subject_id=note.subject_id,
                    hadm_id=note.hadm_id,
                    text=note.text,
                    revision=note.submitted_revision,
                    submitted_by=submission.coder,
                    submitted_at=submission.submitted_at,
                    codes=[_export_code(decision) for decision in newest.values()],
                )
            )
    return records


def _export_code(decision: Decision) -> ExportCode:
    suggestion = decision.suggestion
    return ExportCode(
        code=decision.code,
        description=suggestion.description if suggestion is not None else _description(decision.code),
        decision=decision.action,
        coder=decision.coder,
        decided_at=decision.decided_at,
        model_version=suggestion.run.model_version.version if suggestion is not None else None,
        probability=suggestion.probability if suggestion is not None else None,
        evidence_spans=list(decision.evidence_spans or []),
    )
