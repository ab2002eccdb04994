"""Timeline page."""

from __future__ import annotations

import streamlit as st

from pages import _common
from pages._auth import require

store = _common.catalog()
user = require(store, "play_video")
st.title("Timeline")
