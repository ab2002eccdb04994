"""web: the HTTP routes the dashboard adds to Streamlit's server (sessions, video streaming)."""
