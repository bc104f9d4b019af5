"""The Streamlit shell of the i-ResNet Playground.

``dashboard.figures`` (plain data -> plotly figures) and ``dashboard.export`` (figure packs, CLI)
never import Streamlit; ``dashboard.views`` holds one module per page, ``dashboard.state`` the
per-session training state the pages drive.
"""
