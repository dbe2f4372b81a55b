"""Tests for core/inference/spot_check.py: one call from uploads to predictions, overlays and
rejections."""

import io
import zipfile

import numpy as np
import pandas as pd
import pytest
from PIL import Image

keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402

from core.inference import spot_check as checks  # noqa: E402
from core.inference.classifier import ImagePredictor  # noqa: E402

HEIGHT, WIDTH = 20, 24
CLASSES = ["ok", "scratch", "pit"]


def tiny_model(channels: int) -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((HEIGHT, WIDTH, channels))
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(len(CLASSES), activation="softmax")(x)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def predictor():
    return ImagePredictor(tiny_model(1), CLASSES, image_size=(HEIGHT, WIDTH), channels=1)


def png_bytes(seed: int, size=(40, 30), mode="L") -> bytes:
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, shape).astype(np.uint8), mode).save(buffer, "PNG")
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_predicts_good_files_and_lists_bad_ones_with_reasons(predictor):
    files = [
        ("a.png", png_bytes(0)),
        ("broken.png", b"\x89PNG not really"),
        ("notes.txt", b"hello"),
        ("b.png", png_bytes(1)),
    ]
    result = checks.spot_check(predictor, files, explain=False)
    assert [row["name"] for row in result.rows] == ["a.png", "b.png"]
    assert list(result.frame.columns) == ["name", "predicted", "confidence"] + [
        f"p_{name}" for name in CLASSES
    ]
    probabilities = result.frame[[f"p_{name}" for name in CLASSES]].to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    for row in result.rows:
        assert row["predicted"] in CLASSES
        assert row["confidence"] == pytest.approx(max(row["probabilities"].values()))
    rejected = {item.name: item.reason for item in result.rejected}
    assert set(rejected) == {"broken.png", "notes.txt"}
    assert all(reason.startswith("Expected") for reason in rejected.values())
    assert "Received" in rejected["notes.txt"]
    frame = result.rejected_frame()
    assert list(frame.columns) == ["name", "reason"]
    assert len(frame) == 2
    assert result.overlays is None and result.heatmaps is None


def test_zip_members_are_expanded_and_refused_members_reported(predictor):
    archive = zip_bytes(
        {
            "parts/one.png": png_bytes(2),
            "parts/two.png": png_bytes(3),
            "parts/bad.png": b"garbage",
            "../escape.png": png_bytes(4),
        }
    )
    result = checks.spot_check(
        predictor, [("batch.zip", archive), ("single.png", png_bytes(5))], explain=False
    )
    assert [row["name"] for row in result.rows] == [
        "batch.zip/parts/one.png",
        "batch.zip/parts/two.png",
        "single.png",
    ]
    rejected = {item.name: item.reason for item in result.rejected}
    assert "batch.zip/parts/bad.png" in rejected
    assert "batch.zip/../escape.png" in rejected
    assert "'..' components are refused" in rejected["batch.zip/../escape.png"]


def test_a_file_that_is_not_a_zip_but_named_so_is_rejected(predictor):
    result = checks.spot_check(predictor, [("fake.zip", b"not a zip")], explain=True)
    assert result.rows == []
    assert result.frame.empty
    assert result.overlays == []
    assert result.rejected[0].name == "fake.zip"
    assert "Expected a ZIP archive" in result.rejected[0].reason


def test_explain_draws_one_overlay_per_image_at_model_size(predictor):
    files = [(f"{index}.png", png_bytes(index)) for index in range(3)]
    result = checks.spot_check(predictor, files, explain=True)
    assert len(result.overlays) == len(result.heatmaps) == 3
    for overlay, heatmap, image in zip(
        result.overlays, result.heatmaps, result.images, strict=True
    ):
        assert overlay.shape == (HEIGHT, WIDTH, 3)
        assert overlay.dtype == np.uint8
        assert heatmap.shape == (HEIGHT, WIDTH)
        assert heatmap.min() >= 0.0 and heatmap.max() <= 1.0
        assert image.shape == (HEIGHT, WIDTH)  # Grayscale without the channel axis, for display.


