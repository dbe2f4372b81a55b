"""Tests for core/data/sample_data.py: the sample data generator and the committed `sample_data/`
directory."""

from __future__ import annotations

import filecmp
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core.data import sample_data, synthetic_images, synthetic_sensors
from tests.conftest import REPOSITORY_ROOT

COMMITTED = sample_data.DEFAULT_SAMPLE_DIRECTORY
DEFECT_CLASSES = [name for name in synthetic_images.IMAGE_CLASSES if name != "ok"]
REQUIRED_COLUMNS = [
    "unit",
    "cycle",
    *synthetic_sensors.SETTING_COLUMNS,
    *synthetic_sensors.SENSOR_COLUMNS,
    "failure_mode",
]


def _tree(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def _assert_same_tree(left: Path, right: Path) -> None:
    assert _tree(left) == _tree(right)
    differing = [
        name for name in _tree(left) if not filecmp.cmp(left / name, right / name, shallow=False)
    ]
    assert differing == []


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, dict]:
    directory = tmp_path_factory.mktemp("generated")
    summary = sample_data.generate_sample_data(directory)
    return directory, summary


@pytest.mark.slow
def test_generating_twice_gives_identical_bytes(generated, tmp_path):
    first, first_summary = generated
    second_summary = sample_data.generate_sample_data(tmp_path)
    _assert_same_tree(first, tmp_path)
    assert second_summary["total_bytes"] == first_summary["total_bytes"]


@pytest.mark.slow
def test_generated_tree_equals_committed_sample_data(generated):
    directory, _ = generated
    _assert_same_tree(directory, COMMITTED)


@pytest.mark.slow
def test_summary_counts_and_size(generated):
    directory, summary = generated
    assert summary["images_per_class"] == dict.fromkeys(synthetic_images.IMAGE_CLASSES, 160)
    assert summary["masks_per_class"] == dict.fromkeys(DEFECT_CLASSES, 160)
    assert summary["empty_masks"] == ["pit/pit_132.png"]
    for class_name in DEFECT_CLASSES:
        assert _tree(directory / "masks" / class_name) == _tree(directory / "images" / class_name)
    assert not (directory / "masks" / "ok").exists()
    assert summary["spot_check_images"] == 10
    assert summary["train_units"] == 64
    assert summary["test_units"] == 16
    assert summary["file_count"] == len(_tree(directory))
    assert summary["total_bytes"] == sum(
        (directory / name).stat().st_size for name in _tree(directory)
    )
    assert summary["total_bytes"] < 15_000_000


@pytest.mark.slow
def test_regeneration_removes_stale_images_and_keeps_other_files(generated, tmp_path):
    directory, _ = generated
    stale = tmp_path / "images" / "ok" / "ok_999.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"stale")
    stale_masks = [
        tmp_path / "masks" / "crack" / "crack_999.png",
        tmp_path / "masks" / "ok" / "ok_000.png",
    ]
    for stale_mask in stale_masks:
        stale_mask.parent.mkdir(parents=True)
        stale_mask.write_bytes(b"stale")
    unrelated = tmp_path / "notes.txt"
    unrelated.write_text("keep me")
    sample_data.generate_sample_data(tmp_path)
    assert not stale.exists()
    assert not any(stale_mask.exists() for stale_mask in stale_masks)
    assert unrelated.read_text() == "keep me"
    unrelated.unlink()
    # The emptied folder of an older layout is the only leftover.
    (tmp_path / "masks" / "ok").rmdir()
    _assert_same_tree(directory, tmp_path)


