"""AppTest for the home page."""

import json
import subprocess
import sys

from streamlit.testing.v1 import AppTest

from core.demo.models import bundled_demo_models, ensure_demo_models
from core.registry.attachments import OPERATING_POINT, write_json_attachment
from core.registry.store import ModelRegistry
from tests.app.test_access import ALICE, AUTH
from tests.conftest import REPOSITORY_ROOT

APP = str(REPOSITORY_ROOT / "app.py")


def test_home_shows_sample_grid_and_sensor_curves():
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    assert not app.exception, app.exception
    assert app.title[0].value == "LineSight"
    subheaders = [element.value for element in app.subheader]
    assert "Surface images per class" in subheaders
    image_rows = app.image
    assert len(image_rows) == 5, "expected one row of images per sample class"
    assert all(len(row.proto.imgs) == 6 for row in image_rows)
    charts = app.get("plotly_chart")
    assert len(charts) == 1
    figure = json.loads(charts[0].proto.spec)
    assert len(figure["data"]) >= 3, "expected one panel per informative sensor"


def test_choosing_another_machine_redraws_its_curves():
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    first = json.loads(app.get("plotly_chart")[0].proto.spec)
    units = app.selectbox(key="home_unit").options
    app.selectbox(key="home_unit").set_value(int(units[1])).run()
    second = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert first["layout"]["title"]["text"] != second["layout"]["title"]["text"]


def test_home_renders_without_importing_tensorflow():
    # A fresh interpreter: other tests in this process may have imported TensorFlow already.
    script = (
        "import sys, json\n"
        "from streamlit.testing.v1 import AppTest\n"
        f"app = AppTest.from_file({APP!r}, default_timeout=60)\n"
        "app.run()\n"
        "print(json.dumps({'exception': bool(app.exception), "
        "'tensorflow': 'tensorflow' in sys.modules, 'keras': 'keras' in sys.modules}))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPOSITORY_ROOT,
        check=True,
    )
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result == {"exception": False, "tensorflow": False, "keras": False}


# The guided demo.


def add_tour_model_and_attachment(directory) -> None:
    registry = ModelRegistry(directory)
    ensure_demo_models(registry)
    folder = bundled_demo_models()["demo-seed-cnn"]
    metadata = json.loads((folder / "metadata.json").read_text())
    metadata = {key: value for key, value in metadata.items() if key not in ("name", "version")}
    registry.import_model_file(folder / "model.keras", "demo-tour-defect-cnn", metadata)
    write_json_attachment(registry.get("demo-rul:1"), OPERATING_POINT, {"threshold": 0.5})


def test_start_demo_sets_the_tour_state_and_opens_spot_check_on_the_samples(isolated_registry):
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    assert "Guided demo" in [element.value for element in app.header]
    app.button(key="home_demo_start").click().run()
    assert not app.exception, app.exception
    assert app.session_state["demo_tour"] == "spot_check"
    assert app.title[0].value == "Spot check"
    assert app.markdown[0].value == "**Demo step 1 of 4: Spot check sample images**"
    assert app.toggle(key="spot_check_samples").value is True
    metrics = {metric.label: metric.value for metric in app.metric}
    assert int(metrics["Images checked"]) > 0


def test_reset_demo_asks_for_confirmation_then_restores_the_demo_models(isolated_registry):
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    add_tour_model_and_attachment(isolated_registry)

    app.button(key="home_demo_reset").click().run()
    assert app.warning[0].value.startswith("Reset the demo models?")
    app.button(key="home_demo_reset_cancel").click().run()
    assert not app.warning
    assert "demo-tour-defect-cnn" in ModelRegistry(isolated_registry).names()

    app.button(key="home_demo_reset").click().run()
    app.button(key="home_demo_reset_confirm").click().run()
    assert not app.exception, app.exception
    assert not app.warning
    message = app.success[0].value
    assert message.startswith("Demo reset.\n- Demo models as bundled: ")
    assert "demo-defect-cnn:1" in message
    assert f"- Removed files beside demo models: demo-rul:1/{OPERATING_POINT}" in message
    assert "- Removed models saved by the demo tour: demo-tour-defect-cnn:1" in message
    assert "demo-tour-defect-cnn" not in ModelRegistry(isolated_registry).names()


def test_reset_demo_is_refused_while_login_is_on(isolated_registry):
    app = AppTest.from_file(APP, default_timeout=120)
    app.secrets["auth"] = AUTH
    app.user = dict(ALICE)
    app.run()
    add_tour_model_and_attachment(isolated_registry)
    app.button(key="home_demo_reset").click().run()
    assert not app.exception, app.exception
    assert "Reset demo is off while login is on" in app.error[0].value
    assert "`python -m core demo-reset`" in app.error[0].value
    assert not app.warning
    assert not [button for button in app.button if button.key == "home_demo_reset_confirm"]
    assert "demo-tour-defect-cnn" in ModelRegistry(isolated_registry).names()
