"""AppTest for the guided demo's banner: each step's text, Next applying presets, End demo."""

import pytest
from streamlit.testing.v1 import AppTest

from core import ui
from core.demo import tour as demo_tour
from tests.helpers.jobs import TRAINING_TIMEOUT_SECONDS, rerun_until


@pytest.fixture
def open_app(open_session):
    """Opens the app in fresh sessions; their jobs are cancelled afterwards."""
    return open_session


def texts(elements) -> list[str]:
    return [element.value for element in elements]


def banner_title(app: AppTest) -> str | None:
    return next((text for text in texts(app.markdown) if text.startswith("**Demo step")), None)


def keys(app: AppTest) -> list[str]:
    return [button.key for button in app.button]


def open_in_tour(app: AppTest, step_key: str) -> AppTest:
    """Opens a step's page as the tour does, without going through the steps before it."""
    app.session_state[demo_tour.TOUR_STATE_KEY] = step_key
    app.switch_page(demo_tour.step(step_key).page).run()
    assert not app.exception, app.exception
    return app


def test_without_the_tour_the_pages_show_no_banner(open_app):
    app = open_app()
    for page in ("pages/spot_check.py", "pages/train_images.py", "pages/sensor_monitor.py"):
        app.switch_page(page).run()
        assert not app.exception, app.exception
        assert banner_title(app) is None
        assert "demo_tour_next" not in keys(app)


def test_next_on_the_spot_check_step_presets_the_training_page(open_app):
    app = open_in_tour(open_app(), "spot_check")
    assert banner_title(app) == "**Demo step 1 of 4: Spot check sample images**"
    assert app.button(key="demo_tour_next").label == "Next: Train a model"

    app.button(key="demo_tour_next").click().run()
    assert not app.exception, app.exception
    assert app.title[0].value == "Train an image model"
    assert banner_title(app) == "**Demo step 2 of 4: Train a model**"
    assert any("press **Start training**" in text for text in texts(app.markdown))
    presets = demo_tour.step("training").presets
    assert app.radio(key="train_images_source").value == presets["train_images_source"]
    assert app.radio(key="train_images_model").value == presets["train_images_model"]
    assert app.radio(key="train_images_size").value == presets["train_images_size"]
    assert app.number_input(key="train_images_epochs").value == presets["train_images_epochs"]
    # Results come next on the same page: Next waits for the training to finish.
    assert app.button(key="demo_tour_next").label == "Next: Read the results"
    assert app.button(key="demo_tour_next").disabled
    assert not app.warning, texts(app.warning)


def test_end_demo_leaves_the_tour_and_opens_home(open_app):
    app = open_in_tour(open_app(), "training")
    assert banner_title(app) == "**Demo step 2 of 4: Train a model**"
    app.button(key="demo_tour_end").click().run()
    assert not app.exception, app.exception
    assert app.title[0].value == "LineSight"
    assert demo_tour.TOUR_STATE_KEY not in app.session_state
    app.switch_page("pages/spot_check.py").run()
    assert banner_title(app) is None


@pytest.mark.slow
def test_the_sensor_step_scores_the_bundled_test_machines_and_end_demo_goes_home(open_app):
    app = open_app()
    references = [record.reference for record in ui.registry().list()]
    remembered = {}
    demo_tour.apply_presets({"sensor_monitor_remembered": remembered}, "sensors", references)
    app.session_state["sensor_monitor_remembered"] = remembered
    open_in_tour(app, "sensors")
    assert banner_title(app) == "**Demo step 4 of 4: Predict remaining useful life**"
    assert "demo_tour_next" not in keys(app)
    assert app.selectbox(key="sensor_monitor_saved").value == "demo-rul:1"
    assert "Remaining useful life" in texts(app.subheader)

    app.button(key="demo_tour_end").click().run()
    assert not app.exception, app.exception
    assert app.title[0].value == "LineSight"
    assert demo_tour.TOUR_STATE_KEY not in app.session_state


@pytest.mark.slow
def test_the_whole_tour_trains_shows_results_then_sensors(open_app):
    app = open_app()
    app.button(key="home_demo_start").click().run()
    assert banner_title(app) == "**Demo step 1 of 4: Spot check sample images**"
    app.button(key="demo_tour_next").click().run()
    assert banner_title(app) == "**Demo step 2 of 4: Train a model**"
    app.number_input(key="train_images_epochs").set_value(1)  # Quicker than the tour's preset.
    app.button(key="train_images_start").click().run()
    assert not app.error, texts(app.error)

    rerun_until(
        app,
        lambda app: "Confusion matrix" in texts(app.subheader),
        timeout=TRAINING_TIMEOUT_SECONDS,
        what="training",
        allow_errors=True,
    )
    assert banner_title(app) == "**Demo step 3 of 4: Read the results**"
    name_field = next(
        field for field in app.text_input if field.key.startswith("train_images_name")
    )
    assert name_field.value == demo_tour.TOUR_MODEL_NAME
    assert app.button(key="demo_tour_next").label == "Next: Predict remaining useful life"

    app.button(key="demo_tour_next").click().run()
    assert not app.exception, app.exception
    assert app.title[0].value == "Sensor monitor"
    assert banner_title(app) == "**Demo step 4 of 4: Predict remaining useful life**"
    assert "Remaining useful life" in texts(app.subheader)
    assert app.session_state[demo_tour.TOUR_STATE_KEY] == "sensors"
