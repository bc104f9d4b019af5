"""One module per page: widgets -> calls -> ``st.plotly_chart``. These import Streamlit."""
