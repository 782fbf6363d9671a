"""Who is signed in to this browser session, kept in `st.session_state` (server-side; nothing about it
is in a cookie or the URL, so there is no session key to steal, forge or leak through a restart).

Each full page run and each button callback asks `current_user()`, which signs the session out after
`PLANT_CODER_IDLE_MINUTES` without a click (keeping the unsaved text of the Review page as a draft
that the next sign-in restores) and re-reads the account, so a role change or a deactivation by an
admin applies at the next click.
"""

from __future__ import annotations

import time

import streamlit as st

from app import resources
from app.markdown_text import plain
from app.services import accounts, audit, drafts
from app.services.audit import AuditAction
from app.services.auth import CurrentUser, PermissionDeniedError, Role, require_role

USERNAME_KEY = "signed_in_username"
LAST_ACTIVITY_KEY = "signed_in_last_activity"  # time.time() of the session's last run
NOTICE_KEY = "sign_in_notice"  # why the sign-in form is shown again, for the form to say
RESTORED_KEY = "sign_in_restored_drafts"
# The Review page's text fields: what a coder may have typed and not yet turned into a saved note or code.
DRAFT_KEYS = ("review_paste", "review_add_query", "review_add_evidence")


def current_user() -> CurrentUser | None:
    """The signed-in user, or None (never signed in, idle too long, account switched off)."""
    username = st.session_state.get(USERNAME_KEY)
    if username is None:
        return None
    now = time.time()
    idle_s = now - st.session_state.get(LAST_ACTIVITY_KEY, now)
    if idle_s > resources.config().idle_minutes * 60:
        _expire(username)
        return None
    with resources.session() as session:
        user = accounts.signed_in_user(session, username)
    if user is None:
        _forget(notice="Your account was switched off; ask an admin.")
        return None
    st.session_state[LAST_ACTIVITY_KEY] = now
    return user


def require(*roles: Role) -> CurrentUser:
    """The signed-in user when they hold one of `roles` (any role when none given); for callbacks and
    services, where a page cannot stop: raises PermissionDeniedError otherwise."""
    user = current_user()
    if user is None:
        raise PermissionDeniedError("Your session has ended; sign in again.")
    return require_role(user, *(roles or (Role.CODER,)))


def page_user(*roles: Role) -> CurrentUser:
    """`require` for the top of a page: shows why and stops the page when the user may not see it."""
    try:
        return require(*roles)
    except PermissionDeniedError as e:
        st.error(plain(e))
        st.stop()
        raise  # st.stop() raises; this line only tells type checkers so


def fragment_user() -> CurrentUser:
    """`require` inside a fragment: a session that ended reruns the whole app, which shows the sign-in."""
    try:
        return require()
    except PermissionDeniedError:
        st.rerun(scope="app")
        raise  # st.rerun() raises; this line only tells type checkers so


def sign_in(username: str, password: str) -> CurrentUser:
    """Signs the session in (SignInError, LockedOutError on failure) and restores the user's drafts."""
    with resources.session() as session:
        user = accounts.sign_in(session, username, password)
        restored = drafts.take_drafts(session, user)
    st.session_state[USERNAME_KEY] = user.username
    st.session_state[LAST_ACTIVITY_KEY] = time.time()
    for key, text in restored.items():
        if key in DRAFT_KEYS:
            st.session_state[key] = text
    if restored:
        st.session_state[RESTORED_KEY] = sorted(restored)
    return user


def sign_out(user: CurrentUser) -> None:
    with resources.session() as session:
        audit.record_now(session, user, AuditAction.SIGNED_OUT, f"user {user.username}")
    _forget(notice="You are signed out.")


def _expire(username: str) -> None:
    user = CurrentUser(username, Role.CODER)
    unsaved = {key: st.session_state.get(key) or "" for key in DRAFT_KEYS}
    with resources.session() as session:
        account = accounts.signed_in_user(session, username)
        if account is not None:
            user = account
            kept = drafts.save_drafts(session, user, unsaved)
            audit.record_now(session, user, AuditAction.SESSION_EXPIRED, f"user {username}", {"drafts": kept})
    minutes = resources.config().idle_minutes
    _forget(
        notice=f"You were signed out after {minutes:g} minutes without activity. "
        + ("Your unsaved text is kept and comes back when you sign in." if any(unsaved.values()) else "")
    )


def _forget(notice: str) -> None:
    st.session_state.clear()
    st.session_state[NOTICE_KEY] = notice


def draw_account_box(user: CurrentUser) -> None:
    """The sidebar's who-am-I line and sign-out button."""
    st.caption(f"Signed in as **{plain(user.username)}** ({user.role.value})")
    if st.button("Sign out", key="sign_out", icon=":material/logout:"):
        sign_out(user)
        st.rerun()
