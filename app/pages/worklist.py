"""Worklist page: see the notes' status, filter, open one for review; admins also import notes (JSONL,
CSV, MIMIC formats; an upload or a path on the server) and assign them to coders.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app import resources, signed_in
from app.markdown_text import plain
from app.review_session import NOTE_QUERY_PARAM, open_note
from app.services import accounts, imports, notes
from app.services.auth import CurrentUser, PermissionDeniedError
from app.services.notes import NoteFilter
from app.services.store import NoteStatus
from plant_core.corpus.loaders import FORMATS

REVIEW_PAGE = Path(__file__).resolve().parent / "review.py"
ANYONE, NOBODY = "(anyone)", "(nobody)"
FLASH_KEY = "worklist_flash"  # a message that outlives the rerun after an action
FORMAT_HELP = (
    "auto: from the file name and header. jsonl: our corpus (one note per line: id, text, codes). "
    "csv: id, text, codes columns. caml: MIMIC CAML's train_full.csv / test_50.csv (the name says the split). "
    "xcube: the PLANT authors' CSV. edin: Edin et al.'s .feather/.parquet table (give a path)."
)


def import_corpus(run_import, source: str) -> None:
    """Runs an import and shows its outcome; a bad file imports nothing and says why."""
    try:
        with resources.session() as session:
            report = run_import(session)
    except (imports.ImportFailedError, PermissionDeniedError) as e:
        st.error(plain(e))
        return
    message = imports.describe(report, source)
    (st.warning if report.not_icd10cm else st.success)(plain(message))


def draw_import(user: CurrentUser) -> None:
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
                import_corpus(
                    lambda session: imports.import_upload(
                        session, user, uploaded.name, uploaded.getvalue(), corpus_format
                    ),
                    source=uploaded.name,
                )
        with path_tab:
            path_text = st.text_input(
                "File or folder", key="worklist_path", placeholder="e.g. data/demo or /data/mimic/caml"
            )
            if st.button("Import from the path", key="worklist_import_path", disabled=not path_text.strip()):
                path = Path(path_text.strip()).expanduser()
                import_corpus(
                    lambda session: imports.import_path(
                        session, user, path, corpus_format, path_text.strip()
                    ),
                    source=path_text.strip(),
                )


def draw_filters(user: CurrentUser) -> NoteFilter:
    with resources.session() as session:
        counts = notes.status_counts(session, user)
        known_sources = notes.sources(session, user)
        known_assignees = notes.assignees(session, user)
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


def draw_assignment(user: CurrentUser, selected_ids: list[int]) -> None:
    with resources.session() as session:
        names = [a.username for a in accounts.list_accounts(session, user) if a.active]
    assign_column, assign_button_column = st.columns([3, 1], vertical_alignment="bottom")
    assignee = assign_column.selectbox(
        "Assign the selected notes to", [NOBODY, *names], key="worklist_assign_to"
    )
    if assign_button_column.button("Assign", key="worklist_assign", disabled=not selected_ids):
        try:
            with resources.session() as session:
                changed = notes.assign_notes(
                    session, user, selected_ids, None if assignee == NOBODY else assignee
                )
        except (ValueError, PermissionDeniedError) as e:
            st.error(plain(e))
            return
        st.session_state[FLASH_KEY] = f"Assigned {changed} note(s) to {plain(assignee)}."
        st.rerun()


user = signed_in.page_user()
st.title("Worklist")
if FLASH_KEY in st.session_state:
    st.success(st.session_state.pop(FLASH_KEY))
if user.is_admin:
    draw_import(user)
note_filter = draw_filters(user)
with resources.session() as session:
    rows = notes.list_notes(session, user, note_filter)
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

if st.button("Open in Review", key="worklist_open", type="primary", disabled=len(selected_ids) != 1):
    open_note(selected_ids[0])
    st.switch_page(REVIEW_PAGE, query_params={NOTE_QUERY_PARAM: str(selected_ids[0])})
if user.is_admin:
    draw_assignment(user, selected_ids)
