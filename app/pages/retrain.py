"""Retrain page (admins): start a fine-tune on the coders' corrections, watch it live, compare the
candidate with the served model before and after, then promote or discard it, or roll back.

The job runs in `python -m app.worker`, never here: this page only queues it and reads its progress.
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from app import resources, signed_in
from app.config import load_retrain_config
from app.markdown_text import plain
from app.services import corrections, jobs, model_registry
from app.services.auth import PermissionDeniedError, Role
from app.services.store import JobStatus, ModelStatus

FLASH_KEY = "retrain_flash"
REFRESH_S = 2  # how often a running job's progress is redrawn
SHOWN_METRICS = ("micro_f1", "macro_f1", "micro_precision", "micro_recall", "micro_auc", "p@5")
ACTION_ERRORS = (jobs.JobStateError, model_registry.VersionStateError, PermissionDeniedError)

admin = signed_in.page_user(Role.ADMIN)
st.title("Retrain")
if FLASH_KEY in st.session_state:
    st.success(plain(st.session_state.pop(FLASH_KEY)))


def act(change, success: str) -> None:
    """Runs one service call for a button; its outcome shows after the rerun, an error right away."""
    try:
        with resources.session() as session:
            change(session)
    except ACTION_ERRORS as e:
        st.error(plain(e))
        return
    st.session_state[FLASH_KEY] = success
    st.rerun(scope="app")


with resources.session() as session:
    jobs.fail_stale_jobs(session, load_retrain_config().stale_after_s)  # a dead worker's job shows as failed
    served = model_registry.active_version(session)
    previous = model_registry.rollback_target(session)
    submitted = corrections.submitted_count(session, admin)
    recent = jobs.list_jobs(session, admin, limit=20)

# ---- the served version ---------------------------------------------------------------------------------
st.subheader("Served model")
if served is None:
    st.info("No model is served yet: open the Review page once to load the configured model.")
else:
    promoted = f" · promoted by {plain(served.promoted_by)}" if served.promoted_by else ""
    st.markdown(f"**{plain(served.version)}** ({plain(served.system.upper())}){promoted}")
    if previous is not None and st.button(f"Roll back to {previous.version}", key="retrain_rollback",
                                          icon=":material/undo:"):  # fmt: skip
        act(lambda s: model_registry.rollback(s, admin), f"Rolled back: {previous.version} is served again.")

# ---- a new job ------------------------------------------------------------------------------------------
st.subheader("New retraining job")
st.caption(f"{submitted} submitted note(s) to learn from. Codes coders added that the model does not know "
           "join its codes, their attention planted from the corrections (PLANT).")  # fmt: skip
with st.form("retrain_form", border=False):
    head_col, top_col, heldout_col = st.columns(3)
    head_epochs = head_col.number_input("Epochs, decoder only", 1, 50, 6, key="retrain_head_epochs")
    top_epochs = top_col.number_input("Epochs, with the top LSTM", 0, 50, 2, key="retrain_top_epochs")
    heldout = heldout_col.slider("Held out for evaluation (%)", 10, 50, 20, key="retrain_heldout")
    start = st.form_submit_button(
        "Start retraining", icon=":material/model_training:", disabled=served is None
    )
if start:
    schedule = [["head", int(head_epochs)]] + ([["lstm_top", int(top_epochs)]] if top_epochs else [])
    params = {"schedule": schedule, "heldout_fraction": heldout / 100}
    act(
        lambda s: jobs.create_job(s, admin, served.id, params),
        "Retraining job queued; the worker picks it up.",
    )


# ---- the latest job, live -------------------------------------------------------------------------------
def draw_evaluation(evaluation: dict) -> None:
    rows = []
    for split, scopes in evaluation.items():
        if split == "counts":
            continue
        for scope, by_model in scopes.items():
            if not by_model:
                continue
            for metric in SHOWN_METRICS:
                before, after = by_model["base"][metric], by_model["candidate"][metric]
                rows.append({"notes": split, "codes": scope, "metric": metric, "before": round(before, 4),
                             "after": round(after, 4), "change": round(after - before, 4)})  # fmt: skip
    st.dataframe(rows, hide_index=True, width="stretch", key="retrain_evaluation")
    counts = evaluation.get("counts", {})
    st.caption(f"Fine-tuned on {counts.get('finetune_notes', '?')} notes; held out "
               f"{counts.get('heldout_notes', '?')}; test split {counts.get('test_notes', '?')} notes. "
               f"Corrected codes: {plain(', '.join(counts.get('corrected_codes', [])) or 'none')}.")  # fmt: skip


def draw_loss_curve(history: list[dict]) -> None:
    steps = [p for p in history if p.get("kind") == "step"]
    epochs = [p for p in history if p.get("kind") == "epoch"]
    figure = go.Figure()
    figure.add_scatter(
        x=[p["step"] for p in steps], y=[p["loss"] for p in steps], mode="lines", name="step loss"
    )
    figure.add_scatter(x=[p["step"] for p in epochs], y=[p["loss"] for p in epochs], mode="markers+lines",
                       name="epoch mean loss")  # fmt: skip
    figure.update_layout(
        height=280, margin=dict(l=10, r=10, t=30, b=10), xaxis_title="step", yaxis_title="loss"
    )
    st.plotly_chart(figure, width="stretch", key="retrain_loss_curve")
    if epochs:
        st.dataframe([{k: (round(v, 4) if isinstance(v, float) else v) for k, v in e.items() if k != "kind"}
                      for e in epochs], hide_index=True, width="stretch", key="retrain_epochs")  # fmt: skip


def draw_job(job_id: int) -> None:
    with resources.session() as session:
        job = jobs.get_job(session, admin, job_id)
        candidate = jobs.candidate_of(session, job_id)
    progress = job.progress or {}
    st.markdown(f"**Job {job.id}** · {plain(job.status)} · queued by {plain(job.created_by)} "
                f"{job.created_at:%Y-%m-%d %H:%M} UTC")  # fmt: skip
    detail = progress.get("phase", "")
    if progress.get("epochs"):
        detail += (
            f" · epoch {progress['epoch']}/{progress['epochs']}, step {progress['step']}/{progress['steps']}"
        )
        detail += f" · loss {progress['loss']:.4f}"
    st.progress(min(1.0, float(progress.get("fraction", 0.0))), text=plain(detail) or None)
    if job.status in jobs.UNFINISHED:
        if job.cancel_requested:
            st.caption("Cancelling at the next step…")
        elif st.button("Cancel", key="retrain_cancel", icon=":material/cancel:"):
            act(lambda s: jobs.cancel_job(s, admin, job_id), f"Job {job_id} cancelled.")
    if job.error:
        st.error(plain(job.error))
    if job.history:
        draw_loss_curve(job.history)
    if candidate is not None:
        st.markdown(f"**Candidate {plain(candidate.version)}** · {plain(candidate.status)}")
        draw_evaluation(candidate.evaluation or {})
        if candidate.status == ModelStatus.CANDIDATE:
            promote_col, discard_col = st.columns(2)
            if promote_col.button(
                "Promote", key="retrain_promote", type="primary", icon=":material/publish:"
            ):
                act(
                    lambda s: model_registry.promote(s, admin, candidate.id),
                    f"{candidate.version} is served now.",
                )
            if discard_col.button("Discard", key="retrain_discard", icon=":material/delete:"):
                act(
                    lambda s: model_registry.discard(s, admin, candidate.id),
                    f"{candidate.version} discarded.",
                )
    if job.status not in jobs.UNFINISHED and st.session_state.get("retrain_live_job") == job_id:
        # The job ended while this fragment watched it: redraw the page once (job list, served model).
        st.session_state.pop("retrain_live_job")
        st.rerun(scope="app")


st.subheader("Latest job")
if not recent:
    st.info("No retraining job yet.")
else:
    latest = recent[0]
    live = latest.status in jobs.UNFINISHED
    if live:
        st.session_state["retrain_live_job"] = latest.id
    st.fragment(run_every=REFRESH_S if live else None)(draw_job)(latest.id)

    if len(recent) > 1:
        st.subheader("Earlier jobs")
        st.dataframe(
            [{"job": j.id, "status": j.status, "queued by": j.created_by,
              "queued (UTC)": j.created_at.strftime("%Y-%m-%d %H:%M"),
              "finished (UTC)": j.finished_at.strftime("%Y-%m-%d %H:%M") if j.finished_at else "",
              "error": j.error or ""} for j in recent[1:]],
            hide_index=True, width="stretch",
        )  # fmt: skip
st.caption(f"Jobs run in `python -m app.worker` (started by `make run`); a job whose worker is silent for "
           f"{load_retrain_config().stale_after_s:g} s is marked failed. Statuses: "
           + ", ".join(s.value for s in JobStatus) + ".")  # fmt: skip
