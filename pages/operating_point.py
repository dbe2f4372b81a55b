"""Operating point: choose an image model's reject threshold from what mistakes cost.

The engineer enters the cost of a missed defect, the cost of a false reject and the line's defect
rate; `core.decisions.operating_point_data.set_operating_point` scores the model's validation
images, picks the threshold of least expected cost and stores it with the model version, where spot
check and batch predict find it.
"""

import streamlit as st

from core import ui
from core.charts import decisions as charts_decisions
from core.decisions import operating_point_data as decision_data
from core.decisions.operating_point import load_operating_point
from core.registry import catalog as model_catalog

ui.require_login()

RESULT_KEY = "operating_point_result"
RATE_UNITS = {"%": 100.0, "per million": 1_000_000.0}
DEFAULT_RATES = {"%": 2.0, "per million": 20_000.0}
TASK_LABELS = {"image_classification": "classifier", "image_anomaly": "anomaly model"}
# The two cost fields: label, first value, step, help and key.
COSTS = (
    (
        "Cost of a missed defect", 500.0, 50.0,
        "What one defective part that ships costs: a return, a complaint, a recall.",
        "operating_point_missed_cost",
    ),
    (
        "Cost of a false reject", 5.0, 1.0,
        "What one good part rejected costs: scrap or a second inspection.",
        "operating_point_false_reject_cost",
    ),
)  # fmt: skip

st.title("Operating point")
st.markdown(
    "Where should a model draw the line between a good part and a defect? Enter what a "
    "**missed defect** and a **false reject** cost you and how often the line makes defects: "
    "LineSight scores the model's validation images (the seeded split it trained with), picks "
    "the threshold of **least expected cost**, and stores it with the model version."
)

registry = ui.registry()
record = ui.image_model_picker(
    "operating_point_model",
    describe=lambda record: f"{record.reference} ({TASK_LABELS[record.metadata['task']]})",
)
reference = record.reference
classes = list(record.metadata.get("classes", []))
is_classifier = record.metadata["task"] == decision_data.CLASSIFIER_TASK

costs = st.columns(3)
missed_defect_cost, false_reject_cost = (
    column.number_input(label, min_value=0.0, value=value, step=step, help=hint, key=key)
    for column, (label, value, step, hint, key) in zip(costs, COSTS, strict=False)
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
    data = ui.zip_upload("Zip of the training images (one folder per class)", "operating_point_zip")

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