def test_committed_images_per_class_size_and_names():
    for class_name in synthetic_images.IMAGE_CLASSES:
        paths = sorted((COMMITTED / "images" / class_name).iterdir())
        assert len(paths) >= 150
        assert all(re.fullmatch(rf"{class_name}_\d{{3}}\.png", path.name) for path in paths)
        for path in paths[:: len(paths) // 8]:
            with Image.open(path) as image:
                assert image.mode == "L"
                assert image.size == (128, 128)
    assert sorted(path.name for path in (COMMITTED / "images").iterdir()) == sorted(
        synthetic_images.IMAGE_CLASSES
    )


def _committed_masks() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(class, image, mask) for every committed defect image, as float32 and bool arrays."""
    rows = []
    for class_name in DEFECT_CLASSES:
        for image_path in sorted((COMMITTED / "images" / class_name).glob("*.png")):
            with Image.open(COMMITTED / "masks" / class_name / image_path.name) as mask_file:
                assert mask_file.mode == "L"
                assert mask_file.size == (128, 128)
                mask = np.asarray(mask_file)
            assert set(np.unique(mask)) <= {0, 255}
            with Image.open(image_path) as image_file:
                image = np.asarray(image_file, dtype=np.float32)
            rows.append((class_name, image, mask == 255))
    return rows


def test_committed_masks_exist_for_every_defect_image_and_no_ok_image():
    assert sorted(path.name for path in (COMMITTED / "masks").iterdir()) == sorted(DEFECT_CLASSES)
    for class_name in DEFECT_CLASSES:
        image_names = sorted(path.name for path in (COMMITTED / "images" / class_name).iterdir())
        mask_names = sorted(path.name for path in (COMMITTED / "masks" / class_name).iterdir())
        assert mask_names == image_names


def test_committed_masks_cover_the_defects():
    rows = _committed_masks()
    assert len(rows) == 4 * 160
    coverages = np.array([mask.mean() for _, _, mask in rows])
    # One hard pit lies wholly outside its frame; the README names every empty mask.
    empty = [index for index, coverage in enumerate(coverages) if coverage == 0]
    assert len(empty) <= 0.01 * len(rows)
    assert "`images/pit/pit_132.png`" in (COMMITTED / "README.md").read_text(encoding="utf-8")
    assert coverages.max() < 0.30
    # Defect pixels differ from the rest of their image (dark grooves, pits, patches; a
    # scratch's bright lip partly cancels its groove, so the bar is a few gray levels).
    differences = {class_name: [] for class_name in DEFECT_CLASSES}
    for class_name, image, mask in rows:
        if mask.any():
            differences[class_name].append(abs(image[mask].mean() - image[~mask].mean()))
    all_differences = np.concatenate([np.array(values) for values in differences.values()])
    assert np.mean(all_differences > 3.0) > 0.9
    for class_name, values in differences.items():
        assert np.median(values) > 5.0, class_name
        class_coverage = np.mean([mask.mean() for name, _, mask in rows if name == class_name])
        assert 0.01 < class_coverage < 0.15, class_name


def test_committed_masks_match_a_fresh_render():
    for class_name in DEFECT_CLASSES:
        class_index = synthetic_images.IMAGE_CLASSES.index(class_name)
        for index in (0, 7):
            rng = np.random.default_rng([sample_data.DEFAULT_SEED, 0, class_index, index])
            image, mask = synthetic_images.render_surface_image_with_mask(class_name, rng)
            name = f"{class_name}/{class_name}_{index:03d}.png"
            with Image.open(COMMITTED / "masks" / name) as mask_file:
                np.testing.assert_array_equal(np.asarray(mask_file) == 255, mask)
            with Image.open(COMMITTED / "images" / name) as image_file:
                np.testing.assert_array_equal(np.asarray(image_file), image)


def test_render_with_mask_keeps_the_image_and_the_random_sequence():
    for class_name in synthetic_images.IMAGE_CLASSES:
        plain_rng = np.random.default_rng(11)
        masked_rng = np.random.default_rng(11)
        plain = synthetic_images.render_surface_image(class_name, plain_rng)
        image, mask = synthetic_images.render_surface_image_with_mask(class_name, masked_rng)
        np.testing.assert_array_equal(plain, image)
        assert plain_rng.bit_generator.state == masked_rng.bit_generator.state
        if class_name == "ok":
            assert mask is None
        else:
            assert mask.shape == (128, 128)
            assert mask.dtype == bool
            assert 0 < mask.mean() < 0.3


def test_render_with_mask_checks_its_arguments():
    with pytest.raises(ValueError) as error:
        synthetic_images.render_surface_image_with_mask("dent", np.random.default_rng(0))
    assert str(error.value).endswith("Received: class_name='dent'")
    image, mask = synthetic_images.render_surface_image_with_mask(
        "pit", np.random.default_rng(3), size=48
    )
    assert image.shape == mask.shape == (48, 48)


def test_committed_spot_checks_are_held_aside():
    names = sorted(path.name for path in (COMMITTED / "spot_check").iterdir())
    assert names == sorted(
        f"{class_name}_spot_{number}.png"
        for class_name in synthetic_images.IMAGE_CLASSES
        for number in (1, 2)
    )
    image_bytes = {path.read_bytes() for path in (COMMITTED / "images").rglob("*.png")}
    for name in names:
        assert (COMMITTED / "spot_check" / name).read_bytes() not in image_bytes


def test_committed_total_size_is_under_15_megabytes():
    total = sum(path.stat().st_size for path in COMMITTED.rglob("*") if path.is_file())
    assert total < 15_000_000


def test_committed_readme_names_the_command():
    text = (COMMITTED / "README.md").read_text(encoding="utf-8")
    assert "python -m core sample-data" in text
    for class_name in synthetic_images.IMAGE_CLASSES:
        assert f"`{class_name}`" in text
    assert "## masks/" in text
    assert "0 = background, 255 = defect" in text


def test_committed_train_fleet():
    train = pd.read_csv(COMMITTED / "sensors" / "train.csv")
    assert list(train.columns) == REQUIRED_COLUMNS
    assert train["unit"].nunique() >= 60
    constant = [name for name in synthetic_sensors.SENSOR_COLUMNS if train[name].nunique() == 1]
    assert constant == list(synthetic_sensors.CONSTANT_SENSORS)
    assert len(constant) == 3
    assert set(train["failure_mode"]) == set(synthetic_sensors.FAILURE_MODES)
    for _, unit in train.groupby("unit"):
        assert unit["cycle"].is_monotonic_increasing
        assert unit["cycle"].is_unique
        assert unit["failure_mode"].nunique() == 1
    lifetimes = train.groupby("unit")["cycle"].max()
    assert lifetimes.between(120, 320).all()
    assert lifetimes.std() > 20


def test_committed_sensors_degrade_towards_failure():
    train = pd.read_csv(COMMITTED / "sensors" / "train.csv")
    lifetime = train.groupby("unit")["cycle"].transform("max")
    early = train[train["cycle"] <= 20]
    late = train[train["cycle"] > lifetime - 10]
    moved = [
        name
        for name in synthetic_sensors.INFORMATIVE_SENSORS
        if abs(late[name].mean() - early[name].mean()) > 2 * early[name].std()
    ]
    assert len(moved) >= 6


def test_committed_test_fleet_and_remaining_cycles():
    test = pd.read_csv(COMMITTED / "sensors" / "test.csv")
    remaining = pd.read_csv(COMMITTED / "sensors" / "test_rul.csv")
    assert list(test.columns) == REQUIRED_COLUMNS
    assert list(remaining.columns) == ["unit", "rul"]
    assert sorted(test["unit"].unique()) == list(range(1, 17))
    assert remaining["unit"].tolist() == list(range(1, 17))
    assert (remaining["rul"] > 0).all()
    last_cycles = test.groupby("unit")["cycle"].max().to_numpy()
    total_lifetimes = last_cycles + remaining["rul"].to_numpy()
    assert ((total_lifetimes >= 120) & (total_lifetimes <= 320)).all()
    for _, unit in test.groupby("unit"):
        assert unit["cycle"].is_monotonic_increasing and unit["cycle"].is_unique


def test_committed_live_series_matches_its_anomalies():
    live = pd.read_csv(COMMITTED / "sensors" / "live.csv")
    anomalies = pd.read_csv(COMMITTED / "sensors" / "live_anomalies.csv")
    assert list(live.columns) == [
        "cycle",
        *synthetic_sensors.SETTING_COLUMNS,
        *synthetic_sensors.SENSOR_COLUMNS,
    ]
    assert live["cycle"].tolist() == list(range(1, len(live) + 1))
    assert 350 <= len(live) <= 450
    assert list(anomalies.columns) == ["start_cycle", "end_cycle", "kind", "sensors"]
    assert 5 <= len(anomalies) <= 8
    assert set(anomalies["kind"]) == set(synthetic_sensors.ANOMALY_KINDS)
    assert (anomalies["start_cycle"] <= anomalies["end_cycle"]).all()
    assert anomalies["start_cycle"].min() >= live["cycle"].min()
    assert anomalies["end_cycle"].max() <= live["cycle"].max()
    # Stretches are listed in order and do not overlap.
    assert (anomalies["start_cycle"].iloc[1:].to_numpy() > anomalies["end_cycle"].iloc[:-1]).all()
    indexed = live.set_index("cycle")
    for row in anomalies.itertuples():
        sensors = row.sensors.split(";")
        assert set(sensors) <= set(synthetic_sensors.INFORMATIVE_SENSORS)
        stretch = indexed.loc[row.start_cycle : row.end_cycle, sensors]
        before = indexed.loc[row.start_cycle - 15 : row.start_cycle - 1, sensors]
        if row.kind == "stuck":
            assert (stretch.nunique() == 1).all()
        elif row.kind in ("spike", "level_shift"):
            # The stretch sits several noise levels away from the readings just before it.
            shift = (stretch.mean() - before.mean()).abs()
            assert (shift > 3 * before.std()).all()
        else:
            assert (stretch.std() > 2 * before.std()).all()


def test_render_surface_image_is_deterministic_for_every_class():
    for class_name in synthetic_images.IMAGE_CLASSES:
        first = synthetic_images.render_surface_image(class_name, np.random.default_rng(7))
        second = synthetic_images.render_surface_image(class_name, np.random.default_rng(7))
        assert first.shape == (128, 128)
        assert first.dtype == np.uint8
        np.testing.assert_array_equal(first, second)


def test_render_surface_image_supports_other_sizes():
    image = synthetic_images.render_surface_image("crack", np.random.default_rng(1), size=64)
    assert image.shape == (64, 64)


def test_render_surface_image_rejects_unknown_class():
    with pytest.raises(ValueError) as error:
        synthetic_images.render_surface_image("dent", np.random.default_rng(0))
    assert str(error.value) == (
        "Expected class_name to be one of ('ok', 'scratch', 'pit', 'crack', 'inclusion'). "
        "Received: class_name='dent'"
    )


def test_render_surface_image_rejects_bad_rng_and_size():
    with pytest.raises(TypeError) as error:
        synthetic_images.render_surface_image("ok", 42)
    assert str(error.value) == "Expected rng to be a numpy.random.Generator. Received: rng=42"
    with pytest.raises(ValueError) as error:
        synthetic_images.render_surface_image("ok", np.random.default_rng(0), size=8)
    assert str(error.value) == "Expected size to be an integer >= 32. Received: size=8"


def test_simulations_are_deterministic():
    first = synthetic_sensors.simulate_run_to_failure(3, np.random.default_rng(5))
    second = synthetic_sensors.simulate_run_to_failure(3, np.random.default_rng(5))
    pd.testing.assert_frame_equal(first, second)
    assert first["unit"].unique().tolist() == [1, 2, 3]
    live, anomalies = synthetic_sensors.simulate_live_series(np.random.default_rng(5))
    assert len(live) == 400
    assert len(anomalies) == 6


def test_simulations_reject_bad_counts():
    with pytest.raises(ValueError) as error:
        synthetic_sensors.simulate_run_to_failure(0, np.random.default_rng(0))
    assert (
        str(error.value) == "Expected unit_count to be a positive integer. Received: unit_count=0"
    )
    with pytest.raises(ValueError) as error:
        synthetic_sensors.simulate_test_fleet(2.5, np.random.default_rng(0))
    assert str(error.value) == (
        "Expected unit_count to be a positive integer. Received: unit_count=2.5"
    )
    with pytest.raises(ValueError) as error:
        synthetic_sensors.simulate_live_series(np.random.default_rng(0), cycle_count=100)
    assert str(error.value) == (
        "Expected at least 60 cycles per anomaly plus 20 clean ones at the start. "
        "Received: cycle_count=100, anomaly_count=6"
    )


def test_generate_sample_data_rejects_bad_arguments(tmp_path):
    with pytest.raises(TypeError) as error:
        sample_data.generate_sample_data(42)
    assert str(error.value) == (
        "Expected output_directory to be a str or os.PathLike. Received: output_directory=42"
    )
    with pytest.raises(ValueError) as error:
        sample_data.generate_sample_data(tmp_path, seed=-1)
    assert str(error.value) == "Expected seed to be a non-negative integer. Received: seed=-1"
    assert list(tmp_path.iterdir()) == []


def test_default_sample_directory_is_the_repository_sample_data():
    assert REPOSITORY_ROOT / "sample_data" == COMMITTED
