"""Corrected labels out of the app: CSV, JSON lines, MIMIC CAML CSV and a FHIR R4B Bundle of Conditions.

Pure functions on `ExportNote` rows (built by `decisions.export_records`). Spreadsheet formats defuse
cells that a spreadsheet would run as a formula; the FHIR Bundle is validated by `fhir.resources` and
then checked for what that structural validation lets through (status codes, system URI, codes).
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fhir.resources.R4B.bundle import Bundle

from plant_core import codes

ICD10CM_SYSTEM = "http://hl7.org/fhir/sid/icd-10-cm"
CLINICAL_STATUS_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION_STATUS_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-category"
CLINICAL_STATUS_CODES = frozenset({"active", "recurrence", "relapse", "inactive", "remission", "resolved"})
VERIFICATION_STATUS_CODES = frozenset(
    {"unconfirmed", "provisional", "differential", "confirmed", "refuted", "entered-in-error"}
)
CATEGORY_CODES = frozenset({"problem-list-item", "encounter-diagnosis"})
NOTE_ID_SYSTEM = "urn:plant-coder:note-id"
SUBJECT_ID_SYSTEM = "urn:plant-coder:subject-id"
HADM_ID_SYSTEM = "urn:plant-coder:hadm-id"
CONDITION_ID_SYSTEM = "urn:plant-coder:condition"
# Fixed namespace: the same note, revision and code always get the same Bundle entry URL.
_ENTRY_NAMESPACE = uuid.UUID("3b0d4f0e-8a54-4a3e-9f2c-6d2f1f4c9a01")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

CSV_COLUMNS = (
    "note_id",
    "subject_id",
    "hadm_id",
    "revision",
    "code",
    "description",
    "decision",
    "coder",
    "decided_at",
    "model_version",
    "probability",
    "submitted_by",
    "submitted_at",
)
CAML_COLUMNS = ("SUBJECT_ID", "HADM_ID", "TEXT", "LABELS", "length")


class FhirExportError(ValueError):
    """The FHIR Bundle would be invalid; the message lists every problem found."""


@dataclass(frozen=True)
class ExportCode:
    code: str
    description: str
    decision: str  # "accepted" | "rejected" | "added"
    coder: str
    decided_at: datetime
    model_version: str | None  # the model that suggested it; None for a code the coder added
    probability: float | None
    evidence_spans: list = field(default_factory=list)  # the coder's marked spans for an added code

    @property
    def is_label(self) -> bool:
        return self.decision in ("accepted", "added")


@dataclass(frozen=True)
class ExportNote:
    """A submitted note at its submitted revision, with the newest decision per code."""

    external_id: str
    subject_id: str | None
    hadm_id: str | None
    text: str
    revision: int
    submitted_by: str
    submitted_at: datetime
    codes: list[ExportCode]

    @property
    def labels(self) -> list[str]:
        return [c.code for c in self.codes if c.is_label]


def neutralize_cell(value: object) -> object:
    """A string a spreadsheet would evaluate gets a leading apostrophe; everything else is kept."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([neutralize_cell(value) for value in row])
    return buffer.getvalue().encode("utf-8")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def to_csv(notes: Sequence[ExportNote]) -> bytes:
    """One row per decided code (accepted, rejected or added), with who decided and which model suggested."""
    rows = (
        (
            note.external_id,
            note.subject_id or "",
            note.hadm_id or "",
            note.revision,
            code.code,
            code.description,
            code.decision,
            code.coder,
            _iso(code.decided_at),
            code.model_version or "",
            "" if code.probability is None else f"{code.probability:.4f}",
            note.submitted_by,
            _iso(note.submitted_at),
        )
        for note in notes
        for code in note.codes
    )
    return _csv_bytes(CSV_COLUMNS, rows)


def to_jsonl(notes: Sequence[ExportNote]) -> bytes:
    """One note per line in the canonical corpus format (id, text, codes, evidence) plus the audit trail,
    so `plant_core.corpus.records.iter_jsonl` reads it back as training data."""
    lines = []
    for note in notes:
        row = {
            "id": note.external_id,
            "text": note.text,
            "codes": note.labels,
            "evidence": {c.code: c.evidence_spans for c in note.codes if c.is_label and c.evidence_spans},
            "subject_id": note.subject_id,
            "hadm_id": note.hadm_id,
            "revision": note.revision,
            "submitted_by": note.submitted_by,
            "submitted_at": _iso(note.submitted_at),
            "decisions": [
                {
                    "code": c.code,
                    "description": c.description,
                    "decision": c.decision,
                    "coder": c.coder,
                    "decided_at": _iso(c.decided_at),
                    "model_version": c.model_version,
                    "probability": c.probability,
                }
                for c in note.codes
            ],
        }
        lines.append(json.dumps(row, ensure_ascii=False))
    return ("\n".join(lines) + "\n" if lines else "").encode("utf-8")


def to_caml_csv(notes: Sequence[ExportNote]) -> bytes:
    """MIMIC CAML's `SUBJECT_ID,HADM_ID,TEXT,LABELS,length`: labels ';'-separated, length in words.

    Notes without MIMIC ids use their note id in both id columns, so every row stays traceable.
    """
    rows = (
        (
            note.subject_id or note.external_id,
            note.hadm_id or note.external_id,
            note.text,
            ";".join(note.labels),
            len(note.text.split()),
        )
        for note in notes
    )
    return _csv_bytes(CAML_COLUMNS, rows)


def _identifier_reference(system: str, value: str, display: str) -> dict:
    return {"identifier": {"system": system, "value": value}, "display": display}


