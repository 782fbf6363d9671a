"""The Review page's place in `st.session_state` (and the URL): which note is open, which code is focused.

Shared by the pages that send the coder to a note; the `?note=` query parameter brings the same note
back after a browser reload, when the session state is gone.
"""

from __future__ import annotations

import streamlit as st

NOTE_KEY = "review_note_id"
FOCUS_KEY = "review_focus"
NOTE_QUERY_PARAM = "note"


def current_note_id() -> int | None:
    if NOTE_KEY not in st.session_state and st.query_params.get(NOTE_QUERY_PARAM, "").isdigit():
        st.session_state[NOTE_KEY] = int(st.query_params[NOTE_QUERY_PARAM])
    return st.session_state.get(NOTE_KEY)


def open_note(note_id: int) -> None:
    st.session_state[NOTE_KEY] = note_id
    st.session_state.pop(FOCUS_KEY, None)
    st.query_params[NOTE_QUERY_PARAM] = str(note_id)


def close_note() -> None:
    st.session_state.pop(NOTE_KEY, None)
    st.session_state.pop(FOCUS_KEY, None)
    st.query_params.pop(NOTE_QUERY_PARAM, None)


def focused_code() -> str | None:
    return st.session_state.get(FOCUS_KEY)


def focus(code: str | None) -> None:
    st.session_state[FOCUS_KEY] = code
