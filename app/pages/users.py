"""Users page (admins): the accounts, a form to create one, and changes of role, password or access."""

from __future__ import annotations

import streamlit as st

from app import resources, signed_in
from app.markdown_text import plain
from app.services import accounts
from app.services.accounts import AccountError
from app.services.auth import PermissionDeniedError, Role

FLASH_KEY = "users_flash"

admin = signed_in.page_user(Role.ADMIN)
st.title("Users")
if FLASH_KEY in st.session_state:
    st.success(plain(st.session_state.pop(FLASH_KEY)))


def act(change, success: str) -> None:
    """Runs one account change; its outcome is shown after the rerun, or its error right away."""
    try:
        with resources.session() as session:
            change(session)
    except (AccountError, PermissionDeniedError) as e:
        st.error(plain(e))
        return
    st.session_state[FLASH_KEY] = success
    st.rerun()


with resources.session() as session:
    users = accounts.list_accounts(session, admin)
st.dataframe(
    [
        {
            "username": u.username,
            "role": u.role,
            "active": u.active,
            "locked out": u.locked,
            "created (UTC)": u.created_at.strftime("%Y-%m-%d %H:%M"),
        }
        for u in users
    ],
    hide_index=True,
    width="stretch",
)

with st.expander("Create an account", expanded=not users), st.form("users_create", clear_on_submit=True):
    username = st.text_input("Username", key="users_new_username")
    password = st.text_input(
        "Password",
        key="users_new_password",
        type="password",
        help=f"At least {accounts.MIN_PASSWORD_LENGTH} characters; give it to the user privately.",
    )
    role = st.radio("Role", [r.value for r in Role], key="users_new_role", horizontal=True)
    if st.form_submit_button("Create", type="primary"):
        act(
            lambda s: accounts.create_user(s, admin, username.strip(), password, role),
            f"Created {username.strip()} ({role}).",
        )

names = [u.username for u in users]
if names:
    st.subheader("Change an account")
    chosen = st.selectbox("Account", names, key="users_chosen")
    account = next(u for u in users if u.username == chosen)
    role_column, active_column, password_column = st.columns(3)
    new_role = role_column.radio(
        "Role", [r.value for r in Role], index=[r.value for r in Role].index(account.role), key="users_role"
    )
    if role_column.button("Change role", key="users_change_role", disabled=new_role == account.role):
        act(
            lambda s: accounts.update_account(s, admin, chosen, role=new_role), f"{chosen} is now {new_role}."
        )
    label = "Switch off" if account.active else "Switch on"
    if active_column.button(label, key="users_toggle_active"):
        act(
            lambda s: accounts.update_account(s, admin, chosen, active=not account.active),
            f"{chosen} is {'switched off' if account.active else 'active again'}.",
        )
    new_password = password_column.text_input("New password", key="users_password", type="password")
    if password_column.button("Set password", key="users_set_password", disabled=not new_password):
        act(
            lambda s: accounts.set_password(s, admin, chosen, new_password),
            f"New password set for {chosen}; a lock-out is lifted.",
        )
