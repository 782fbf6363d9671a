"""Models page: the model in use (version, system, threshold, evaluation) and the versions seen so far."""

from __future__ import annotations

import streamlit as st

from app import resources, signed_in
from app.markdown_text import plain
from app.services import suggestions
from plant_core.coder import ModelLoadError

METRICS_SHOWN = (
    "micro_f1",
    "macro_f1",
    "micro_precision",
    "micro_recall",
    "p@5",
    "p@8",
    "p@15",
    "micro_auc",
    "macro_auc",
)

user = signed_in.page_user()
st.title("Models")
settings = resources.config()
try:
    model = resources.model()
except ModelLoadError as e:
    st.error(
        f"No model in use: {plain(e)}\n\nSet PLANT_CODER_MODEL_DIR to a trained model folder "
        f"(now {plain(settings.model_dir)})."
    )
    model = None

if model is not None:
    info = model.info
    st.subheader(f"In use: {plain(info['version'])}")
    system_column, threshold_column, labels_column = st.columns(3)
    system_column.metric("System", info.get("system", "?").upper())
    threshold_column.metric(
        "Threshold", f"{info['threshold']:.3f}", help="Tuned on the dev split for micro-F1."
    )
    labels_column.metric("Codes it knows", len(info.get("labels", [])))
    st.caption(f"Folder {plain(model.model_dir)} · created {plain(info.get('created_at') or 'unknown')}")
    evaluation = info.get("metrics") or {}
    splits = {name: values for name, values in evaluation.items() if isinstance(values, dict)}
    if splits:
        st.markdown("**Evaluation**")
        st.dataframe(
            [
                {"split": name, **{metric: values[metric] for metric in METRICS_SHOWN if metric in values}}
                for name, values in splits.items()
            ],
            hide_index=True,
            width="stretch",
        )
    else:
        st.info("This model was saved without an evaluation.")
    with st.expander("Codes"):
        st.write(", ".join(info.get("labels", [])))
    with st.expander("Training configuration"):
        st.json(info.get("config") or {}, expanded=False)

st.subheader("Versions that suggested codes here")
with resources.session() as session:
    versions = suggestions.list_model_versions(session, user)
st.dataframe(
    [
        {
            "version": v.version,
            "system": v.system,
            "threshold": round(v.threshold, 3),
            "folder": v.model_dir,
            "first used (UTC)": v.registered_at.strftime("%Y-%m-%d %H:%M"),
        }
        for v in versions
    ],
    hide_index=True,
    width="stretch",
)
