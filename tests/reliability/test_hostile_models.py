"""Uploaded model files are refused everywhere uploads enter: models are only trained here.

A saved model can run code when loaded (a Lambda layer, a custom object) and would bypass the
registry's records, so .keras, .h5/.hdf5, .pb, .tflite, .onnx, ... files are refused by name,
and ZIP archives holding a TensorFlow SavedModel or a Keras model by their members, before
anything in them is read. The rest of each batch still loads.
"""

from __future__ import annotations

import io
import zipfile

import pytest
from PIL import Image

from core.data import sensor_sources
from core.data.images import load_image_folder, load_image_zip, load_uploaded_images
from core.data.inspection import inspect_path, inspect_uploads
from core.data.series_loading import load_series

REFUSED = "Expected images or sensor data; model files are not accepted: models are trained here. "
IMAGE_SIZE = (8, 8)


def gray_png(value: int = 120) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (6, 6), value).save(buffer, "PNG")
    return buffer.getvalue()


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


HDF5 = b"\x89HDF\r\n\x1a\n" + bytes(64)
# The members of a Keras 3 `.keras` file, itself a ZIP archive.
KERAS = zip_of({"metadata.json": b"{}", "config.json": b"{}", "model.weights.h5": HDF5})
SAVED_MODEL = zip_of(
    {
        "export/saved_model.pb": b"\x08\x01",
        "export/variables/variables.index": b"",
        "export/fingerprint.pb": b"",
    }
)
SAVED_MODEL_REASON = REFUSED + "Received: name='export.zip' holding a TensorFlow SavedModel "
SAVED_MODEL_REASON += "('export/saved_model.pb')"
KERAS_ZIP_REASON = REFUSED + "Received: name='model.zip' holding a Keras model (config.json and "
KERAS_ZIP_REASON += "weights)"

# Uploads of model files -> the reason each one is refused with.
MODEL_UPLOADS = {
    "m.keras": (KERAS, REFUSED + "Received: name='m.keras'"),
    "w.h5": (HDF5, REFUSED + "Received: name='w.h5'"),
    "W.HDF5": (HDF5, REFUSED + "Received: name='W.HDF5'"),
    "graph.pb": (b"\x08\x01", REFUSED + "Received: name='graph.pb'"),
    "edge.tflite": (b"TFL3", REFUSED + "Received: name='edge.tflite'"),
    "net.onnx": (b"\x08\x07", REFUSED + "Received: name='net.onnx'"),
    "export.zip": (SAVED_MODEL, SAVED_MODEL_REASON),
    "model.zip": (KERAS, KERAS_ZIP_REASON),
}


def test_image_uploads_refuse_every_model_file_and_load_the_images():
    files = [(name, data) for name, (data, _) in MODEL_UPLOADS.items()]
    images, names, rejected = load_uploaded_images(
        [*files, ("part.png", gray_png())], image_size=IMAGE_SIZE
    )
    assert names == ["part.png"] and images.shape == (1, 8, 8, 1)
    assert {item.name: item.reason for item in rejected} == {
        name: reason for name, (_, reason) in MODEL_UPLOADS.items()
    }


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [("export.zip", SAVED_MODEL, SAVED_MODEL_REASON), ("model.zip", KERAS, KERAS_ZIP_REASON)],
    ids=["saved-model", "keras"],
)
def test_training_zip_holding_a_model_is_refused(name, data, expected):
    with pytest.raises(ValueError) as error:
        load_image_zip(data, name=name)
    assert str(error.value) == expected


def test_model_file_inside_a_data_set_is_rejected_and_the_rest_loads(tmp_path):
    members = {"set/ok/1.png": gray_png(10), "set/pit/1.png": gray_png(90), "set/ok/w.h5": HDF5}
    dataset = load_image_zip(zip_of(members), name="set.zip", image_size=IMAGE_SIZE)
    assert dataset.filenames == ["set/ok/1.png", "set/pit/1.png"]
    assert [(item.name, item.reason) for item in dataset.rejected] == [
        ("set/ok/w.h5", REFUSED + "Received: name='set/ok/w.h5'")
    ]
    for name, data in members.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    dataset = load_image_folder(tmp_path / "set", image_size=IMAGE_SIZE)
    assert dataset.filenames == ["ok/1.png", "pit/1.png"]
    assert [(item.name, item.reason) for item in dataset.rejected] == [
        ("ok/w.h5", REFUSED + "Received: name='ok/w.h5'")
    ]


def test_data_check_refuses_model_files_and_inspects_the_rest():
    files = [(name, data) for name, (data, _) in MODEL_UPLOADS.items()]
    report = inspect_uploads([*files, ("good.csv", b"unit,cycle,s1\n1,1,0.5\n1,2,0.6\n")])
    assert [entry["name"] for entry in report["series"]] == ["good.csv"]
    assert {item["name"]: item["reason"] for item in report["rejected"]} == {
        name: reason for name, (_, reason) in MODEL_UPLOADS.items()
    }


def test_inspect_refuses_a_saved_model_folder_and_a_model_file(tmp_path):
    (tmp_path / "export" / "variables").mkdir(parents=True)
    (tmp_path / "export" / "saved_model.pb").write_bytes(b"\x08\x01")
    with pytest.raises(ValueError) as error:
        inspect_path(tmp_path / "export")
    assert str(error.value) == (
        REFUSED + f"Received: name='{tmp_path / 'export'}' holding a TensorFlow SavedModel"
    )
    (tmp_path / "m.keras").write_bytes(KERAS)
    with pytest.raises(ValueError) as error:
        inspect_path(tmp_path / "m.keras")
    assert str(error.value) == REFUSED + f"Received: name='{tmp_path / 'm.keras'}'"


@pytest.mark.parametrize("name", ["m.keras", "w.h5", "graph.pb"])
def test_sensor_loaders_refuse_model_files(name):
    data = MODEL_UPLOADS[name][0]
    expected = REFUSED + f"Received: name={name!r}"
    with pytest.raises(ValueError) as error:
        load_series(data, name=name)
    assert str(error.value) == expected
    with pytest.raises(ValueError) as error:
        sensor_sources.upload_source(name, data)
    assert str(error.value) == expected


@pytest.mark.slow  # Imports TensorFlow: about 8 s on its own.
def test_spot_check_refuses_a_real_keras_file_and_predicts_the_images(tmp_path):
    keras = pytest.importorskip("keras")
    from core.inference import spot_check as checks
    from core.inference.classifier import ImagePredictor

    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, outputs)
    model.save(tmp_path / "m.keras")
    saved = (tmp_path / "m.keras").read_bytes()
    predictor = ImagePredictor(model, ["ok", "pit"], image_size=IMAGE_SIZE, channels=1)
    uploads = [("m.keras", saved), ("renamed.zip", saved), ("part.png", gray_png())]
    result = checks.spot_check(predictor, uploads, explain=False)
    assert result.frame["name"].tolist() == ["part.png"]
    assert [(item.name, item.reason) for item in result.rejected] == [
        ("m.keras", REFUSED + "Received: name='m.keras'"),
        (
            "renamed.zip",
            REFUSED + "Received: name='renamed.zip' holding a Keras model (config.json and "
            "weights)",
        ),
    ]
