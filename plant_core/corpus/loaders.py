"""Read coded-note corpora in the formats MIMIC users already have, and write our corpora back in them.

Formats: the canonical JSONL directory, CAML/MultiResCNN/LAAT CSVs, Edin et al.'s feather/parquet table and
split file, the PLANT authors' xcube CSV, and plain CSV/JSONL. Every loader returns the same `Dataset` and
fails with a `CorpusFormatError` that names the file, the line (text formats) and what to change.
No MIMIC data ships with the project: these functions read the files a credentialed user already has.
"""

from __future__ import annotations

import csv
import hashlib
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as parquet

from plant_core.corpus.records import SPLITS, CorpusFormatError, Dataset, Note, iter_json_objects, iter_jsonl

FORMATS = ("jsonl", "caml", "edin", "xcube", "csv")
DEFAULT_SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
CAML_COLUMNS = ["SUBJECT_ID", "HADM_ID", "TEXT", "LABELS", "length"]
XCUBE_COLUMNS = ["subject_id", "hadm_id", "text", "labels", "length", "is_valid", "split"]

# Split names found in the wild (Edin and xcube's MIMIC-IV files say "val") mapped to ours.
_SPLIT_ALIASES = {
    "train": "train", "training": "train",
    "dev": "dev", "val": "dev", "valid": "dev", "validation": "dev",
    "test": "test",
}
# Characters that never occur inside an ICD code: finding one in a label means the labels were joined
# with a separator other than the one the file is read with.
_SEPARATOR_SUSPECTS = (",", ";", "|", " ", "\t")
_ARROW_SUFFIXES = (".feather", ".parquet")


@dataclass
class _Rows:
    """Notes read from one file in file order, with their splits and where each came from."""

    notes: list[Note]
    splits: list[str]
    locate: Callable[[int], str]  # note index -> "file:line" or "file, row N"; only run for error messages
    separator: str | None  # the separator labels were joined with, None where codes came as lists