def test_max_overlays_explains_only_the_first_images(predictor):
    files = [(f"{index}.png", png_bytes(index)) for index in range(5)]
    result = checks.spot_check(predictor, files, explain=True, max_overlays=2)
    assert len(result.rows) == 5
    assert len(result.overlays) == 2
    none = checks.spot_check(predictor, files, explain=True, max_overlays=0)
    assert none.overlays == []


def test_colour_models_keep_three_channels_for_display():
    predictor = ImagePredictor(tiny_model(3), CLASSES, image_size=(HEIGHT, WIDTH), channels=3)
    result = checks.spot_check(predictor, [("c.png", png_bytes(7, mode="RGB"))], explain=True)
    assert result.images[0].shape == (HEIGHT, WIDTH, 3)
    assert result.overlays[0].shape == (HEIGHT, WIDTH, 3)


def test_spot_check_rejects_malformed_arguments(predictor):
    with pytest.raises(TypeError, match=r"Expected a list of \(name, bytes\) pairs\. Received: "):
        checks.spot_check(predictor, b"raw bytes", explain=False)
    with pytest.raises(TypeError, match=r"Expected each upload as a \(name, bytes\) pair"):
        checks.spot_check(predictor, [("a.png", "text")], explain=False)
    with pytest.raises(
        ValueError,
        match=r"Expected max_overlays to be None or a non-negative integer\. "
        r"Received: max_overlays=-1",
    ):
        checks.spot_check(predictor, [], explain=True, max_overlays=-1)


def prediction_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": ["a", "b", "c", "d"],
            "predicted": ["ok", "scratch", "ok", "pit"],
            "confidence": [0.95, 0.55, 0.40, 0.80],
            "p_ok": [0.95, 0.25, 0.40, 0.1],
        },
        index=[10, 11, 12, 13],
    )


def test_filter_predictions_by_class_and_confidence():
    frame = prediction_frame()
    assert checks.filter_predictions(frame).equals(frame.reset_index(drop=True))
    assert checks.filter_predictions(frame, classes=["ok"])["name"].tolist() == ["a", "c"]
    assert checks.filter_predictions(frame, max_confidence=0.6)["name"].tolist() == ["b", "c"]
    both = checks.filter_predictions(frame, classes=["ok", "pit"], max_confidence=0.8)
    assert both["name"].tolist() == ["c", "d"]
    assert both.index.tolist() == [0, 1]
    assert list(both.columns) == list(frame.columns)
    assert checks.filter_predictions(frame, classes=[]).empty


def test_filter_predictions_rejects_bad_arguments():
    frame = prediction_frame()
    with pytest.raises(
        ValueError,
        match=r"Expected a spot-check DataFrame with the columns \['name', 'predicted', "
        r"'confidence'\]\. Received: missing columns \['confidence'\]",
    ):
        checks.filter_predictions(frame.drop(columns="confidence"))
    with pytest.raises(
        ValueError, match=r"Expected classes to be a list of class names\. Received: classes='ok'"
    ):
        checks.filter_predictions(frame, classes="ok")
    with pytest.raises(
        ValueError,
        match=r"Expected max_confidence to be a number in \[0, 1\]\. Received: max_confidence=1.5",
    ):
        checks.filter_predictions(frame, max_confidence=1.5)


def test_sample_files_reads_the_bundled_spot_check_images(tmp_path, monkeypatch):
    folder = tmp_path / "spot_check"
    folder.mkdir()
    (folder / "b.png").write_bytes(png_bytes(1))
    (folder / "a.png").write_bytes(png_bytes(0))
    monkeypatch.setenv("LINESIGHT_SAMPLE_DATA", str(tmp_path))
    files = checks.sample_files()
    assert [name for name, _ in files] == ["a.png", "b.png"]
    assert files[0][1] == png_bytes(0)


def test_files_digest_changes_with_content_names_and_extras():
    files = [("a.png", b"1"), ("b.png", b"2")]
    digest = checks.files_digest(files, "model:1", True)
    assert digest == checks.files_digest(list(files), "model:1", True)
    assert digest != checks.files_digest([("a.png", b"1"), ("b.png", b"3")], "model:1", True)
    assert digest != checks.files_digest([("c.png", b"1"), ("b.png", b"2")], "model:1", True)
    assert digest != checks.files_digest(files, "model:1", False)
