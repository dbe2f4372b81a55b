"""Sign-off: the robustness check and the HTML sign-off report of an image model version."""

import pandas as pd
import streamlit as st

from core import ui
from core.charts import robustness as charts_robustness
from core.decisions.robustness import run_robustness
from core.decisions.signoff_report import make_signoff_report
from core.registry.attachments import (
    ROBUSTNESS,
    SIGNOFF_REPORT,
    read_attachment,
    read_json_attachment,
)
from core.registry.catalog import calibration_source

ui.require_login()


def stored_result(label, key, icon, *, make, making, failed, read, missing):
    """A button that makes and stores a result (`make()`), then the stored result (`read()`).

    Returns:
        The stored result, or None: there is none yet (`missing` is shown) or it cannot be read
        (the error is shown).
    """
    if st.button(label, key=key, icon=icon):
        try:
            with st.spinner(making):
                make()
        except (ValueError, FileNotFoundError) as error:
            st.error(f"{failed}: {error}")
    try:
        stored = read()
    except (ValueError, FileNotFoundError) as error:
        st.error(str(error))
        return None
    if stored is None:
        st.info(missing)
    return stored


st.title("Sign-off")
st.markdown(
    "Before a model goes on the line: check how it copes with camera drift (**robustness**), "
    "then make the **sign-off report**, one HTML file holding its data, training, test "
    "metrics, threshold, sample heatmaps and robustness, ready to sign. Both are stored with "
    "the model version."
)

registry = ui.registry()
record = ui.image_model_picker("signoff_model")
reference = record.reference
user = ui.current_user_id() or "not logged in"

source = calibration_source(record)
with st.expander("Test images", expanded=source is None):
    st.caption(
        "The robustness check and the sample heatmaps use the model's test split, cut again "
        "from its training images with the recorded seed: " + ui.training_folder_note(source)
    )
    data = ui.zip_upload("Zip of training images (one folder per class)", "signoff_zip")

st.header("Robustness")
st.caption(
    "Re-scores the test images brighter, darker, with less contrast, blurred, slightly rotated, "
    "shifted and noisy (two severities each): the accuracy under each change and the share of "
    "predictions that flip. Inference only: a few seconds."
)


robustness = stored_result(
    "Run robustness check", "signoff_run_robustness", ":material/science:",
    make=lambda: run_robustness(registry, reference, data, created_by=user),
    making=f"Re-scoring the test images of {reference}...", failed="Robustness check failed",
    read=lambda: read_json_attachment(record, ROBUSTNESS),
    missing="No robustness check for this version yet.",
)  # fmt: skip
if robustness is not None:
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
report = stored_result(
    "Make sign-off report", "signoff_make_report", ":material/description:",
    make=lambda: make_signoff_report(registry, reference, data, generated_by=user),
    making=f"Making the sign-off report of {reference}...", failed="Report not made",
    read=lambda: read_attachment(record, SIGNOFF_REPORT),
    missing="No sign-off report for this version yet.",
)  # fmt: skip
if report is not None:
    st.download_button(
        "Download sign-off report (HTML)",
        data=report,
        file_name=f"{record.name}-v{record.version}-signoff.html",
        mime="text/html",
        key="signoff_download",
        icon=":material/download:",
    )
    st.caption(f"The report stored with {reference} ({len(report) / 1024:.0f} KB).")
