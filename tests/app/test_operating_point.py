"""AppTest for the operating-point page: costs in, threshold chosen, stored and charted."""

import json

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.demo.models import DEMO_IMAGE_MODEL
from core.registry.attachments import OPERATING_POINT
from tests.conftest import REPOSITORY_ROOT

APP = str(REPOSITORY_ROOT / "app.py")
PAGE = "pages/operating_point.py"
METRIC_LABELS = [
    "Threshold",
    "Defect recall",
    "False-reject rate",
    "Escapes per million parts",
    "False rejects per million parts",
    "Expected cost per million parts",
]


def open_page() -> AppTest:
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    app.switch_page(PAGE).run()
    assert not app.exception, app.exception
    return app


def metrics(app: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in app.metric}


def figures(app: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]


@pytest.mark.slow
def test_choosing_the_demo_models_threshold_stores_and_charts_it(isolated_registry):
    app = open_page()
    assert app.selectbox(key="operating_point_model").value == f"{DEMO_IMAGE_MODEL}:1"
    assert (
        app.info[0].value == f"{DEMO_IMAGE_MODEL}:1 has no operating point yet: choose one above."
    )
    assert app.number_input(key="operating_point_missed_cost").value == 500
    assert app.number_input(key="operating_point_false_reject_cost").value == 5
    assert app.number_input(key="operating_point_rate_%").value == 2

    app.button(key="operating_point_choose").click().run()
    assert not app.exception, app.exception
    assert not app.error
    shown = metrics(app)
    assert list(shown) == METRIC_LABELS
    stored = json.loads((isolated_registry / DEMO_IMAGE_MODEL / "1" / OPERATING_POINT).read_text())
    assert shown["Threshold"] == f"{stored['threshold']:.4g}"
    assert shown["Defect recall"] == f"{stored['defect_recall']:.1%}"
    assert shown["Escapes per million parts"] == f"{stored['escapes_per_million']:,.0f}"
    assert (stored["missed_defect_cost"], stored["false_reject_cost"]) == (500, 5)
    assert stored["defect_rate"] == 0.02
    assert any(
        f"Stored with {DEMO_IMAGE_MODEL}:1" in caption.value
        and "Spot check and batch predict use this threshold" in caption.value
        for caption in app.caption
    )
    titles = [figure["layout"]["title"]["text"] for figure in figures(app)]
    assert titles[0].startswith("ROC curve (validation images), AUC ")
    assert titles[1:] == [
        "Precision-recall at the line's defect rate",
        "Expected cost per million parts",
    ]

    # A new session sees the stored point; the defect rate may be given per million.
    app = open_page()
    assert app.header[0].value == "Stored operating point"
    assert metrics(app)["Threshold"] == f"{stored['threshold']:.4g}"
    app.radio(key="operating_point_rate_unit").set_value("per million").run()
    assert app.number_input(key="operating_point_rate_per million").value == 20_000
    app.number_input(key="operating_point_rate_per million").set_value(500.0).run()
    app.button(key="operating_point_choose").click().run()
    assert not app.exception, app.exception
    stored = json.loads((isolated_registry / DEMO_IMAGE_MODEL / "1" / OPERATING_POINT).read_text())
    assert stored["defect_rate"] == 0.0005
    assert app.header[0].value == "Chosen operating point"


def test_a_bad_cost_is_refused_and_the_inputs_stay(isolated_registry):
    app = open_page()
    app.number_input(key="operating_point_missed_cost").set_value(0.0).run()
    app.button(key="operating_point_choose").click().run()
    assert not app.exception, app.exception
    assert app.error[0].value == (
        "Not stored: Expected `missed_defect_cost` to be a positive finite number (a cost per "
        "part). Received: missed_defect_cost=0.0"
    )
    assert not metrics(app)
    assert not (isolated_registry / DEMO_IMAGE_MODEL / "1" / OPERATING_POINT).exists()
    assert app.number_input(key="operating_point_missed_cost").value == 0
    assert app.number_input(key="operating_point_false_reject_cost").value == 5


def register_model_without_ok(registry_directory, data_folder) -> str:
    """Registers a tiny 8x8 classifier of classes 'good' and 'scratch' trained on nothing."""
    import keras

    from core.registry.store import ModelRegistry

    for name, brightness in (("good", 20), ("scratch", 220)):
        (data_folder / name).mkdir(parents=True)
        for index in range(6):
            pixels = np.full((8, 8), brightness + index, dtype=np.uint8)
            Image.fromarray(pixels).save(data_folder / name / f"{name}_{index}.png")
    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(inputs))
    metadata = {
        "task": "image_classification",
        "classes": ["good", "scratch"],
        "input_shape": [8, 8, 1],
        "preprocessing": {},
        "training_config": {"validation_fraction": 0.34, "test_fraction": 0.17, "seed": 1},
        "metrics": {},
        "history": {},
        "dataset_fingerprint": "unknown",
        "extra": {"dataset": {"source": str(data_folder)}},
    }
    record = ModelRegistry(registry_directory).save(keras.Model(inputs, outputs), "line3", metadata)
    return record.reference


def test_a_classifier_without_ok_asks_for_its_good_class(isolated_registry, tmp_path):
    app = open_page()  # Registers the demo models first.
    reference = register_model_without_ok(isolated_registry, tmp_path / "line3")
    app = open_page()
    app.selectbox(key="operating_point_model").set_value(reference).run()
    good_class = app.selectbox(key="operating_point_good_class")
    assert good_class.value is None
    assert good_class.options == ["good", "scratch"]
    app.button(key="operating_point_choose").click().run()
    assert not app.exception, app.exception
    assert app.error[0].value == (
        "Not stored: Expected good_class, the good-part class among the model's classes "
        "['good', 'scratch'] (it has no 'ok' class). Received: good_class=None"
    )

    app.selectbox(key="operating_point_good_class").set_value("good").run()
    app.button(key="operating_point_choose").click().run()
    assert not app.exception, app.exception
    assert not app.error
    assert list(metrics(app)) == METRIC_LABELS
    stored = json.loads((isolated_registry / "line3" / "1" / OPERATING_POINT).read_text())
    assert stored["good_class"] == "good"
    assert stored["validation_count"] == 4