def load_corpus(
    path: str | Path,
    format: str = "auto",
    *,
    text_column: str | None = None,
    codes_column: str | None = None,
    id_column: str | None = None,
    split_column: str | None = None,
    label_separator: str | None = None,
    subset: str | None = None,
    split_fractions: tuple[float, float, float] | None = None,
    validate_codes: bool = False,
) -> Dataset:
    """Loads a corpus into {"train"|"dev"|"test": [Note, ...]} (splits absent from the files are absent).

    format: "jsonl", "caml", "edin", "xcube", "csv" or "auto" (`detect_format`). Column options override
    each format's own names (CAML: HADM_ID/TEXT/LABELS; xcube: hadm_id or _id/text/labels/split; Edin:
    _id/text/target, e.g. codes_column="icd10_diag" keeps the ICD-10-CM diagnoses and drops the ICD-10-PCS
    procedures that Edin's "target" also holds; csv and JSONL files: id/text/codes/split). A csv or JSONL
    file without ids numbers its notes "1", "2", ... in file order.
    label_separator: how codes are joined in one field (default ";"); lists need none.
    subset: CAML only, which files to read: "full" (default) -> train_full.csv..., "50" -> train_50.csv...
    split_fractions: csv and JSONL files without a split column put every note in "train"; pass (train, dev,
    test) fractions, e.g. DEFAULT_SPLIT_FRACTIONS, for a deterministic split instead: notes are ranked by a
    hash of their id, so a note keeps its split whatever the row order and when notes are added.
    xcube files: the "split" column decides (train, dev or val, test); files with only "is_valid" put
    is_valid rows in "test" (xcube's held-out set) and the others in "train".
    Edin tables: notes are joined to the split file on the id; notes the split file does not list are left
    out, as Edin's own pipeline does.
    validate_codes: check every code (and distractor code) as ICD-10-CM with `plant_core.codes.normalize`
    and store the normalised form; unknown codes are reported with their notes' ids. ICD-9 corpora
    (MIMIC-III, CAML) are loaded without it: their label sets are opaque strings.
    """
    path = Path(path)
    format = detect_format(path) if format == "auto" else format
    if format not in FORMATS:
        raise ValueError(f"unknown corpus format {format!r}; expected one of {', '.join(FORMATS)} or 'auto'")
    if subset is not None and format != "caml":
        raise ValueError(f"subset= only applies to the CAML format, not {format!r}")
    if split_fractions is not None:
        if format in ("caml", "xcube", "edin"):
            raise ValueError(f"split_fractions= does not apply to the {format!r} format, which carries its splits")
        _check_fractions(split_fractions)
    if split_column is not None and format == "caml":
        raise ValueError("split_column= does not apply to the CAML format: each split is its own file")
    columns = {"text_column": text_column, "codes_column": codes_column, "id_column": id_column,
               "split_column": split_column}
    separator = label_separator or ";"

    if format == "jsonl" and path.is_dir():
        if any(columns.values()) or split_fractions is not None:
            raise ValueError(
                f"{path} is a canonical JSONL directory (fixed field names, one file per split); column and "
                "split options only apply to a single JSONL file"
            )
        sources = _load_jsonl_dir(path)
    elif format == "jsonl":
        sources = [_load_jsonl_file(path, **columns, separator=separator, split_fractions=split_fractions)]
    elif format == "caml":
        sources = _load_caml(path, subset or "full", id_column or "HADM_ID", text_column or "TEXT",
                             codes_column or "LABELS", separator)
    elif format == "xcube":
        sources = [_load_xcube(path, id_column, text_column or "text", codes_column or "labels", split_column,
                               separator)]
    elif format == "edin":
        sources = [_load_edin(path, id_column or "_id", text_column or "text", codes_column or "target",
                              split_column or "split", separator)]
    else:
        sources = [_load_plain_csv(path, **columns, separator=separator, split_fractions=split_fractions)]
    for rows in sources:
        _check_rows(rows)
    dataset: Dataset = {}
    for rows in sources:
        for note, split in zip(rows.notes, rows.splits, strict=True):
            dataset.setdefault(split, []).append(note)
    dataset = {split: dataset[split] for split in SPLITS if split in dataset}
    return _normalize_codes(dataset, path) if validate_codes else dataset


def detect_format(path: str | Path) -> str:
    """Names the format of a corpus path from the files present, first rule that matches.

    A directory: train.jsonl/dev.jsonl/test.jsonl -> "jsonl"; <split>_<subset>.csv -> "caml"; a .feather or
    .parquet table -> "edin". A file: .jsonl -> "jsonl"; .feather/.parquet -> "edin"; a .csv by its header:
    HADM_ID, TEXT, LABELS -> "caml"; text, labels, hadm_id or _id, and split or is_valid -> "xcube"; else "csv".
    """
    path = Path(path)
    if path.is_dir():
        names = sorted(p.name for p in path.iterdir())
        if any(f"{split}.jsonl" in names for split in SPLITS):
            return "jsonl"
        if any(re.fullmatch(r"(train|dev|test)_[^.]+\.csv", name) for name in names):
            return "caml"
        if any(name.endswith(_ARROW_SUFFIXES) for name in names):
            return "edin"
        raise CorpusFormatError(
            f"{path}: cannot tell the corpus format from the files here ({', '.join(names[:10]) or 'none'}); "
            "expected train.jsonl/dev.jsonl/test.jsonl (jsonl), train_full.csv/dev_full.csv/test_full.csv "
            "(caml), or a .feather/.parquet table with its split file (edin); or pass format="
        )
    if not path.exists():
        raise CorpusFormatError(f"{path}: no such file or directory")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if suffix in _ARROW_SUFFIXES:
        return "edin"
    if suffix == ".csv":
        header = set(_read_csv(path, header_only=True).columns)
        if {"HADM_ID", "TEXT", "LABELS"} <= header:
            return "caml"
        if {"text", "labels"} <= header and header & {"hadm_id", "_id"} and header & {"split", "is_valid"}:
            return "xcube"
        return "csv"
    raise CorpusFormatError(f"{path}: cannot tell the corpus format from the suffix {suffix!r}; pass format=")


