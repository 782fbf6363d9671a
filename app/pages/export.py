"""Export page: the corrected labels of submitted notes (all, or filtered) as CSV, JSON lines, MIMIC CAML
CSV or a FHIR Bundle, as a download or saved in the export folder for a pipeline to pick up. A coder
exports their own submitted work, an admin everybody's; every export is in the audit log.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import streamlit as st

from app import resources, signed_in
from app.markdown_text import plain
from app.services import decisions, export_files, exporters, notes
from app.services.auth import CurrentUser
from app.services.exporters import ExportNote
from app.services.notes import NoteFilter


@dataclass(frozen=True)
class ExportFormat:
    name: str
    file_name: str
    mime: str
    write: Callable[[Sequence[ExportNote]], bytes]
    about: str


FORMATS = [
    ExportFormat(
        "CSV (one row per decision)",
        "plant_coder_decisions.csv",
        "text/csv",
        exporters.to_csv,
        "Every decided code with its decision, coder, time, model version and probability.",
    ),
    ExportFormat(
        "JSON lines (corpus format + audit)",
        "plant_coder_labels.jsonl",
        "application/jsonl",
        exporters.to_jsonl,
        "One note per line: id, text, codes, evidence, and every decision; plant_core reads it as a corpus.",
    ),
    ExportFormat(
        "MIMIC CAML CSV",
        "train_coded.csv",
        "text/csv",
        exporters.to_caml_csv,
        "SUBJECT_ID,HADM_ID,TEXT,LABELS,length with ';'-separated labels, for CAML-style pipelines "
        "(load it with format='caml'). Labels only: the audit trail is in the other formats.",
    ),
    ExportFormat(
        "FHIR R4B Bundle of Conditions",
        "plant_coder_conditions.fhir.json",
        "application/fhir+json",
        exporters.to_fhir_json,
        "A collection Bundle: one Condition per code (ICD-10-CM), who coded it and which model suggested it.",
    ),
]


def draw_filter(user: CurrentUser) -> NoteFilter:
    scope = st.radio("Notes", ["All submitted notes", "Filtered"], key="export_scope", horizontal=True)
    if scope == "All submitted notes":
        return NoteFilter()
    with resources.session() as session:
        known_sources = notes.sources(session, user)
        known_assignees = notes.assignees(session, user)
    assignee_column, source_column, text_column = st.columns(3)
    assignee = assignee_column.selectbox("Assigned to", ["(anyone)", *known_assignees], key="export_assignee")
    source = source_column.selectbox("Source", ["(any)", *known_sources], key="export_source")
    text = text_column.text_input("Text or id contains", key="export_text")
    return NoteFilter(
        assignee=None if assignee == "(anyone)" else assignee,
        source=None if source == "(any)" else source,
        text_contains=text,
    )


def record_download(user: CurrentUser, file_name: str, count: int) -> None:
    with resources.session() as session:
        export_files.record_download(session, user, file_name, count)


user = signed_in.page_user()
st.title("Export")
st.caption(
    "Exports the codes of each note's last submitted revision, with who decided and which model suggested."
    + ("" if user.is_admin else " You export the notes you submitted.")
)
note_filter = draw_filter(user)
with resources.session() as session:
    note_ids = notes.filtered_note_ids(session, user, note_filter)
    records = decisions.export_records(session, user, note_ids)
labels = sum(len(record.labels) for record in records)
notes_column, labels_column = st.columns(2)
notes_column.metric("Submitted notes", len(records))
labels_column.metric("Codes", labels)

chosen = st.radio("Format", [f.name for f in FORMATS], key="export_format")
export_format = next(f for f in FORMATS if f.name == chosen)
st.caption(export_format.about)
if not records:
    st.info("No submitted notes to export yet: submit notes on the Review page first.")
    st.stop()

try:
    data = export_format.write(records)
except exporters.FhirExportError as e:
    st.error(plain(e))
    st.stop()
download_column, save_column = st.columns(2)
download_column.download_button(
    "Download",
    data=data,
    file_name=export_format.file_name,
    mime=export_format.mime,
    key="export_download",
    icon=":material/download:",
    type="primary",
    on_click=record_download,
    args=(user, export_format.file_name, len(records)),
)
if save_column.button("Save to the export folder", key="export_save", icon=":material/save:"):
    try:
        with resources.session() as session:
            path = export_files.save_export(
                session, user, resources.config().export_dir, export_format.file_name, data, len(records)
            )
    except OSError as e:
        st.error(
            f"Could not save the export ({plain(e)}); set PLANT_CODER_EXPORT_DIR to a folder the app can write."
        )
    else:
        st.success(f"Saved {len(records)} note(s) to:")
        st.code(str(path), language=None)
