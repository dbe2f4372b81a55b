"""Tests for core/demo/tour.py: the guided demo's steps, presets and registry reset."""

import ast
import filecmp
import json
import shutil

import pytest

from core import ui
from core.data import sensor_sources
from core.demo import tour as demo_tour
from core.demo.models import DEMO_IMAGE_MODEL, DEMO_MODELS_DIRECTORY, bundled_demo_models
from core.jobs import image as image_jobs
from core.models.image import IMAGE_MODEL_PRESETS
from core.registry.attachments import (
    OPERATING_POINT,
    SIGNOFF_REPORT,
    write_attachment,
    write_json_attachment,
)
from core.registry.store import ModelRegistry
from tests.conftest import REPOSITORY_ROOT

BUNDLED = bundled_demo_models()


def page_widget_keys(page: str) -> tuple[set[str], set[str]]:
    """The widget keys a page draws: `(set directly, drawn through remembered_widget)`.

    `ui.image_source_picker(remembered, uploads, prefix, ...)` draws `<prefix>_source`.
    """
    tree = ast.parse((REPOSITORY_ROOT / page).read_text(encoding="utf-8"))
    direct, remembered = set(), set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = ast.unparse(node.func)
        strings = [arg.value for arg in node.args if isinstance(arg, ast.Constant)]
        strings = [value for value in strings if isinstance(value, str)]
        if name.endswith("remembered_widget"):
            remembered.update(strings)
        elif name == "ui.image_source_picker":
            remembered.add(f"{strings[0]}_source")
        for keyword in node.keywords:
            if keyword.arg == "key" and isinstance(keyword.value, ast.Constant):
                direct.add(keyword.value.value)
    return direct, remembered


def page_strings(page: str) -> set[str]:
    tree = ast.parse((REPOSITORY_ROOT / page).read_text(encoding="utf-8"))
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


# Steps.


def test_the_tour_has_four_steps_in_order_each_on_an_existing_page():
    assert demo_tour.STEP_KEYS == ("spot_check", "training", "results", "sensors")
    for number, step in enumerate(demo_tour.STEPS, start=1):
        assert (REPOSITORY_ROOT / step.page).is_file()
        assert demo_tour.step_number(step.key) == number
        assert step.title and step.action and step.look_at
    assert demo_tour.STEPS[1].page == demo_tour.STEPS[2].page == "pages/train_images.py"
    assert [demo_tour.next_step(key).key for key in demo_tour.STEP_KEYS[:-1]] == [
        "training",
        "results",
        "sensors",
    ]
    assert demo_tour.next_step("sensors") is None


def test_an_unknown_step_is_refused_with_the_known_ones():
    with pytest.raises(ValueError) as error:
        demo_tour.step("models")
    assert str(error.value) == (
        "Expected a demo step among ['spot_check', 'training', 'results', 'sensors']. "
        "Received: key='models'"
    )


def test_each_page_with_a_step_calls_the_banner_right_after_the_login_check():
    for page, key in [
        ("pages/spot_check.py", "spot_check"),
        ("pages/train_images.py", "training"),
        ("pages/sensor_monitor.py", "sensors"),
    ]:
        source = (REPOSITORY_ROOT / page).read_text(encoding="utf-8")
        assert f'ui.require_login()\nui.demo_tour_banner("{key}")\n' in source


def test_presets_name_real_widget_keys_of_their_pages():
    for step in demo_tour.STEPS:
        direct, remembered = page_widget_keys(step.page)
        keys = remembered if step.remembered_in else direct
        assert set(step.presets) <= keys, (step.key, set(step.presets) - keys)
        if step.remembered_in:
            # The page keeps its remembered values under this session key.
            assert step.remembered_in in page_strings(step.page)


def test_preset_values_are_choices_the_pages_offer():
    training = demo_tour.step("training").presets
    assert training["train_images_source"] in ui.IMAGE_SOURCE_CHOICES
    assert training["train_images_model"] in IMAGE_MODEL_PRESETS
    assert training["train_images_size"] in image_jobs.training_defaults()["image_sizes"]
    assert 1 <= training["train_images_epochs"] <= 20
    sensors = demo_tour.step("sensors").presets
    strings = page_strings("pages/sensor_monitor.py")
    assert {sensors["sensor_monitor_source"], sensors["sensor_monitor_mode"]} <= strings
    sample = sensor_sources.sample_source(sensors["sensor_monitor_sample_file"])
    assert sensor_sources.sample_truth(sample, "rul").name == "test_rul.csv"
    assert demo_tour.step("spot_check").presets == {"spot_check_samples": True}


