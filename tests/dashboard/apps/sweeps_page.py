"""AppTest wrapper: the Sweeps page alone, as streamlit_app.py will serve it (shared sidebar
switch first)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard.controls import presentation_switch  # noqa: E402
from dashboard.views import sweeps  # noqa: E402

page = st.navigation(
    [st.Page(sweeps.render, title="Sweeps", icon="🧭", url_path="sweeps")],
    position="hidden",
)
presentation_switch()
page.run()
