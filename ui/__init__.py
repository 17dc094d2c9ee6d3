"""Streamlit glue: session state, cached wrappers and reusable widget groups."""