def test_the_save_name_key_is_the_training_pages_name_field():
    assert demo_tour.save_name_key("abc") == "train_images_name_abc"
    assert 'f"train_images_name_{job.job_id}"' in (
        REPOSITORY_ROOT / "pages/train_images.py"
    ).read_text(encoding="utf-8")
    assert demo_tour.TOUR_MODEL_NAME.startswith(demo_tour.TOUR_MODEL_PREFIX)


# Presets in the session.


def test_start_step_sets_direct_presets_and_the_tour_state():
    session = {"spot_check_samples": False, "other": 1}
    step = demo_tour.start_step(session, "spot_check")
    assert step.page == "pages/spot_check.py"
    assert session == {"spot_check_samples": True, "other": 1, "demo_tour": "spot_check"}


def test_remembered_presets_go_into_the_pages_remembered_values():
    session = {"train_images_remembered": {"train_images_rate": 0.01, "train_images_epochs": 99}}
    applied = demo_tour.apply_presets(session, "training")
    assert applied == dict(demo_tour.step("training").presets)
    assert session["train_images_remembered"] == {"train_images_rate": 0.01, **applied}
    assert "train_images_epochs" not in session


def test_a_model_preset_becomes_the_first_version_of_that_model():
    session = {}
    references = ["demo-failure:1", "demo-rul:2", "demo-rul:3", "demo-rul-copy:1"]
    applied = demo_tour.apply_presets(session, "sensors", references)
    assert applied["sensor_monitor_saved"] == "demo-rul:2"
    assert session["sensor_monitor_remembered"]["sensor_monitor_sample_file"] == "test.csv"


def test_a_missing_model_preset_leaves_the_page_default():
    session = {"sensor_monitor_remembered": {"sensor_monitor_saved": "pump:1"}}
    applied = demo_tour.apply_presets(session, "sensors", ["pump:1"])
    assert "sensor_monitor_saved" not in applied
    assert "sensor_monitor_saved" not in session["sensor_monitor_remembered"]


def test_end_tour_removes_the_tour_state_only():
    session = {"demo_tour": "sensors", "spot_check_samples": True}
    demo_tour.end_tour(session)
    demo_tour.end_tour(session)
    assert session == {"spot_check_samples": True}


@pytest.mark.parametrize(
    ("state", "best_epoch", "expected"),
    [
        (None, None, "training"),
        ("queued", None, "training"),
        ("running", None, "training"),
        ("failed", None, "training"),
        ("cancelled", None, "training"),
        ("cancelled", 2, "results"),
        ("succeeded", 5, "results"),
    ],
)
def test_the_training_page_is_at_results_once_the_newest_job_has_some(state, best_epoch, expected):
    assert demo_tour.training_page_step(state, best_epoch) == expected


# Reset.


def test_reset_restores_the_bundled_demos_and_leaves_other_models(tmp_path):
    registry = ModelRegistry(tmp_path / "registry")
    first = demo_tour.reset_demo(registry)
    assert first["demo_models"] == first["reimported"] == [f"{name}:1" for name in BUNDLED]
    assert DEMO_IMAGE_MODEL in BUNDLED

    other_model = BUNDLED["demo-seed-cnn"] / "model.keras"
    metadata = json.loads((BUNDLED[DEMO_IMAGE_MODEL] / "metadata.json").read_text())
    for key in ("name", "version"):
        metadata.pop(key, None)
    registry.import_model_file(other_model, DEMO_IMAGE_MODEL, metadata | {"owner": "alice"})
    write_json_attachment(registry.get("demo-rul:1"), OPERATING_POINT, {"threshold": 0.5})
    write_attachment(registry.get(f"{DEMO_IMAGE_MODEL}:1"), SIGNOFF_REPORT, b"<html></html>")
    registry.import_model_file(other_model, "demo-tour-defect-cnn", metadata)
    registry.import_model_file(other_model, "demo-tour-defect-cnn", metadata)
    registry.import_model_file(other_model, "line3-cnn", metadata | {"owner": "bob"})

    summary = demo_tour.reset_demo(registry)

    assert summary == {
        "demo_models": [f"{name}:1" for name in BUNDLED],
        "reimported": [],
        "removed_versions": [f"{DEMO_IMAGE_MODEL}:2"],
        "removed_files": [
            f"{DEMO_IMAGE_MODEL}:1/{SIGNOFF_REPORT}",
            f"demo-rul:1/{OPERATING_POINT}",
        ],
        "removed_tour_models": ["demo-tour-defect-cnn:1", "demo-tour-defect-cnn:2"],
    }
    demo = [record for record in registry.list() if record.name == DEMO_IMAGE_MODEL]
    assert [record.version for record in demo] == [1]
    assert filecmp.cmp(demo[0].model_path, BUNDLED[DEMO_IMAGE_MODEL] / "model.keras", False)
    for name, folder in BUNDLED.items():
        version_directory = registry.directory / name / "1"
        assert sorted(path.name for path in version_directory.iterdir()) == [
            "metadata.json",
            "model.keras",
        ]
        assert filecmp.cmp(version_directory / "model.keras", folder / "model.keras", False)
    assert "demo-tour-defect-cnn" not in registry.names()
    assert registry.get("line3-cnn").metadata["owner"] == "bob"
    assert sorted(registry.names()) == sorted([*BUNDLED, "line3-cnn"])


