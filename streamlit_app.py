"""Entry point of the i-ResNet Playground: ``streamlit run streamlit_app.py`` (or ``make run``).

``st.navigation`` over the pages, with the shared sidebar switch (presentation mode) above the
page's own controls. The Playground is the default page.
"""

from __future__ import annotations

import streamlit as st

st.set_page_config(
    page_title="i-ResNet Playground",
    page_icon="🌀",
    layout="wide",
    initial_sidebar_state="expanded",
)

import iresnet_core as ic  # noqa: E402
from dashboard.controls import presentation_switch  # noqa: E402
from dashboard.runtime import freeze_long_lived_heap, keep_freed_memory, use_app_threads  # noqa: E402
from dashboard.views import classify, inverse, lipschitz, logdet, playground, sweeps  # noqa: E402
from dashboard.views import layers as layers_page  # noqa: E402
from dashboard.views import tour as tour_page  # noqa: E402

# Density grids and samples allocate large tensors every redraw: keep the freed memory for reuse
# rather than faulting fresh pages in each time (dashboard/runtime.py).
keep_freed_memory()
# scikit-learn (moons, circles, swissroll) imports in the background, off the first pick's path.
ic.datasets.preload_generators()
# Every run is a thread of Streamlit's own: torch runs on one thread there (dashboard/runtime.py).
use_app_threads()

PAGES = [
    st.Page(playground.render, title="Playground", icon=":material/tune:", default=True),
    # the default page is served at "/"; this twin answers a link to it by its path
    st.Page(playground.render, title="Playground", url_path="playground", visibility="hidden"),
    st.Page(inverse.render, title="Inverse", icon=":material/replay:", url_path="inverse"),
    st.Page(
        logdet.render, title="Log-determinant", icon=":material/functions:", url_path="logdet"
    ),
    st.Page(
        lipschitz.render, title="Lipschitz", icon=":material/straighten:", url_path="lipschitz"
    ),
    st.Page(
        classify.render, title="Classifiers", icon=":material/call_split:", url_path="classify"
    ),
    st.Page(layers_page.render, title="Layers", icon=":material/layers:", url_path="layers"),
    st.Page(sweeps.render, title="Sweeps", icon=":material/grid_on:", url_path="sweeps"),
    st.Page(tour_page.render, title="Tour", icon=":material/slideshow:", url_path="tour"),
]

page = st.navigation(PAGES, position="sidebar")
presentation_switch()
page.run()
# After the process's first page: what lives on leaves the garbage collector's full passes
# (dashboard/runtime.py).
freeze_long_lived_heap()