# ---- canonical and plain JSONL ---------------------------------------------------------------------


def _load_jsonl_dir(path: Path) -> list[_Rows]:
    files = [(split, path / f"{split}.jsonl") for split in SPLITS if (path / f"{split}.jsonl").is_file()]
    if not files:
        raise CorpusFormatError(f"{path}: no train.jsonl, dev.jsonl or test.jsonl here")
    sources = []
    for split, file in files:
        notes = list(iter_jsonl(file))
        if not notes:
            raise CorpusFormatError(f"{file}: the file is empty")
        sources.append(_Rows(notes, [split] * len(notes), _jsonl_locator(file), None))
    return sources


def _load_jsonl_file(
    path: Path,
    *,
    text_column: str | None,
    codes_column: str | None,
    id_column: str | None,
    split_column: str | None,
    separator: str,
    split_fractions: tuple[float, float, float] | None,
) -> _Rows:
    text_column, codes_column = text_column or "text", codes_column or "codes"
    lines, rows = [], []
    for line_no, row in iter_json_objects(path):
        lines.append(line_no)
        rows.append(row)
    if not rows:
        raise CorpusFormatError(f"{path}: the file is empty")

    def locate(index: int) -> str:
        return f"{path}:{lines[index]}"

    id_column = id_column or ("id" if "id" in rows[0] else None)
    split_column = split_column or ("split" if "split" in rows[0] else None)
    notes, splits = [], []
    for index, row in enumerate(rows):
        for option, name in (("text_column", text_column), ("codes_column", codes_column),
                             ("id_column", id_column), ("split_column", split_column)):
            if name is not None and name not in row:
                raise _missing(locate(index), name, list(row), option, "field")
        text, codes = row[text_column], row[codes_column]
        if not isinstance(text, str):
            raise CorpusFormatError(f"{locate(index)}: field {text_column!r} must be a string, not {text!r}")
        if isinstance(codes, str):
            codes = _split_labels(codes, separator)
        elif not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise CorpusFormatError(
                f"{locate(index)}: field {codes_column!r} must be a list of codes or a {separator!r}-joined "
                f"string, not {codes!r}"
            )
        note_id = str(row[id_column]) if id_column else str(index + 1)
        try:
            # Note.from_json keeps evidence and distractors when the row is in the canonical layout.
            notes.append(Note.from_json({**row, "id": note_id, "text": text, "codes": codes}))
        except (TypeError, ValueError) as e:
            raise CorpusFormatError(f"{locate(index)}: malformed 'evidence' or 'negated' field ({e})") from None
        if split_column:
            splits.append(_our_split(str(row[split_column]), locate, index))
    if not split_column:
        splits = _assign_splits([n.id for n in notes], split_fractions)
    elif split_fractions is not None:
        raise ValueError(f"{path} has a split field {split_column!r}; split_fractions= only applies without one")
    return _Rows(notes, splits, locate, separator)


def _jsonl_locator(path: Path) -> Callable[[int], str]:
    """iter_jsonl skips blank lines, so note k is on the k-th non-blank line."""

    def locate(index: int) -> str:
        with open(path, "rb") as f:
            non_blank = (line_no for line_no, raw in enumerate(f, start=1) if raw.strip())
            return f"{path}:{next(line for k, line in enumerate(non_blank) if k == index)}"

    return locate


# ---- CSV formats: CAML, xcube, plain ---------------------------------------------------------------


