"""AutoBuild Studio dashboard: the entry file only sets the page up and routes (``streamlit run app/main.py``)."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run` puts app/ on the path, not the project root
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app import session_url  # noqa: E402
from app.page_guard import run_page  # noqa: E402

# An emoji favicon is drawn from a data: URL; a ":material/...:" one is fetched from fonts.gstatic.com on
# every page, a network request (and a console error offline) that the dashboard must not make.
st.set_page_config(page_title="AutoBuild Studio", page_icon="🧩", layout="wide")

sections = {
    "AutoBuild Studio": [
        st.Page("views/home.py", title="Home", icon=":material/home:", default=True),
    ],
    "Learn": [
        st.Page("views/data.py", title="Data & target", icon=":material/table:"),
        st.Page("views/train.py", title="Train", icon=":material/model_training:"),
        st.Page("views/modules.py", title="Modules", icon=":material/account_tree:"),
        st.Page("views/compare.py", title="Compare runs", icon=":material/compare_arrows:"),
    ],
    "Build": [
        st.Page("views/build.py", title="Build", icon=":material/construction:"),
        st.Page("views/loop.py", title="Loop", icon=":material/autorenew:"),
        st.Page("views/inpainting.py", title="Inpainting", icon=":material/brush:"),
    ],
}

page = st.navigation(sections)
# A reload starts a new session: take back the choices its URL holds, and keep the URL up to date
# (navigation clears query parameters, so they are written again after every page).
session_url.restore()
run_page(page)  # a page's uncaught error is one line (a bug's traceback goes to the log), never a traceback
session_url.mirror()
