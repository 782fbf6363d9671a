"""Worklist page: import notes (JSONL, CSV, MIMIC formats; an upload or a path on the server), see their
status, filter, assign them to coders and open one for review.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from app import resources
from app.markdown_text import plain
from app.review_session import NOTE_QUERY_PARAM, open_note
from app.services import notes
from app.services.notes import NoteFilter
from app.services.store import NoteStatus
from plant_core.corpus.loaders import FORMATS, load_corpus
from plant_core.corpus.records import CorpusFormatError

REVIEW_PAGE = Path(__file__).resolve().parent / "review.py"
ANYONE, NOBODY = "(anyone)", "(nobody)"
FLASH_KEY = "worklist_flash"  # a message that outlives the rerun after an action
FORMAT_HELP = (
    "auto: from the file name and header. jsonl: our corpus (one note per line: id, text, codes). "
    "csv: id, text, codes columns. caml: MIMIC CAML's train_full.csv / test_50.csv (the name says the split). "
    "xcube: the PLANT authors' CSV. edin: Edin et al.'s .feather/.parquet table (give a path)."
)


def import_corpus(path: Path, corpus_format: str, source: str) -> None:
    try:
        dataset = load_corpus(path, format=corpus_format)
        records = [note for split in dataset.values() for note in split]
        with resources.session() as session:
            result = notes.import_notes(session, records, source=source)
    except (CorpusFormatError, ValueError, OSError) as e:
        st.error(f"Nothing was imported: {plain(e)}")
        return
    st.success(
        f"Imported {result.added} note(s) from {plain(source)}; {result.already_there} were already in the "
        "worklist."
    )


def draw_import() -> None:
    with st.expander("Import notes", expanded=False):
        corpus_format = st.selectbox("Format", ["auto", *FORMATS], key="worklist_format", help=FORMAT_HELP)
        upload_tab, path_tab = st.tabs(["Upload a file", "A path on the server"])
        with upload_tab:
            uploaded = st.file_uploader(
                "Corpus file",
                type=["jsonl", "json", "ndjson", "csv", "feather", "parquet"],
                key="worklist_upload",
            )
            if st.button("Import the upload", key="worklist_import_upload", disabled=uploaded is None):
                with tempfile.TemporaryDirectory() as folder:
                    # Keep the file's own name: the loaders read the format and a CAML file's split from it.
                    path = Path(folder) / Path(uploaded.name).name
                    path.write_bytes(uploaded.getvalue())
                    import_corpus(path, corpus_format, source=uploaded.name)
        with path_tab:
            path_text = st.text_input(
                "File or folder", key="worklist_path", placeholder="e.g. data/demo or /data/mimic/caml"
            )
            if st.button("Import from the path", key="worklist_import_path", disabled=not path_text.strip()):
                import_corpus(Path(path_text.strip()).expanduser(), corpus_format, source=path_text.strip())


def draw_filters() -> NoteFilter:
    with resources.session() as session:
        counts = notes.status_counts(session)
        known_sources = notes.sources(session)
        known_assignees = notes.assignees(session)
    st.caption(" · ".join(f"{status}: **{count}**" for status, count in counts.items()))
    status_column, assignee_column, source_column, text_column = st.columns(4)
    statuses = status_column.multiselect(
        "Status", [status.value for status in NoteStatus], key="worklist_status", placeholder="any status"
    )
    assignee = assignee_column.selectbox(
        "Assigned to", [ANYONE, NOBODY, *known_assignees], key="worklist_assignee"
    )
    source = source_column.selectbox("Source", ["(any)", *known_sources], key="worklist_source")
    text = text_column.text_input("Text or id contains", key="worklist_text")
    return NoteFilter(
        statuses=statuses,
        assignee={ANYONE: None, NOBODY: ""}.get(assignee, assignee),
        source=None if source == "(any)" else source,
        text_contains=text,
    )


st.title("Worklist")
if FLASH_KEY in st.session_state:
    st.success(st.session_state.pop(FLASH_KEY))
draw_import()
note_filter = draw_filters()
with resources.session() as session:
    rows = notes.list_notes(session, note_filter)
if not rows:
    st.info("No notes match. Import some above, or paste one on the Review page.")
    st.stop()

table = st.dataframe(
    [
        {
            "id": row.id,
            "note": row.external_id,
            "status": row.status,
            "assigned to": row.assignee or "",
            "revision": row.revision,
            "characters": row.characters,
            "source": row.source,
            "updated (UTC)": row.updated_at.strftime("%Y-%m-%d %H:%M"),
        }
        for row in rows
    ],
    hide_index=True,
    width="stretch",
    on_select="rerun",
    selection_mode="multi-row",
    key="worklist_table",
)
selected_ids = [rows[index].id for index in table.selection.rows]
st.caption(f"{len(rows)} note(s) shown; {len(selected_ids)} selected.")

open_column, assign_column, assign_button_column = st.columns([1, 2, 1], vertical_alignment="bottom")
if open_column.button("Open in Review", key="worklist_open", type="primary", disabled=len(selected_ids) != 1):
    open_note(selected_ids[0])
    st.switch_page(REVIEW_PAGE, query_params={NOTE_QUERY_PARAM: str(selected_ids[0])})
assignee_name = assign_column.text_input(
    "Assign the selected notes to",
    value=resources.coder_name(),
    key="worklist_assign_to",
    help="Leave empty to unassign.",
)
if assign_button_column.button("Assign", key="worklist_assign", disabled=not selected_ids):
    with resources.session() as session:
        changed = notes.assign_notes(session, selected_ids, assignee_name)
    st.session_state[FLASH_KEY] = f"Assigned {changed} note(s) to {plain(assignee_name.strip() or 'nobody')}."
    st.rerun()
