"""AppTest for the home page."""

import json
import subprocess
import sys

from streamlit.testing.v1 import AppTest

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
