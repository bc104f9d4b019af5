"""AppTest wrapper: the lipschitz lens page on its own (as streamlit_app.py will mount it)."""

import streamlit as st

st.set_page_config(page_title="i-ResNet Playground", layout="wide")

from dashboard.controls import presentation_switch  # noqa: E402
from dashboard.views import lipschitz  # noqa: E402

presentation_switch()
lipschitz.render()
