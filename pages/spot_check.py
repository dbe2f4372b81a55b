"""Spot check: upload product images and see each verdict, its confidence and a heatmap (Grad-CAM
for a classifier, the anomaly map for an anomaly model)."""

import streamlit as st

from core import ui
from core.charts import common as charts
from core.data.tables import predictions_csv
from core.inference import spot_check as checks
from core.inference.verdicts import decision_summary

ui.require_login()
ui.demo_tour_banner("spot_check")

UPLOAD_TYPES = ["png", "jpg", "jpeg", "bmp", "tif", "tiff", "zip"]
GRID_LIMIT = 24
GRID_COLUMNS = 3
THUMBNAIL_WIDTH = 130
RESULT_KEY = "spot_check_result"
SORT_ORDERS = {
    "Least confident first": ("confidence", True),
    "Most confident first": ("confidence", False),
    "Name": ("name", True),
    "Predicted class": ("predicted", True),
}

st.title("Spot check")
st.markdown(
    "Upload product images (one, many, or a **zip**) and a registered model labels each one, "
    "with its confidence, every class probability and a **heatmap**: Grad-CAM of where a "
    "classifier looked, or the anomaly map of a model trained on good parts only. "
    "Files that cannot be read are listed with the reason; the others are still checked."
)


def describe_model(record) -> str:
    metrics = record.metadata.get("metrics", {})
    if metrics.get("image_auroc") is not None:
        return f"{record.reference} (anomaly model, test AUROC {metrics['image_auroc']:.3f})"
    if metrics.get("accuracy") is not None:
        return f"{record.reference} (test accuracy {metrics['accuracy']:.1%})"
    return record.reference


record = ui.image_model_picker("spot_check_model", describe=describe_model)
reference = record.reference
is_anomaly_model = record.metadata.get("task") == "image_anomaly"
heatmap_name = "Anomaly map" if is_anomaly_model else "Grad-CAM"
# An anomaly model's two "probabilities" squash its score around the threshold: not calibrated.
probability_title = (
    "Score against the threshold (squashed, not a probability)"
    if is_anomaly_model
    else "Class probabilities"
)
st.caption(
    f"Classes: {', '.join(record.metadata.get('classes', []))}. Input: "
    f"{'x'.join(str(size) for size in record.metadata.get('input_shape', []))} pixels; "
    "uploads are resized to it."
)
uploads = st.file_uploader(
    "Images or a zip of images",
    type=UPLOAD_TYPES,
    accept_multiple_files=True,
    key="spot_check_upload",
)
options = st.columns(2)
use_samples = options[0].toggle(
    "Try the bundled sample images (held aside from training)", key="spot_check_samples"
)
explain = options[1].toggle("Heatmap overlay", value=True, key="spot_check_overlay")

files = ui.checked_uploads(uploads)  # Each over its type's size limit is shown and left out.
if use_samples:
    files += checks.sample_files()
if not files:
    st.info("Upload images above, or switch on the bundled sample images.")
    st.stop()

# Widgets below (filters, sort, detail) rerun the page: keep the last result for the same input.
try:
    with st.spinner(f"Loading {reference}..."):
        # Cached per version; the stored operating point is read afresh on every run.
        predictor, _ = ui.predictor(reference)
except ValueError as error:
    st.error(str(error))
    st.stop()
decision = decision_summary(predictor)
cache_key = checks.files_digest(
    files, reference, record.model_path.stat().st_mtime, explain, decision
)
cached = st.session_state.get(RESULT_KEY)
if cached is not None and cached[0] == cache_key:
    result = cached[1]
else:
    try:
        with st.spinner(f"Checking {len(files)} file(s) with {reference}..."):
            result = checks.spot_check(predictor, files, explain=explain, max_overlays=GRID_LIMIT)
    except ValueError as error:
        st.error(str(error))
        st.stop()
    st.session_state[RESULT_KEY] = (cache_key, result)

