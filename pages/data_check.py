"""Check data: upload images or sensor files and see what LineSight finds and rejects."""

import pandas as pd
import streamlit as st

from core import ui
from core.charts import common as charts

ui.require_login()

UPLOAD_TYPES = ["png", "jpg", "jpeg", "bmp", "tif", "tiff", "zip", "csv", "parquet", "txt"]

st.title("Check data")
st.markdown(
    "Upload product images (one, many, or a **zip of class folders**) or sensor histories "
    "(**CSV**, **Parquet** or NASA **C-MAPSS** text files). LineSight reports what it can use and "
    "which files it rejects, with the reason; a bad file never stops the others."
)

uploads = st.file_uploader(
    "Files to check", type=UPLOAD_TYPES, accept_multiple_files=True, key="data_check_upload"
)
use_sample = st.toggle("Inspect the bundled sample data instead", key="data_check_sample")

if uploads:
    report = ui.inspect_uploads(tuple((upload.name, upload.getvalue()) for upload in uploads))
elif use_sample:
    report = ui.inspect_sample_data()
else:
    st.info("Upload files above, or switch on the bundled sample data.")
    st.stop()

# Several uploads may share a name (a Mac names every zip Archive.zip): keys go by position.
for position, archive in enumerate(report["image_archives"]):
    st.subheader(f"Image set: {archive['name']}")
    ui.image_counts(archive)
    st.plotly_chart(
        charts.class_counts_bar(archive["class_counts"], title="Images per class"),
        key=f"class_counts_{position}",
    )
    for warning in archive.get("warnings", []):
        st.warning(warning)
    if archive["rejected"]:
        st.dataframe(pd.DataFrame(archive["rejected"]), hide_index=True, key=f"rejected_{position}")

if report["images"]:
    st.subheader("Single images")
    st.metric("Readable images", report["images"]["count"])
    st.caption(", ".join(report["images"]["accepted"][:50]))

for series in report["series"]:
    st.subheader(f"Sensor data: {series['name']}")
    ui.metric_row(
        {
            "Machines (units)": series["units"],
            "Rows": series["rows"],
            "Sensors": len(series["sensors"]),
        }
    )
    if series.get("constant_sensors"):
        st.caption(
            f"Constant sensors (carry no information): {', '.join(series['constant_sensors'])}"
        )
    for problem in series.get("problems", []):
        st.warning(problem)

if report["rejected"]:
    st.subheader("Rejected files")
    st.error(f"{len(report['rejected'])} file(s) could not be used; the rest were checked.")
    st.dataframe(pd.DataFrame(report["rejected"]), hide_index=True, key="rejected_table")
