"""AppTest wrapper: the Figure 2 panel on a page of its own (a page of the app will mount it)."""

import streamlit as st

st.set_page_config(page_title="i-ResNet Playground", layout="wide")

from dashboard.views.figure2 import figure2_panel  # noqa: E402

figure2_panel()
