"""LineSight dashboard: routes over the files in pages/ with st.navigation.

With `[auth]` in .streamlit/secrets.toml, a session that is not logged in is routed to the login
page only, whatever URL it asks for (see `core.access.policy`).
"""

import numpy as np
import streamlit as st
from PIL import Image

from core import ui

# The tab icon is drawn here and served by the app: a Material or emoji icon makes the browser
# fetch it from Google's font servers, which a factory network without internet refuses.
pixels = np.full((32, 32, 3), (38, 70, 83), dtype=np.uint8)
pixels[11:21, 11:21] = (231, 111, 81)  # A part with a defect.
ICON = Image.fromarray(pixels)

st.set_page_config(page_title="LineSight", page_icon=ICON, layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/spot_check.py", title="Spot check", icon=":material/image_search:"),
    st.Page("pages/train_images.py", title="Train image model", icon=":material/model_training:"),
    st.Page("pages/train_anomaly.py", title="Train anomaly model", icon=":material/query_stats:"),
    st.Page("pages/synthetic.py", title="Synthetic images", icon=":material/auto_awesome:"),
    st.Page("pages/sensor_monitor.py", title="Sensor monitor", icon=":material/sensors:"),
    st.Page("pages/models.py", title="Models", icon=":material/inventory_2:"),
    st.Page("pages/operating_point.py", title="Operating point", icon=":material/tune:"),
    st.Page("pages/signoff.py", title="Sign-off", icon=":material/verified:"),
    st.Page("pages/data_check.py", title="Check data", icon=":material/fact_check:"),
]

if ui.access_allowed():
    ui.account_sidebar()
    st.navigation(PAGES).run()
else:
    st.navigation([st.Page(ui.login_page, title="Log in", icon=":material/login:")]).run()