def _load_caml(path: Path, subset: str, id_column: str, text_column: str, codes_column: str,
               separator: str) -> list[_Rows]:
    if path.is_file():  # one CAML file, e.g. test_50.csv: its name says the split
        split = path.name.split("_", 1)[0]
        if split not in SPLITS:
            raise CorpusFormatError(f"{path}: a CAML file is named <train|dev|test>_<subset>.csv")
        files = [(split, path)]
    else:
        files = [(split, path / f"{split}_{subset}.csv") for split in SPLITS]
        files = [(split, file) for split, file in files if file.is_file()]
        if not files:
            found = sorted(p.name for p in path.glob("*.csv")) if path.is_dir() else []
            raise CorpusFormatError(
                f"{path}: no train_{subset}.csv, dev_{subset}.csv or test_{subset}.csv here (CSV files found: "
                f"{', '.join(found) or 'none'}); pass subset='50' for the train_50.csv files"
            )
    sources = []
    for split, file in files:
        frame = _read_csv(file)
        locate = _csv_locator(file)
        ids = _column(file, frame, id_column, "id_column")
        texts = _column(file, frame, text_column, "text_column")
        labels = _column(file, frame, codes_column, "codes_column")
        notes = _notes(ids, texts, labels, separator)
        sources.append(_Rows(notes, [split] * len(notes), locate, separator))
    return sources


def _load_xcube(path: Path, id_column: str | None, text_column: str, codes_column: str,
                split_column: str | None, separator: str) -> _Rows:
    frame = _read_csv(path)
    locate = _csv_locator(path)
    # xcube's MIMIC-III files key notes by hadm_id, its MIMIC-IV files by Edin's _id.
    id_column = id_column or ("_id" if "_id" in frame.columns and "hadm_id" not in frame.columns else "hadm_id")
    ids = _column(path, frame, id_column, "id_column")
    texts = _column(path, frame, text_column, "text_column")
    labels = _column(path, frame, codes_column, "codes_column")
    if split_column or "split" in frame.columns:
        raw_splits = _column(path, frame, split_column or "split", "split_column")
        splits = [_our_split(value, locate, index) for index, value in enumerate(raw_splits)]
    elif "is_valid" in frame.columns:
        splits = ["test" if v.strip().lower() in ("true", "1") else "train" for v in frame["is_valid"]]
    else:
        raise CorpusFormatError(
            f"{path}: an xcube file needs a 'split' or an 'is_valid' column; columns found: "
            f"{', '.join(frame.columns)}"
        )
    notes = _notes(ids, texts, labels, separator)
    return _Rows(notes, splits, locate, separator)


def _load_plain_csv(
    path: Path,
    *,
    text_column: str | None,
    codes_column: str | None,
    id_column: str | None,
    split_column: str | None,
    separator: str,
    split_fractions: tuple[float, float, float] | None,
) -> _Rows:
    frame = _read_csv(path)
    locate = _csv_locator(path)
    texts = _column(path, frame, text_column or "text", "text_column")
    labels = _column(path, frame, codes_column or "codes", "codes_column")
    id_column = id_column or ("id" if "id" in frame.columns else None)
    ids = _column(path, frame, id_column, "id_column") if id_column else [str(i + 1) for i in range(len(frame))]
    notes = _notes(ids, texts, labels, separator)
    split_column = split_column or ("split" if "split" in frame.columns else None)
    if split_column is None:
        return _Rows(notes, _assign_splits(ids, split_fractions), locate, separator)
    if split_fractions is not None:
        raise ValueError(f"{path} has a split column {split_column!r}; split_fractions= only applies without one")
    raw_splits = _column(path, frame, split_column, "split_column")
    return _Rows(notes, [_our_split(v, locate, i) for i, v in enumerate(raw_splits)], locate, separator)


def _notes(ids: list[str], texts: list[str], labels: list[str], separator: str) -> list[Note]:
    return [Note(id=i, text=t, codes=_split_labels(raw, separator)) for i, t, raw in zip(ids, texts, labels, strict=True)]


