"""Importing a corpus file into the worklist, for admins, from an upload or a path on the server.

What the browser's file picker allows is only a convenience: the server checks an upload again here (its
name, size and bytes) before any loader reads it. ICD-10-CM corpora (our JSONL and CSV formats) have
every code validated, and an unknown or malformed code refuses the whole file with the codes named;
MIMIC-style formats (CAML, xcube, Edin) may hold ICD-9 codes, which are kept as given and reported.
A bad file imports nothing, and leaves every note already saved as it was.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from app.services import notes
from app.services.auth import CurrentUser, Role, require_role
from app.services.notes import ImportResult
from plant_core import codes
from plant_core.corpus.loaders import FORMATS, detect_format, load_corpus
from plant_core.corpus.records import CorpusFormatError

UPLOAD_SUFFIXES = (".jsonl", ".json", ".ndjson", ".csv", ".feather", ".parquet")
TEXT_SUFFIXES = (".jsonl", ".json", ".ndjson", ".csv")
MAX_UPLOAD_BYTES = 500 * 1024 * 1024
ICD10CM_FORMATS = ("jsonl", "csv")
_SHOWN_CODES = 10


class ImportFailedError(ValueError):
    """Nothing was imported; the message says what is wrong with the file and where."""


@dataclass(frozen=True)
class ImportReport:
    result: ImportResult
    # Codes kept as given that are not ICD-10-CM (a MIMIC-III corpus's ICD-9 codes, say).
    not_icd10cm: list[str] = field(default_factory=list)


def check_upload(file_name: str, data: bytes) -> str:
    """The upload's bare file name when its name, size and bytes fit a corpus; ImportFailedError if not."""
    name = Path(file_name.replace("\\", "/")).name  # never a path: "../../x.csv" is "x.csv"
    suffix = Path(name).suffix.lower()
    if not name or suffix not in UPLOAD_SUFFIXES:
        raise ImportFailedError(
            f"{file_name!r} is not a corpus file: upload one of {', '.join(UPLOAD_SUFFIXES)}."
        )
    if not data:
        raise ImportFailedError(f"{name} is empty.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImportFailedError(
            f"{name} is larger than {MAX_UPLOAD_BYTES // 2**20} MB; give its path instead."
        )
    if suffix in TEXT_SUFFIXES:
        if b"\x00" in data[:65536]:
            raise ImportFailedError(f"{name} holds binary data (NUL bytes), not {suffix[1:]} text.")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as e:
            line = data[: e.start].count(b"\n") + 1
            raise ImportFailedError(
                f"{name}, line {line}: bytes that are not UTF-8 ({data[e.start : e.start + 4]!r}); "
                "save the file as UTF-8 and upload it again."
            ) from None
    return name


def import_upload(
    session: Session, user: CurrentUser, file_name: str, data: bytes, corpus_format: str = "auto"
) -> ImportReport:
    """Imports an uploaded corpus file (admins only), checked on the server first."""
    require_role(user, Role.ADMIN)
    name = check_upload(file_name, data)
    with tempfile.TemporaryDirectory() as folder:
        # The file's own name: the loaders read the format and a CAML file's split from it.
        path = Path(folder) / name
        path.write_bytes(data)
        return import_path(session, user, path, corpus_format, source=name)


def import_path(
    session: Session, user: CurrentUser, path: Path, corpus_format: str = "auto", source: str | None = None
) -> ImportReport:
    """Imports a corpus file or folder on the server (admins only); all of it, or nothing."""
    require_role(user, Role.ADMIN)
    source = source or str(path)
    if corpus_format != "auto" and corpus_format not in FORMATS:
        raise ImportFailedError(f"{corpus_format!r} is not a format; use one of auto, {', '.join(FORMATS)}.")
    try:
        if not path.exists():
            raise ImportFailedError(f"{path} does not exist on the server.")
        detected = detect_format(path) if corpus_format == "auto" else corpus_format
        dataset = load_corpus(path, format=detected, validate_codes=detected in ICD10CM_FORMATS)
        records = [note for split in dataset.values() for note in split]
        _refuse_duplicate_ids(records, source)
        result = notes.import_notes(session, user, records, source=source)
    except ImportFailedError:
        raise
    except (CorpusFormatError, ValueError, OSError) as e:
        raise ImportFailedError(f"Nothing was imported: {e}") from None
    kept = sorted({code for note in records for code in note.codes if not codes.is_valid(code)})
    return ImportReport(result=result, not_icd10cm=kept)


def _refuse_duplicate_ids(records: list, source: str) -> None:
    """A note id twice in one file (in two splits, say) would silently keep only the first note."""
    counts = Counter(str(record.id) for record in records)
    repeated = sorted(note_id for note_id, count in counts.items() if count > 1)
    if repeated:
        shown = ", ".join(repeated[:_SHOWN_CODES]) + (" ..." if len(repeated) > _SHOWN_CODES else "")
        raise ImportFailedError(
            f"Nothing was imported: {len(repeated)} note id(s) occur more than once in {source}: {shown}."
        )


def describe(report: ImportReport, source: str) -> str:
    """The outcome in one line for the page and the command line."""
    text = (
        f"Imported {report.result.added} note(s) from {source}; "
        f"{report.result.already_there} were already in the worklist."
    )
    if report.not_icd10cm:
        shown = ", ".join(report.not_icd10cm[:_SHOWN_CODES])
        more = " ..." if len(report.not_icd10cm) > _SHOWN_CODES else ""
        text += f" {len(report.not_icd10cm)} code(s) are not ICD-10-CM and were kept as given (ICD-9?): {shown}{more}."
    return text
