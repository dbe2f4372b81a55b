"""LineSight dashboard: routes over the files in pages/ with st.navigation."""

import streamlit as st

st.set_page_config(
    page_title="LineSight", page_icon=":material/precision_manufacturing:", layout="wide"
)

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/spot_check.py", title="Spot check", icon=":material/image_search:"),
    st.Page("pages/train_images.py", title="Train image model", icon=":material/model_training:"),
    st.Page("pages/synthetic.py", title="Synthetic images", icon=":material/auto_awesome:"),
    st.Page("pages/sensor_monitor.py", title="Sensor monitor", icon=":material/sensors:"),
    st.Page("pages/models.py", title="Models", icon=":material/inventory_2:"),
    st.Page("pages/data_check.py", title="Check data", icon=":material/fact_check:"),
]

st.navigation(PAGES).run()