def test_reset_reimports_missing_and_altered_demos_and_drops_unreadable_entries(tmp_path):
    registry = ModelRegistry(tmp_path / "registry")
    demo_tour.reset_demo(registry)
    registry.delete("demo-rul")
    metadata_path = registry.directory / "demo-failure" / "1" / "metadata.json"
    metadata = json.loads(metadata_path.read_text())
    metadata_path.write_text(json.dumps(metadata | {"notes": "edited by hand"}))
    (registry.directory / "demo-anomaly" / "7").mkdir()
    (registry.directory / "demo-anomaly" / "notes.txt").write_text("stray")
    (registry.directory / "demo-tour-broken").mkdir()

    summary = demo_tour.reset_demo(registry)

    assert summary["reimported"] == ["demo-failure:1", "demo-rul:1"]
    assert summary["removed_versions"] == [
        "demo-anomaly/7",
        "demo-anomaly/notes.txt",
        "demo-failure:1",
    ]
    assert summary["removed_tour_models"] == ["demo-tour-broken"]
    assert "notes" not in registry.get("demo-failure:1").metadata
    assert sorted(path.name for path in (registry.directory / "demo-anomaly").iterdir()) == ["1"]
    assert not (registry.directory / "demo-tour-broken").exists()
    again = demo_tour.reset_demo(registry)
    assert again["reimported"] == again["removed_versions"] == again["removed_files"] == []


def test_reset_uses_the_bundle_directory_given(tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(DEMO_MODELS_DIRECTORY / "demo-rul", bundle / "demo-rul")
    registry = ModelRegistry(tmp_path / "registry")
    summary = demo_tour.reset_demo(registry, bundle)
    assert summary["demo_models"] == ["demo-rul:1"]
    assert registry.names() == ["demo-rul"]


def test_reset_message_lists_what_changed():
    summary = {
        "demo_models": ["demo-defect-cnn:1", "demo-rul:1"],
        "reimported": ["demo-rul:1"],
        "removed_versions": ["demo-defect-cnn:2"],
        "removed_files": ["demo-rul:1/robustness.json"],
        "removed_tour_models": ["demo-tour-defect-cnn:1"],
    }
    assert demo_tour.reset_message(summary) == (
        "Demo reset.\n"
        "- Demo models as bundled: demo-defect-cnn:1, demo-rul:1\n"
        "- Imported again (missing or altered): demo-rul:1\n"
        "- Removed versions added to demo models: demo-defect-cnn:2\n"
        "- Removed files beside demo models: demo-rul:1/robustness.json\n"
        "- Removed models saved by the demo tour: demo-tour-defect-cnn:1"
    )
    unchanged = {key: [] for key in summary} | {"demo_models": ["demo-rul:1"]}
    assert demo_tour.reset_message(unchanged) == (
        "Demo reset.\n- Demo models as bundled: demo-rul:1\n- Nothing else needed changing."
    )


def test_reset_message_refuses_anything_but_a_reset_summary():
    with pytest.raises(ValueError) as error:
        demo_tour.reset_message(["demo-rul:1"])
    assert str(error.value).startswith("Expected the dict returned by reset_demo. Received: ")
