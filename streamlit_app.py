"""Entry point of the i-ResNet Playground: ``streamlit run streamlit_app.py`` (or ``make run``).

``st.navigation`` over the pages, with the shared sidebar switch (presentation mode) above the
page's own controls. The Playground is the default page.

Only the page being drawn is imported: every other page's module (and what it alone needs, pandas
for one) is imported the first time that page is opened, off the way to the Playground's first
chart (docs/benchmarks.md, "Time to first chart").
"""

from __future__ import annotations

import streamlit as st

st.set_page_config(
    page_title="i-ResNet Playground",
    page_icon="🌀",
    layout="wide",
    initial_sidebar_state="expanded",
)

import importlib  # noqa: E402
from collections.abc import Callable  # noqa: E402

from dashboard import warm_up  # noqa: E402

# A server that warms up (`make run`) imports the Playground's modules in a thread of its own:
# this run waits for those imports rather than draw beside a half-imported module
# (dashboard/warm_up.py).
warm_up.wait_for_imports()

from dashboard.controls import presentation_switch  # noqa: E402
from dashboard.runtime import freeze_long_lived_heap, keep_freed_memory, use_app_threads  # noqa: E402
from dashboard.views import playground  # noqa: E402


def _view(name: str) -> Callable[[], None]:
    """The ``render`` of ``dashboard.views.<name>``, imported when the page first runs."""

    def render() -> None:
        importlib.import_module(f"dashboard.views.{name}").render()

    return render


# Density grids and samples allocate large tensors every redraw: keep the freed memory for reuse
# rather than faulting fresh pages in each time (dashboard/runtime.py).
keep_freed_memory()
# Every run is a thread of Streamlit's own: torch runs on one thread there (dashboard/runtime.py).
use_app_threads()

PAGES = [
    st.Page(playground.render, title="Playground", icon=":material/tune:", default=True),
    # the default page is served at "/"; this twin answers a link to it by its path
    st.Page(playground.render, title="Playground", url_path="playground", visibility="hidden"),
    st.Page(_view("inverse"), title="Inverse", icon=":material/replay:", url_path="inverse"),
    st.Page(
        _view("logdet"), title="Log-determinant", icon=":material/functions:", url_path="logdet"
    ),
    st.Page(
        _view("lipschitz"), title="Lipschitz", icon=":material/straighten:", url_path="lipschitz"
    ),
    st.Page(
        _view("classify"), title="Classifiers", icon=":material/call_split:", url_path="classify"
    ),
    st.Page(_view("layers"), title="Layers", icon=":material/layers:", url_path="layers"),
    st.Page(_view("sweeps"), title="Sweeps", icon=":material/grid_on:", url_path="sweeps"),
    st.Page(_view("tour"), title="Tour", icon=":material/slideshow:", url_path="tour"),
]

page = st.navigation(PAGES, position="sidebar")
presentation_switch()
page.run()
# After the process's first page: pandas, then in the background scikit-learn (the first pick of
# moons, circles or swissroll) and torch's optimiser machinery (the first Play), off the first
# chart's way (dashboard/warm_up.py).
warm_up.after_first_page()
# What lives on leaves the garbage collector's full passes (dashboard/runtime.py).
freeze_long_lived_heap()