def _read_csv(path: Path, header_only: bool = False) -> pd.DataFrame:
    """Reads every field as a string ("" for empty); malformed files raise with the file and line."""
    if not path.is_file():
        raise CorpusFormatError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            # pandas only warns (and drops data) when a row has more fields than the header.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, index_col=False,
                                encoding="utf-8", nrows=0 if header_only else None)
    except pd.errors.EmptyDataError:
        raise CorpusFormatError(f"{path}: the file is empty") from None
    except UnicodeDecodeError:
        line_no, byte = _first_non_utf8_line(path)
        raise CorpusFormatError(f"{path}:{line_no}: not UTF-8 (byte {byte} of the line); save it as UTF-8") from None
    except (pd.errors.ParserWarning, pd.errors.ParserError) as e:
        # pandas counts records, not lines, in its messages: find the line a text editor would show.
        line_no = _first_overlong_record(path)
        if line_no is None:
            raise CorpusFormatError(f"{path}: not a well-formed CSV file ({e})") from None
        raise CorpusFormatError(
            f"{path}:{line_no}: more fields than the header has (is a text with a comma missing its quotes?)"
        ) from None
    if frame.empty and not header_only:
        raise CorpusFormatError(f"{path}: the file has a header ({', '.join(frame.columns)}) but no notes")
    return frame


def _column(path: Path, frame: pd.DataFrame, name: str, option: str) -> list[str]:
    if name not in frame.columns:
        raise _missing(str(path), name, list(frame.columns), option)
    return frame[name].tolist()


