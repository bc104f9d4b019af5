"""AppTest wrapper: the Layers page on its own (as streamlit_app.py mounts it)."""

import streamlit as st

st.set_page_config(page_title="i-ResNet Playground", layout="wide")

from dashboard.controls import presentation_switch  # noqa: E402
from dashboard.views import layers  # noqa: E402

presentation_switch()
layers.render()
