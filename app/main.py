"""Entry point of the coder app: `streamlit run app/main.py`.

Sets up the page, migrates the database on start, and routes to the pages the signed-in user's role
may see; a session that is not signed in sees only the sign-in page (every page checks the role again).
"""

import os
import sys
from pathlib import Path

# One inference thread: on a 2-core machine the app shares the cores with the browser and other work,
# and two contending OpenMP threads made a suggestion up to 100 times slower than one. Set before torch
# is imported (by plant_core.coder); an OMP_NUM_THREADS given by the caller wins.
os.environ.setdefault("OMP_NUM_THREADS", "1")

# `streamlit run app/main.py` puts app/ on sys.path, not the repository root that holds app and plant_core.
_REPO_ROOT = str(Path(__file__).resolve().parents[1])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

import streamlit as st  # noqa: E402

from app import resources, signed_in  # noqa: E402

st.set_page_config(page_title="PLANT Coder", page_icon=":material/eco:", layout="wide")

PAGES_DIR = Path(__file__).resolve().parent / "pages"
SIGN_IN_PAGE = [st.Page(PAGES_DIR / "sign_in.py", title="Sign in", icon=":material/login:", default=True)]
CODER_PAGES = [
    st.Page(PAGES_DIR / "review.py", title="Review", icon=":material/rate_review:", default=True),
    st.Page(PAGES_DIR / "worklist.py", title="Worklist", icon=":material/list_alt:"),
    st.Page(PAGES_DIR / "export.py", title="Export", icon=":material/download:"),
    st.Page(PAGES_DIR / "models.py", title="Models", icon=":material/model_training:"),
]
ADMIN_PAGES = [
    st.Page(PAGES_DIR / "users.py", title="Users", icon=":material/group:"),
    st.Page(PAGES_DIR / "audit_log.py", title="Audit log", icon=":material/policy:"),
    st.Page(PAGES_DIR / "retrain.py", title="Retrain", icon=":material/autorenew:"),
]

resources.engine()  # migrations run here, before any page reads the database
resources.warm_up()
user = signed_in.current_user()
if user is None:
    navigation = st.navigation(SIGN_IN_PAGE)
else:
    navigation = st.navigation({"Coding": CODER_PAGES, "Admin": ADMIN_PAGES} if user.is_admin else CODER_PAGES)
    with st.sidebar:
        signed_in.draw_account_box(user)
navigation.run()
