"""Plain data -> plotly figures, one module per page; no Streamlit import anywhere in here.

The dashboard and the CLI export (``python -m dashboard.export``) draw with these same functions,
so a figure in a paper is the figure on screen.
"""

from .common import MODEL_COLORS, MODEL_LABELS, Chart, image_button_config, table_to_csv

__all__ = ["Chart", "MODEL_COLORS", "MODEL_LABELS", "image_button_config", "table_to_csv"]
