"""Operating point: choose an image model's reject threshold from what mistakes cost.

The engineer enters the cost of a missed defect, the cost of a false reject and the line's defect
rate; `core.decisions.operating_point_data.set_operating_point` scores the model's validation
images, picks the threshold of least expected cost and stores it with the model version, where spot
check and batch predict find it.
"""

import streamlit as st

from core import ui
from core.access import policy as access
from core.charts import decisions as charts_decisions
from core.decisions import operating_point_data as decision_data
from core.decisions.operating_point import load_operating_point
from core.demo.models import DEMO_IMAGE_MODEL
from core.registry import catalog as model_catalog

ui.require_login()

RESULT_KEY = "operating_point_result"
RATE_UNITS = {"%": 100.0, "per million": 1_000_000.0}
DEFAULT_RATES = {"%": 2.0, "per million": 20_000.0}
TASK_LABELS = {"image_classification": "classifier", "image_anomaly": "anomaly model"}

st.title("Operating point")
st.markdown(
    "Where should a model draw the line between a good part and a defect? Enter what a "
    "**missed defect** and a **false reject** cost you and how often the line makes defects: "
    "LineSight scores the model's validation images (the seeded split it trained with), picks "
    "the threshold of **least expected cost**, and stores it with the model version."
)

registry = ui.registry()
records = sorted(
    (
        record
        for record in registry.list()
        if record.metadata.get("task") in decision_data.IMAGE_TASKS
    ),
    key=lambda record: (record.name, -record.version),
)
if not records:
    st.warning("No image model is registered yet: train one first.")
    st.stop()
by_reference = {record.reference: record for record in records}
references = list(by_reference)
default = next(
    (index for index, record in enumerate(records) if record.name == DEMO_IMAGE_MODEL), 0
)
reference = st.selectbox(
    "Model",
    references,
    index=default,
    format_func=lambda item: f"{item} ({TASK_LABELS[by_reference[item].metadata['task']]})",
    key="operating_point_model",
)
record = by_reference[reference]
classes = list(record.metadata.get("classes", []))
is_classifier = record.metadata["task"] == decision_data.CLASSIFIER_TASK

costs = st.columns(3)
missed_defect_cost = costs[0].number_input(
    "Cost of a missed defect",
    min_value=0.0,
    value=500.0,
    step=50.0,
    help="What one defective part that ships costs: a return, a complaint, a recall.",
    key="operating_point_missed_cost",
)
false_reject_cost = costs[1].number_input(
    "Cost of a false reject",
    min_value=0.0,
    value=5.0,
    step=1.0,
    help="What one good part rejected costs: scrap or a second inspection.",
    key="operating_point_false_reject_cost",
)
with costs[2]:
    unit = st.radio(
        "Defect rate in", list(RATE_UNITS), horizontal=True, key="operating_point_rate_unit"
    )
    rate_value = st.number_input(
        f"Line defect rate ({unit})",
        min_value=0.0,
        value=DEFAULT_RATES[unit],
        help="How many parts the line makes are defective, before inspection.",
        key=f"operating_point_rate_{unit}",
    )
defect_rate = rate_value / RATE_UNITS[unit]

good_class = None
if is_classifier and decision_data.DEFAULT_GOOD_CLASS not in classes:
    good_class = st.selectbox(
        "Good-part class",
        classes,
        index=None,
        placeholder="This model has no 'ok' class: which class is a good part?",
        key="operating_point_good_class",
    )
elif not is_classifier:
    st.caption(
        f"Anomaly model: the defect score is its anomaly score; good parts are "
        f"'{classes[0] if classes else '?'}'."
    )

data = None
folder = model_catalog.calibration_source(record)
if folder is not None:
    st.caption(
        f"Validation images: the seeded validation split of the model's training folder `{folder}`."
    )
else:
    st.caption(
        "The model's training folder is not on this server: upload a zip of the class folders "
        "it was trained on (its validation split is reproduced from the seed)."
    )
    uploads = ui.checked_uploads(
        st.file_uploader(
            "Zip of the training images (one folder per class)",
            type=["zip"],
            key="operating_point_zip",
            max_upload_size=access.widget_limit_mb(["zip"]),
        )
    )
    data = uploads[0] if uploads else None

if st.button("Choose threshold", type="primary", key="operating_point_choose"):
    try:
        with st.spinner(f"Scoring the validation images of {reference}..."):
            point, curve = decision_data.set_operating_point(
                registry,
                reference,
                missed_defect_cost=missed_defect_cost,
                false_reject_cost=false_reject_cost,
                defect_rate=defect_rate,
                data=data,
                good_class=good_class,
                set_by=ui.current_user_id(),
            )
    except (ValueError, FileNotFoundError) as error:
        st.error(f"Not stored: {error}")
    else:
        st.session_state[RESULT_KEY] = {"point": point, "curve": curve}


def show_metrics(point) -> None:
    top = st.columns(3)
    top[0].metric("Threshold", f"{point.threshold:.4g}")
    top[1].metric("Defect recall", f"{point.defect_recall:.1%}")
    top[2].metric("False-reject rate", f"{point.false_reject_rate:.1%}")
    bottom = st.columns(3)
    bottom[0].metric("Escapes per million parts", f"{point.escapes_per_million:,.0f}")
    bottom[1].metric("False rejects per million parts", f"{point.false_rejects_per_million:,.0f}")
    bottom[2].metric("Expected cost per million parts", f"{point.cost_per_million:,.0f}")
    who = f" by {point.set_by}" if point.set_by else ""
    st.caption(
        f"Stored with {point.model} (set {point.set_at}{who}; missed defect "
        f"{point.missed_defect_cost:g}, false reject {point.false_reject_cost:g}, defect rate "
        f"{point.defect_rate:.3%}; {point.validation_count} validation images, "
        f"{point.validation_defects} defects). Spot check and batch predict use this threshold: "
        "a part whose defect score is at or above it is a defect."
    )


result = st.session_state.get(RESULT_KEY)
if result is not None and result["point"].model == reference:
    point, curve = result["point"], result["curve"]
    st.header("Chosen operating point")
    for note in curve["notes"]:
        st.warning(note)
    show_metrics(point)
    left, right = st.columns(2)
    left.plotly_chart(charts_decisions.roc_chart(curve), key="operating_point_roc")
    right.plotly_chart(
        charts_decisions.precision_recall_chart(curve, defect_rate=point.defect_rate),
        key="operating_point_pr",
    )
    st.plotly_chart(charts_decisions.cost_chart(curve), key="operating_point_cost")
else:
    try:
        stored = load_operating_point(record)
    except (ValueError, FileNotFoundError) as error:
        st.warning(f"The stored operating point of {reference} cannot be read: {error}")
    else:
        if stored is None:
            st.info(f"{reference} has no operating point yet: choose one above.")
        else:
            st.header("Stored operating point")
            show_metrics(stored)
