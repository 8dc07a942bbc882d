"""Plotly figures from plain frames, by page family; every figure says what is plotted on its axes and in its
legend. `theme` (colours, template) and `geometry` (where labels go) are shared by the others. No Streamlit here."""
