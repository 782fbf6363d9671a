"""Audit log page (admins): who viewed, decided, exported, imported, retrained or promoted what, and when;
filtered, and exported as CSV. The page only reads: the log cannot be changed from the app."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import streamlit as st

from app import resources, signed_in
from app.services import audit
from app.services.audit import AuditAction, AuditFilter
from app.services.auth import Role

SHOWN = 1000
PERIODS = {"last 24 hours": timedelta(days=1), "last 7 days": timedelta(days=7), "all time": None}

admin = signed_in.page_user(Role.ADMIN)
st.title("Audit log")
user_column, action_column, period_column = st.columns(3)
username = user_column.text_input("User", key="audit_user", placeholder="anyone")
action = action_column.selectbox("Action", ["(any)", *[a.value for a in AuditAction]], key="audit_action")
period = period_column.selectbox("Period", list(PERIODS), index=1, key="audit_period")
since = datetime.now(UTC) - PERIODS[period] if PERIODS[period] is not None else None
audit_filter = AuditFilter(
    username=username.strip() or None, action=None if action == "(any)" else action, since=since
)

with resources.session() as session:
    events = audit.events(session, admin, audit_filter, limit=SHOWN)
st.caption(
    f"{len(events)} event(s), newest first" + (f" (the newest {SHOWN})" if len(events) == SHOWN else "")
)
st.dataframe(
    [
        {
            "time (UTC)": e.at.strftime("%Y-%m-%d %H:%M:%S"),
            "user": e.username,
            "role": e.role,
            "action": e.action,
            "target": e.target,
            "detail": json.dumps(e.detail, ensure_ascii=False) if e.detail else "",
        }
        for e in events
    ],
    hide_index=True,
    width="stretch",
)
if st.button("Prepare a CSV of the filtered log", key="audit_prepare_csv", icon=":material/table:"):
    with resources.session() as session:
        st.session_state["audit_csv"] = audit.export_csv(session, admin, audit_filter)
if "audit_csv" in st.session_state:
    st.download_button(
        "Download the CSV",
        data=st.session_state["audit_csv"],
        file_name="plant_coder_audit.csv",
        mime="text/csv",
        key="audit_download",
        icon=":material/download:",
    )
