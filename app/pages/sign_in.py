"""Sign-in page: the only page a browser session sees until it signs in with a username and password.

The form's button signs in from its callback, which runs before the next page run: that run already
finds the user signed in and routes to their pages.
"""

from __future__ import annotations

import streamlit as st

from app import signed_in
from app.markdown_text import plain
from app.services.accounts import SignInError

ERROR_KEY = "sign_in_error"


def submit() -> None:
    try:
        signed_in.sign_in(
            st.session_state.get("sign_in_username", ""), st.session_state.get("sign_in_password", "")
        )
    except SignInError as e:
        st.session_state[ERROR_KEY] = str(e)


st.title("Sign in")
notice = st.session_state.pop(signed_in.NOTICE_KEY, None)
if notice:
    st.info(plain(notice))
with st.form("sign_in_form", enter_to_submit=True):
    st.text_input("Username", key="sign_in_username", autocomplete="username")
    st.text_input("Password", key="sign_in_password", type="password", autocomplete="current-password")
    st.form_submit_button("Sign in", type="primary", icon=":material/login:", on_click=submit)
if ERROR_KEY in st.session_state:
    st.error(plain(st.session_state.pop(ERROR_KEY)))
st.caption(
    "No account yet? An admin creates one on the Users page, or on the server with "
    "`python -m app.admin create-user`."
)