def _csv_records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Yields (first line, fields) for each non-blank CSV record, header included, the way pandas splits them."""
    previous_limit = csv.field_size_limit(2**31 - 1)  # clinical notes outgrow the 128 KiB default
    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            reader = csv.reader(f)
            start = 1
            for fields in reader:
                if fields:
                    yield start, fields
                start = reader.line_num + 1
    finally:
        csv.field_size_limit(previous_limit)


def _csv_locator(path: Path) -> Callable[[int], str]:
    def locate(index: int) -> str:
        # Record 0 is the header, so data row `index` is record index + 1.
        line_no = next(line for k, (line, _) in enumerate(_csv_records(path)) if k == index + 1)
        return f"{path}:{line_no}"

    return locate


def _first_overlong_record(path: Path) -> int | None:
    records = _csv_records(path)
    _, header = next(records)
    return next((line for line, fields in records if len(fields) > len(header)), None)


def _first_non_utf8_line(path: Path) -> tuple[int, int]:
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as e:
                return line_no, e.start
    raise AssertionError(f"{path} decoded as UTF-8 line by line but not as a whole")


# ---- Edin et al. feather/parquet -------------------------------------------------------------------


def _load_edin(path: Path, id_column: str, text_column: str, codes_column: str, split_column: str,
               separator: str) -> _Rows:
    data_file, split_file = _edin_files(path)
    table = _read_arrow(data_file)
    for name, option in ((id_column, "id_column"), (text_column, "text_column"), (codes_column, "codes_column")):
        _require_arrow_column(data_file, table, name, option)
    ids = [str(v) for v in table.column(id_column).to_pylist()]
    texts = [v or "" for v in table.column(text_column).to_pylist()]
    codes = table.column(codes_column).to_pylist()

    if split_file is None:
        if split_column not in table.column_names:
            raise CorpusFormatError(
                f"{data_file}: no split file next to it (expected {data_file.stem}_split{data_file.suffix} with "
                f"columns {id_column} and {split_column}) and no {split_column!r} column in the table"
            )
        split_of = dict(zip(ids, table.column(split_column).to_pylist(), strict=True))
        split_where = data_file
    else:
        splits_table = _read_arrow(split_file)
        _require_arrow_column(split_file, splits_table, id_column, "id_column")
        _require_arrow_column(split_file, splits_table, split_column, "split_column")
        split_ids = [str(v) for v in splits_table.column(id_column).to_pylist()]
        split_of = {}
        for row, (note_id, split) in enumerate(zip(split_ids, splits_table.column(split_column).to_pylist(), strict=True), 1):
            if note_id in split_of:
                raise CorpusFormatError(f"{split_file}, row {row}: id {note_id} is listed twice")
            split_of[note_id] = split
        split_where = split_file

    kept = [row for row, note_id in enumerate(ids) if note_id in split_of]
    if not kept:
        raise CorpusFormatError(f"{split_where}: lists none of the ids in {data_file}; is it that table's split file?")

    def locate(index: int) -> str:
        return f"{data_file}, row {kept[index] + 1}"

    notes, splits = [], []
    for index, row in enumerate(kept):
        value = codes[row]
        note_codes = _split_labels(value, separator) if isinstance(value, str) else [str(c) for c in value or []]
        notes.append(Note(id=ids[row], text=texts[row], codes=note_codes))
        splits.append(_our_split(str(split_of[ids[row]]), locate, index))
    return _Rows(notes, splits, locate, None)


def _edin_files(path: Path) -> tuple[Path, Path | None]:
    """The data table and its split file (None when the table has a split column of its own)."""
    if path.is_dir():
        tables = sorted(p for p in path.iterdir() if p.suffix in _ARROW_SUFFIXES)
        # Edin's *_split(s) files assign splits; *_train_subset_* files are smaller alternatives to them.
        data_files = [p for p in tables if not re.search(r"_splits?$|_subset_", p.stem)]
        if len(data_files) != 1:
            raise CorpusFormatError(
                f"{path}: expected one data table next to its split file, found "
                f"{', '.join(p.name for p in data_files) or 'none'}; pass the data table's path instead"
            )
        data_file = data_files[0]
    elif path.is_file():
        data_file = path
    else:
        raise CorpusFormatError(f"{path}: no such file or directory")
    candidates = [data_file.with_name(f"{data_file.stem}{tail}{suffix}")
                  for tail in ("_split", "_splits") for suffix in _ARROW_SUFFIXES]
    return data_file, next((p for p in candidates if p.is_file()), None)


def _read_arrow(path: Path) -> pa.Table:
    try:
        table = parquet.read_table(path) if path.suffix == ".parquet" else feather.read_table(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise CorpusFormatError(f"{path}: not a readable {path.suffix[1:]} file ({e})") from None
    if table.num_rows == 0:
        raise CorpusFormatError(f"{path}: the table is empty")
    return table


def _require_arrow_column(path: Path, table: pa.Table, name: str, option: str) -> None:
    if name not in table.column_names:
        raise _missing(str(path), name, table.column_names, option)


# ---- checks shared by every format -----------------------------------------------------------------


def _check_rows(rows: _Rows) -> None:
    """Empty texts, labels joined with the wrong separator, and ids repeated within a split."""
    first_index: dict[tuple[str, str], int] = {}
    for index, (note, split) in enumerate(zip(rows.notes, rows.splits, strict=True)):
        if not note.text.strip():
            raise CorpusFormatError(f"{rows.locate(index)}: note {note.id!r} has an empty text")
        for code in note.codes:
            suspect = next((s for s in _SEPARATOR_SUSPECTS if s in code), None)
            if suspect is None:
                continue
            if rows.separator is None:
                raise CorpusFormatError(
                    f"{rows.locate(index)}: label {code!r} contains {suspect!r}; give one code per list item"
                )
            raise CorpusFormatError(
                f"{rows.locate(index)}: label {code!r} contains {suspect!r}: the labels look joined with "
                f"{suspect!r}, but this file is read with {rows.separator!r}; pass label_separator={suspect!r} "
                "if that is how the file is written"
            )
        key = (split, note.id)
        if key in first_index:
            raise CorpusFormatError(
                f"{rows.locate(index)}: duplicate id {note.id!r} in the {split} split (first at "
                f"{rows.locate(first_index[key])})"
            )
        first_index[key] = index


def _split_labels(raw: str, separator: str) -> list[str]:
    return [label.strip() for label in raw.split(separator) if label.strip()]


def _our_split(value: str, locate: Callable[[int], str], index: int) -> str:
    split = _SPLIT_ALIASES.get(value.strip().lower())
    if split is None:
        raise CorpusFormatError(f"{locate(index)}: unknown split {value!r}; expected train, dev (or val) or test")
    return split


def _missing(where: str, name: str, found: list[str], option: str, noun: str = "column") -> CorpusFormatError:
    close = [other for other in found if other.lower() == name.lower()]
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return CorpusFormatError(
        f"{where}: missing {noun} {name!r}{hint} (pass {option}= to read another {noun}); {noun}s found: "
        f"{', '.join(found)}"
    )


def _check_fractions(fractions: tuple[float, float, float]) -> None:
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"split_fractions must be three non-negative (train, dev, test) fractions summing to 1, "
                         f"not {fractions!r}")


def _assign_splits(ids: list[str], fractions: tuple[float, float, float] | None) -> list[str]:
    if fractions is None:
        return ["train"] * len(ids)
    rank = sorted(range(len(ids)), key=lambda i: hashlib.sha256(ids[i].encode("utf-8")).hexdigest())
    n_train = round(fractions[0] * len(ids))
    n_dev = round(fractions[1] * len(ids))
    splits = [""] * len(ids)
    for position, index in enumerate(rank):
        splits[index] = "train" if position < n_train else "dev" if position < n_train + n_dev else "test"
    return splits


def _normalize_codes(dataset: Dataset, path: Path) -> Dataset:
    # Imported here: the code tables load on first use, and ICD-9 corpora never need them.
    from plant_core.codes import InvalidCodeError, UnknownCodeError, normalize

    normal: dict[str, str] = {}
    bad: dict[str, list[str]] = {}

    def check(code: str, note_id: str) -> str:
        if code not in normal and code not in bad:
            try:
                normal[code] = normalize(code)
            except (InvalidCodeError, UnknownCodeError):
                bad[code] = []
        if code in bad:
            bad[code].append(note_id)
            return code
        return normal[code]

    for notes in dataset.values():
        for note in notes:
            # Two spellings of one code ('E119', 'E11.9') become one code with the spans of both.
            note.codes = list(dict.fromkeys(check(code, note.id) for code in note.codes))
            evidence: dict[str, list[tuple[int, int]]] = {}
            for code, spans in note.evidence.items():
                evidence.setdefault(check(code, note.id), []).extend(spans)
            note.evidence = evidence
            for distractor in note.negated:
                distractor.code = check(distractor.code, note.id)
    if bad:
        listed = "; ".join(f"{code!r} (notes {_few(sorted(set(ids)))})" for code, ids in sorted(bad.items())[:20])
        raise CorpusFormatError(
            f"{path}: {len(bad)} codes are not ICD-10-CM: {listed}{' ...' if len(bad) > 20 else ''}. ICD-9 "
            "corpora such as MIMIC-III are loaded without validate_codes=True"
        )
    return dataset


def _few(ids: list[str], shown: int = 5) -> str:
    more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
    return ", ".join(ids[:shown]) + more


# ---- writers ---------------------------------------------------------------------------------------


def write_caml(dataset: Dataset, out_dir: str | Path, subset: str = "full") -> list[Path]:
    """Writes <split>_<subset>.csv for each split in CAML's layout (SUBJECT_ID,HADM_ID,TEXT,LABELS,length).

    Our notes have no patient, so each counts as its own: SUBJECT_ID repeats the note id. length is the
    number of whitespace-separated tokens, as in CAML's files. Rows keep the dataset's order.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for split, notes in _known_splits(dataset).items():
        frame = pd.DataFrame({
            "SUBJECT_ID": [n.id for n in notes],
            "HADM_ID": [n.id for n in notes],
            "TEXT": [n.text for n in notes],
            "LABELS": [_join_labels(n, ";") for n in notes],
            "length": [len(n.text.split()) for n in notes],
        }, columns=CAML_COLUMNS)
        file = out_dir / f"{split}_{subset}.csv"
        frame.to_csv(file, index=False, lineterminator="\n")
        written.append(file)
    return written


