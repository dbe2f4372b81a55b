"""Sign-off: the robustness check and the HTML sign-off report of an image model version."""

import pandas as pd
import streamlit as st

from core import ui
from core.access import policy as access
from core.charts import robustness as charts_robustness
from core.decisions.robustness import run_robustness
from core.decisions.signoff_report import make_signoff_report
from core.demo.models import DEMO_IMAGE_MODEL
from core.registry.attachments import (
    ROBUSTNESS,
    SIGNOFF_REPORT,
    read_attachment,
    read_json_attachment,
)
from core.registry.catalog import calibration_source
from core.workflows.image_test_split import IMAGE_TASKS

ui.require_login()

st.title("Sign-off")
st.markdown(
    "Before a model goes on the line: check how it copes with camera drift (**robustness**), "
    "then make the **sign-off report**, one HTML file holding its data, training, test "
    "metrics, threshold, sample heatmaps and robustness, ready to sign. Both are stored with "
    "the model version."
)

registry = ui.registry()
records = sorted(
    (record for record in registry.list() if record.metadata.get("task") in IMAGE_TASKS),
    key=lambda record: (record.name, -record.version),
)
if not records:
    st.warning("No image model is registered yet: train one first.")
    st.stop()
references = [record.reference for record in records]
by_reference = {record.reference: record for record in records}
default = next(
    (index for index, record in enumerate(records) if record.name == DEMO_IMAGE_MODEL), 0
)
reference = st.selectbox("Model", references, index=default, key="signoff_model")
record = by_reference[reference]
user = ui.current_user_id() or "not logged in"

source = calibration_source(record)
with st.expander("Test images", expanded=source is None):
    st.caption(
        "The robustness check and the sample heatmaps use the model's test split, cut again "
        "from its training images with the recorded seed: "
        + (
            f"the training folder `{source}`, unless you upload a zip."
            if source
            else "the training folder is not on this server, so upload a zip of class folders."
        )
    )
    uploaded = ui.checked_uploads(
        st.file_uploader(
            "Zip of training images (one folder per class)",
            type=["zip"],
            key="signoff_zip",
            max_upload_size=access.widget_limit_mb(["zip"]),
        )
    )
data = uploaded[0] if uploaded else None

st.header("Robustness")
st.caption(
    "Re-scores the test images brighter, darker, with less contrast, blurred, slightly rotated, "
    "shifted and noisy (two severities each): the accuracy under each change and the share of "
    "predictions that flip. Inference only: a few seconds."
)
if st.button("Run robustness check", key="signoff_run_robustness", icon=":material/science:"):
    try:
        with st.spinner(f"Re-scoring the test images of {reference}..."):
            run_robustness(registry, reference, data, created_by=user)
    except (ValueError, FileNotFoundError) as error:
        st.error(f"Robustness check failed: {error}")
try:
    robustness = read_json_attachment(record, ROBUSTNESS)
except (ValueError, FileNotFoundError) as error:
    robustness = None
    st.error(str(error))
if robustness is None:
    st.info("No robustness check for this version yet.")
else:
    st.plotly_chart(charts_robustness.robustness_chart(robustness), key="signoff_robustness_chart")
    table = pd.DataFrame(robustness["rows"])
    table["accuracy_change"] = table["accuracy_change"] * 100  # Percentage points.
    st.dataframe(
        table[["label", "severity", "accuracy", "accuracy_change", "flip_share"]],
        hide_index=True,
        key="signoff_robustness_table",
        column_config={
            "label": "change",
            "accuracy": st.column_config.NumberColumn("accuracy", format="percent"),
            "accuracy_change": st.column_config.NumberColumn(
                "accuracy change (points)", format="%+.1f"
            ),
            "flip_share": st.column_config.NumberColumn("flipped", format="percent"),
        },
    )
    st.caption(
        f"{robustness['test_count']} test images from `{robustness.get('data')}`, run at "
        f"{robustness.get('created_at')} by {robustness.get('created_by') or 'not recorded'}. "
        f"{robustness.get('decision', '')}"
    )

st.header("Sign-off report")
st.caption(
    "One self-contained HTML file (no external links): it opens offline and can be archived or "
    "printed. It uses the stored robustness result, or runs the check when there is none."
)
if st.button("Make sign-off report", key="signoff_make_report", icon=":material/description:"):
    try:
        with st.spinner(f"Making the sign-off report of {reference}..."):
            make_signoff_report(registry, reference, data, generated_by=user)
    except (ValueError, FileNotFoundError) as error:
        st.error(f"Report not made: {error}")
try:
    report = read_attachment(record, SIGNOFF_REPORT)
except (ValueError, FileNotFoundError) as error:
    report = None
    st.error(str(error))
if report is None:
    st.info("No sign-off report for this version yet.")
else:
    st.download_button(
        "Download sign-off report (HTML)",
        data=report,
        file_name=f"{record.name}-v{record.version}-signoff.html",
        mime="text/html",
        key="signoff_download",
        icon=":material/download:",
    )
    st.caption(f"The report stored with {reference} ({len(report) / 1024:.0f} KB).")
