"""Property-based tests (hypothesis) of the corpus parsers and the app's upload and export guards:
any note text survives a JSONL or CAML CSV round trip unchanged (quotes, commas, newlines, any Unicode),
arbitrary bytes are either read or refused with the parser's own error, never another exception, and no
exported cell starts a spreadsheet formula."""

import contextlib
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.services import exporters, imports
from plant_core.corpus.loaders import load_corpus, write_caml
from plant_core.corpus.records import CorpusFormatError, Note, iter_jsonl, write_jsonl

# Note text as it comes: any printable Unicode with quotes, separators and line breaks, not blank.
NOTE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\u2028\u2029\x85")
    | st.sampled_from(list(",;\"'\n\t")),
    min_size=1,
    max_size=300,
).filter(lambda text: text.strip())
NOTE_IDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)
CODES = st.lists(st.sampled_from(["I10", "E11.9", "E78.5", "N17.9", "J44.9"]), unique=True, max_size=4)
NOTES = st.lists(
    st.builds(Note, id=NOTE_IDS, text=NOTE_TEXT, codes=CODES), max_size=5, unique_by=lambda n: n.id
)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(NOTES)
def test_jsonl_round_trip_keeps_every_note(notes):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "notes.jsonl"
        write_jsonl(notes, path)
        back = list(iter_jsonl(path))
    assert [(n.id, n.text, n.codes) for n in back] == [(n.id, n.text, n.codes) for n in notes]


@SETTINGS
@given(NOTES.filter(bool))
def test_caml_csv_round_trip_keeps_text_with_quotes_and_newlines(notes):
    notes = [Note(id=str(i + 1), text=n.text, codes=n.codes) for i, n in enumerate(notes)]  # HADM ids
    with tempfile.TemporaryDirectory() as folder:
        write_caml({"train": notes}, folder)
        back = load_corpus(folder, format="caml")["train"]
    assert [(n.text, n.codes) for n in back] == [(n.text, n.codes) for n in notes]


@SETTINGS
@given(st.binary(max_size=400), st.sampled_from(["notes.jsonl", "notes.csv"]))
def test_arbitrary_bytes_are_read_or_refused_with_a_format_error(data, name):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        with contextlib.suppress(CorpusFormatError):  # the parser's own error, naming file and line
            load_corpus(path)


@SETTINGS
@given(st.binary(max_size=400), st.text(max_size=30))
def test_upload_check_accepts_or_refuses_with_its_own_error_and_never_returns_a_path(data, name):
    try:
        checked = imports.check_upload(name, data)
    except imports.ImportFailedError:
        return
    assert "/" not in checked and "\\" not in checked and checked not in ("", ".", "..")


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=30), st.integers(), st.none()))
def test_no_exported_cell_starts_a_formula(value):
    cell = exporters.neutralize_cell(value)
    if isinstance(cell, str):
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