def write_xcube(dataset: Dataset, path: str | Path) -> Path:
    """Writes one CSV in xcube's MIMIC-III layout: subject_id,hadm_id,text,labels,length,is_valid,split.

    is_valid marks the test notes, xcube's held-out set; split says train, dev or test.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    notes, splits = _flatten(dataset)
    frame = pd.DataFrame({
        "subject_id": [n.id for n in notes],
        "hadm_id": [n.id for n in notes],
        "text": [n.text for n in notes],
        "labels": [_join_labels(n, ";") for n in notes],
        "length": [len(n.text.split()) for n in notes],
        "is_valid": [split == "test" for split in splits],
        "split": splits,
    }, columns=XCUBE_COLUMNS)
    frame.to_csv(path, index=False, lineterminator="\n")
    return path


def write_edin(
    dataset: Dataset,
    out_dir: str | Path,
    name: str = "plant",
    *,
    file_format: str = "feather",
    code_system: str = "icd10",
) -> tuple[Path, Path]:
    """Writes Edin et al.'s layout: <name>.<file_format> and <name>_split.<file_format>; returns both paths.

    The table has _id, text, target (list of codes), <code_system>_diag (the same codes: ours are all
    diagnoses), an empty <code_system>_proc, num_words and num_targets; the split file has _id and split
    (train, val, test). Ids that are all plain integers are written as int64, as Edin's pipeline expects.
    """
    if file_format not in ("feather", "parquet"):
        raise ValueError(f"file_format must be 'feather' or 'parquet', not {file_format!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    notes, splits = _flatten(dataset)
    ids = [n.id for n in notes]
    id_array = pa.array([int(i) for i in ids], pa.int64()) if all(_is_plain_int(i) for i in ids) else pa.array(ids)
    codes = pa.array([list(n.codes) for n in notes], pa.list_(pa.string()))
    table = pa.table({
        "_id": id_array,
        "text": pa.array([n.text for n in notes], pa.string()),
        "target": codes,
        f"{code_system}_diag": codes,
        f"{code_system}_proc": pa.array([[] for _ in notes], pa.list_(pa.string())),
        "num_words": pa.array([len(n.text.split()) for n in notes], pa.int64()),
        "num_targets": pa.array([len(n.codes) for n in notes], pa.int64()),
    })
    split_table = pa.table({"_id": id_array, "split": pa.array(["val" if s == "dev" else s for s in splits])})
    data_file, split_file = out_dir / f"{name}.{file_format}", out_dir / f"{name}_split.{file_format}"
    write = parquet.write_table if file_format == "parquet" else feather.write_feather
    write(table, data_file)
    write(split_table, split_file)
    return data_file, split_file


def _known_splits(dataset: Dataset) -> Dataset:
    unknown = sorted(set(dataset) - set(SPLITS))
    if unknown:
        raise ValueError(f"cannot write splits {unknown}: these formats know only {', '.join(SPLITS)}")
    return {split: dataset[split] for split in SPLITS if split in dataset}


def _flatten(dataset: Dataset) -> tuple[list[Note], list[str]]:
    notes, splits = [], []
    for split, split_notes in _known_splits(dataset).items():
        notes.extend(split_notes)
        splits.extend([split] * len(split_notes))
    return notes, splits


def _join_labels(note: Note, separator: str) -> str:
    for code in note.codes:
        if separator in code:
            raise ValueError(f"note {note.id!r}: code {code!r} contains the label separator {separator!r}")
    return separator.join(note.codes)


def _is_plain_int(value: str) -> bool:
    return value.isascii() and value.isdigit() and str(int(value)) == value