def _condition(note: ExportNote, code: ExportCode) -> dict:
    if code.model_version is not None:
        origin = f"suggested by model {code.model_version}" + (
            f" (probability {code.probability:.2f})" if code.probability is not None else ""
        )
    else:
        origin = "added by the coder (not suggested by the model)"
    subject = (
        _identifier_reference(SUBJECT_ID_SYSTEM, note.subject_id, f"Subject {note.subject_id}")
        if note.subject_id
        else _identifier_reference(NOTE_ID_SYSTEM, note.external_id, f"Patient of note {note.external_id}")
    )
    condition = {
        "resourceType": "Condition",
        "identifier": [
            {"system": CONDITION_ID_SYSTEM, "value": f"{note.external_id}/r{note.revision}/{code.code}"}
        ],
        "clinicalStatus": {"coding": [{"system": CLINICAL_STATUS_SYSTEM, "code": "active"}]},
        "verificationStatus": {"coding": [{"system": VERIFICATION_STATUS_SYSTEM, "code": "confirmed"}]},
        "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": "encounter-diagnosis"}]}],
        "code": {
            # FHIR strings may not be empty: an unknown description leaves `display` out.
            "coding": [
                {
                    "system": ICD10CM_SYSTEM,
                    "code": code.code,
                    **({"display": code.description} if code.description else {}),
                }
            ],
            "text": code.description or code.code,
        },
        "subject": subject,
        "recordedDate": _iso(code.decided_at),
        "recorder": {"display": code.coder},
        "note": [
            {
                "authorString": code.coder,
                "time": _iso(code.decided_at),
                "text": f"Code {code.decision} by {code.coder} in revision {note.revision}, {origin}; "
                f"note submitted by {note.submitted_by}.",
            }
        ],
    }
    if note.hadm_id:
        condition["encounter"] = _identifier_reference(
            HADM_ID_SYSTEM, note.hadm_id, f"Admission {note.hadm_id}"
        )
    return condition


def to_fhir_bundle(notes: Sequence[ExportNote], now: datetime | None = None) -> dict:
    """A `collection` Bundle with one Condition per label (accepted or added code) of every note."""
    entries = [
        {
            "fullUrl": "urn:uuid:"
            + str(uuid.uuid5(_ENTRY_NAMESPACE, f"{note.external_id}|{note.revision}|{code.code}")),
            "resource": _condition(note, code),
        }
        for note in notes
        for code in note.codes
        if code.is_label
    ]
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": _iso(now or datetime.now(UTC)),
        "entry": entries,
    }
    problems = fhir_problems(bundle)
    if problems:
        raise FhirExportError("The FHIR export is invalid:\n- " + "\n- ".join(problems))
    return Bundle.model_validate(bundle).model_dump(mode="json", exclude_none=True)


def to_fhir_json(notes: Sequence[ExportNote], now: datetime | None = None) -> bytes:
    return json.dumps(to_fhir_bundle(notes, now), ensure_ascii=False, indent=2).encode("utf-8")


def fhir_problems(bundle: dict) -> list[str]:
    """Every problem of a Bundle of Conditions: first `fhir.resources`' R4B structure validation, then
    what that lets through: status codes outside their code systems, a wrong code system URI, a
    Condition without a subject, ICD-10-CM codes that do not exist."""
    try:
        Bundle.model_validate(bundle)
    except ValueError as e:  # pydantic's ValidationError is a ValueError
        return [f"not a valid R4B Bundle: {e}"]
    problems = []
    for index, entry in enumerate(bundle.get("entry") or []):
        resource = entry.get("resource") or {}
        where = f"entry {index} ({resource.get('resourceType', '?')})"
        if resource.get("resourceType") != "Condition":
            problems.append(f"{where}: expected a Condition")
            continue
        problems += _coded_problems(
            where,
            "clinicalStatus",
            resource.get("clinicalStatus"),
            CLINICAL_STATUS_SYSTEM,
            CLINICAL_STATUS_CODES,
        )
        problems += _coded_problems(
            where,
            "verificationStatus",
            resource.get("verificationStatus"),
            VERIFICATION_STATUS_SYSTEM,
            VERIFICATION_STATUS_CODES,
        )
        for category in resource.get("category") or []:
            problems += _coded_problems(where, "category", category, CATEGORY_SYSTEM, CATEGORY_CODES)
        subject = resource.get("subject") or {}
        if not (subject.get("reference") or (subject.get("identifier") or {}).get("value")):
            problems.append(f"{where}: subject must reference the patient (a reference or an identifier)")
        problems += _icd10cm_problems(where, resource.get("code") or {})
    return problems


def _coded_problems(
    where: str, name: str, concept: dict | None, system: str, allowed: frozenset[str]
) -> list[str]:
    if concept is None:
        return [f"{where}: {name} is missing"]
    codings = concept.get("coding") or []
    if not codings:
        return [f"{where}: {name} has no coding"]
    problems = []
    for coding in codings:
        if coding.get("system") != system:
            problems.append(f"{where}: {name} system must be {system}, got {coding.get('system')!r}")
        elif coding.get("code") not in allowed:
            problems.append(f"{where}: {name} code {coding.get('code')!r} is not in {system}")
    return problems


def _icd10cm_problems(where: str, concept: dict) -> list[str]:
    codings = [c for c in concept.get("coding") or [] if c.get("system") == ICD10CM_SYSTEM]
    if not codings:
        systems = [c.get("system") for c in concept.get("coding") or []]
        return [f"{where}: code needs a coding with system {ICD10CM_SYSTEM}, got {systems}"]
    problems = []
    for coding in codings:
        value = coding.get("code") or ""
        if not codes.is_valid(value) or codes.normalize(value) != value:
            problems.append(f"{where}: {value!r} is not an ICD-10-CM code in its dotted form (e.g. 'E11.9')")
    return problems