frame = result.frame
if result.rejected:
    st.error(f"{len(result.rejected)} file(s) could not be read; the others were checked.")
    st.dataframe(result.rejected_frame(), hide_index=True, key="spot_check_rejected")
if frame.empty:
    st.info("No readable image among the files.")
    st.stop()

st.caption(decision)
summary = st.columns(3)
summary[0].metric("Images checked", len(frame))
summary[1].metric("Rejected files", len(result.rejected))
summary[2].metric("Most common verdict", frame["predicted"].value_counts().index[0])

st.subheader("Images")
if len(frame) > GRID_LIMIT:
    st.caption(f"The first {GRID_LIMIT} of {len(frame)} images; the table below lists them all.")
shown = result.rows[:GRID_LIMIT]
for start in range(0, len(shown), GRID_COLUMNS):
    cells = st.columns(GRID_COLUMNS)
    for offset, row in enumerate(shown[start : start + GRID_COLUMNS]):
        index = start + offset
        with cells[offset]:
            pictures = [result.images[index]]
            if result.overlays is not None:
                pictures.append(result.overlays[index])
            st.image(pictures, width=THUMBNAIL_WIDTH)
            ranked = sorted(row["probabilities"].items(), key=lambda item: -item[1])
            st.markdown(f"**{row['predicted']}** {row['confidence']:.1%}  \n`{row['name']}`")
            st.caption(" · ".join(f"{name} {value:.0%}" for name, value in ranked))

st.subheader("Look closer")
names = [row["name"] for row in result.rows]
chosen = st.selectbox(
    "Image", range(len(names)), format_func=names.__getitem__, key="spot_check_detail"
)
detail = st.columns([1, 1, 2])
detail[0].image(result.images[chosen], caption="Image (model input)", width="stretch")
if result.overlays is not None and chosen < len(result.overlays):
    detail[1].image(
        result.overlays[chosen],
        caption=f"{heatmap_name} of '{result.rows[chosen]['predicted']}'",
        width="stretch",
    )
elif result.overlays is not None:
    detail[1].caption(f"Heatmaps are drawn for the first {GRID_LIMIT} images only.")
with detail[2]:
    st.plotly_chart(
        charts.probability_bars(result.rows[chosen]["probabilities"], title=probability_title),
        key="spot_check_probabilities",
    )

st.subheader("All predictions")
filters = st.columns(3)
classes = filters[0].multiselect(
    "Predicted class", result.class_names, default=result.class_names, key="spot_check_classes"
)
max_confidence = filters[1].slider(
    "Confidence at most (review uncertain ones)",
    min_value=0.0,
    max_value=1.0,
    value=1.0,
    step=0.05,
    key="spot_check_max_confidence",
)
order = filters[2].selectbox("Sort by", list(SORT_ORDERS), key="spot_check_sort")
table = checks.filter_predictions(frame, classes=classes, max_confidence=max_confidence)
column, ascending = SORT_ORDERS[order]
table = table.sort_values(column, ascending=ascending, kind="stable")
st.caption(f"{len(table)} of {len(frame)} predictions shown.")
st.dataframe(
    table,
    hide_index=True,
    key="spot_check_table",
    column_config={
        "confidence": st.column_config.ProgressColumn(
            "confidence", format="percent", min_value=0.0, max_value=1.0
        ),
        "score": st.column_config.NumberColumn("anomaly score", format="%.3f"),
        "defect_score": st.column_config.NumberColumn("defect score", format="%.3f"),
        "threshold": st.column_config.NumberColumn("threshold", format="%.3f"),
        **{
            f"p_{name}": st.column_config.NumberColumn(f"p_{name}", format="%.3f")
            for name in result.class_names
        },
    },
)
st.download_button(
    f"Download all {len(frame)} predictions (CSV)",
    data=predictions_csv(frame),  # File names a spreadsheet would run as formulas are quoted.
    file_name="spot_check_predictions.csv",
    mime="text/csv",
    key="spot_check_csv",
    icon=":material/download:",
)
