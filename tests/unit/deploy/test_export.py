"""Tests for core/deploy/export.py: export formats, directly and through ModelRegistry.export."""

import zipfile

import numpy as np
import pytest

from core.deploy import export
from core.deploy.export import ExportFormat, export_model, validate_export_format
from core.registry import store as registry
from core.registry.store import ModelRegistry
from tests.helpers.registry import SAMPLE, make_metadata, make_model

# Exporting registry models (ModelRegistry.export delegates to export_model).


@pytest.fixture
def saved_pump(tmp_path):
    registry = ModelRegistry(tmp_path / "registry")
    model = make_model()
    registry.save(model, "pump", make_metadata())
    return registry, model.predict(SAMPLE, verbose=0)


def test_export_keras_copies_a_loadable_file(saved_pump, tmp_path):
    import keras

    registry, expected = saved_pump
    written = registry.export("pump", None, "keras", tmp_path / "out" / "pump.keras")
    assert written == tmp_path / "out" / "pump.keras"
    reloaded = keras.saving.load_model(written, safe_mode=True)
    np.testing.assert_allclose(reloaded.predict(SAMPLE, verbose=0), expected)
    assert registry.export("pump:1", None, ExportFormat.KERAS, tmp_path / "out") == (
        tmp_path / "out" / "pump-v1.keras"
    )


def test_export_refuses_an_unknown_format(saved_pump, tmp_path):
    registry, _ = saved_pump
    with pytest.raises(
        ValueError,
        match=r"among \['keras', 'savedmodel', 'tflite', 'tflite-fp16', 'tflite-int8'\]. "
        r"Received: format='onnx'",
    ):
        registry.export("pump", 1, "onnx", tmp_path / "pump.onnx")


def test_export_savedmodel_directory_and_zip_serve_the_same_predictions(saved_pump, tmp_path):
    import tensorflow

    registry, expected = saved_pump
    directory = registry.export("pump", 1, "savedmodel", tmp_path / "savedmodel")
    loaded = tensorflow.saved_model.load(str(directory))
    outputs = loaded.signatures["serving_default"](tensorflow.constant(SAMPLE))
    np.testing.assert_allclose(next(iter(outputs.values())).numpy(), expected, rtol=1e-5)
    (tmp_path / "exports").mkdir()
    inside = registry.export("pump", 1, "savedmodel", tmp_path / "exports")
    assert inside == tmp_path / "exports" / "pump-v1"
    assert (inside / "saved_model.pb").is_file()
    with pytest.raises(ValueError, match="SavedModel destination that does not exist yet"):
        registry.export("pump", 1, "savedmodel", tmp_path / "exports")

    archive = registry.export("pump", 1, "savedmodel", tmp_path / "pump.zip")
    with zipfile.ZipFile(archive) as opened:
        assert "saved_model.pb" in opened.namelist()
        opened.extractall(tmp_path / "unzipped")
    unzipped = tensorflow.saved_model.load(str(tmp_path / "unzipped"))
    outputs = unzipped.signatures["serving_default"](tensorflow.constant(SAMPLE))
    np.testing.assert_allclose(next(iter(outputs.values())).numpy(), expected, rtol=1e-5)


def make_tflite_interpreter(path):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow

        Interpreter = tensorflow.lite.Interpreter
    return Interpreter(model_path=str(path))


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")
def test_export_tflite_runs_in_the_interpreter(saved_pump, tmp_path):
    registry, expected = saved_pump
    written = registry.export("pump", 1, "tflite", tmp_path / "pump.tflite")
    interpreter = make_tflite_interpreter(written)
    input_detail = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(input_detail["index"], list(SAMPLE.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(input_detail["index"], SAMPLE)
    interpreter.invoke()
    output = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(output, expected, rtol=1e-5)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")
def test_export_tflite_converts_a_recurrent_model_with_batch_size_one(tmp_path):
    import keras

    inputs = keras.Input(shape=(12, 3))
    outputs = keras.layers.Dense(1)(keras.layers.LSTM(4)(inputs))
    model = keras.Model(inputs, outputs)
    registry = ModelRegistry(tmp_path)
    registry.save(
        model, "bearing", make_metadata(task="series_rul", classes=[], input_shape=[12, 3])
    )
    written = registry.export("bearing", 1, "tflite", tmp_path)
    assert written == tmp_path / "bearing-v1.tflite"
    interpreter = make_tflite_interpreter(written)
    interpreter.allocate_tensors()
    window = np.linspace(0, 1, 36, dtype="float32").reshape(1, 12, 3)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], window)
    interpreter.invoke()
    output = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(output, model.predict(window, verbose=0), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")
def test_export_tflite_converts_a_two_input_generator(tmp_path):
    from core.models.gan import build_generator

    generator = build_generator(latent_dim=8, number_of_classes=3, image_size=32)
    registry = ModelRegistry(tmp_path)
    registry.save(
        generator,
        "surface-gan",
        make_metadata(task="gan", classes=["a", "b", "c"], input_shape=[8]),
    )
    written = registry.export("surface-gan", 1, "tflite", tmp_path)
    interpreter = make_tflite_interpreter(written)
    interpreter.allocate_tensors()
    noise = np.linspace(-1, 1, 8, dtype="float32").reshape(1, 8)
    label = np.array([[2]], dtype="int32")
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], label if detail["dtype"] == np.int32 else noise)
    interpreter.invoke()
    output = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    expected = np.asarray(generator([noise, label], training=False))
    np.testing.assert_allclose(output, expected, rtol=1e-4, atol=1e-4)


def small_image_model():
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(16, 16, 1))
    hidden = keras.layers.Rescaling(1 / 255)(inputs)
    hidden = keras.layers.Conv2D(8, 3, activation="relu")(hidden)
    # About 50,000 weights, so that the quantized files are visibly smaller than float32.
    hidden = keras.layers.Dense(32, activation="relu")(keras.layers.Flatten()(hidden))
    outputs = keras.layers.Dense(3, activation="softmax")(hidden)
    return keras.Model(inputs, outputs)


def run_tflite(path, batch):
    interpreter = make_tflite_interpreter(path)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    outputs = []
    for item in batch:
        interpreter.set_tensor(detail["index"], item[None].astype(detail["dtype"]))
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0])
    return np.array(outputs), detail["dtype"]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")
@pytest.mark.parametrize(("format", "tolerance"), [("tflite-fp16", 1e-3), ("tflite-int8", 0.05)])
def test_quantized_tflite_exports_stay_close_to_the_float_model(tmp_path, format, tolerance):
    model = small_image_model()
    images = np.random.default_rng(0).integers(0, 256, (40, 16, 16, 1)).astype("float32")
    written = export_model(
        model, format, tmp_path, file_stem="parts-v1", representative_data=images[:30]
    )
    assert written == tmp_path / f"parts-v1-{format.removeprefix('tflite-')}.tflite"
    float_size = export_model(model, "tflite", tmp_path, file_stem="parts-v1").stat().st_size
    assert written.stat().st_size < float_size  # smaller weights
    outputs, input_dtype = run_tflite(written, images[30:])
    assert input_dtype == np.float32  # callers keep sending float pixels
    expected = model.predict(images[30:], verbose=0)
    np.testing.assert_allclose(outputs, expected, atol=tolerance)
    assert (outputs.argmax(axis=1) == expected.argmax(axis=1)).mean() >= 0.8


def test_int8_export_needs_representative_data(tmp_path):
    with pytest.raises(ValueError) as error:
        export_model(small_image_model(), "tflite-int8", tmp_path)
    assert str(error.value) == (
        "Expected representative data (typical inputs, e.g. training images) to calibrate an "
        "int8 TensorFlow Lite export. Received: representative_data=None"
    )
    assert list(tmp_path.iterdir()) == []


# Exporting a model or a model file directly.


def test_registry_re_exports_the_export_format():
    assert registry.ExportFormat is export.ExportFormat
    assert "ExportFormat" in registry.__all__
    assert [item.value for item in ExportFormat] == [
        "keras", "savedmodel", "tflite", "tflite-fp16", "tflite-int8",
    ]  # fmt: skip


def test_validate_export_format():
    assert validate_export_format("tflite") is ExportFormat.TFLITE
    assert validate_export_format(ExportFormat.KERAS) is ExportFormat.KERAS
    with pytest.raises(ValueError) as raised:
        validate_export_format("ONNX")
    assert str(raised.value) == (
        "Expected an export format among ['keras', 'savedmodel', 'tflite', 'tflite-fp16', "
        "'tflite-int8']. Received: format='ONNX'"
    )


def test_export_model_writes_keras_from_a_model_or_a_file(tmp_path):
    import keras

    model = make_model()
    expected = model.predict(SAMPLE, verbose=0)
    (tmp_path / "out").mkdir()
    saved = export_model(model, "keras", tmp_path / "out")
    assert saved == tmp_path / "out" / "model.keras"
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["model.keras"]
    copied = export_model(saved, ExportFormat.KERAS, tmp_path / "copy" / "pump.keras")
    assert copied.read_bytes() == saved.read_bytes()
    reloaded = keras.saving.load_model(copied, safe_mode=True)
    np.testing.assert_allclose(reloaded.predict(SAMPLE, verbose=0), expected)


def test_export_model_loads_a_file_for_savedmodel(tmp_path):
    import tensorflow

    model = make_model()
    model.save(tmp_path / "pump.keras")
    (tmp_path / "exports").mkdir()
    written = export_model(
        str(tmp_path / "pump.keras"), "savedmodel", tmp_path / "exports", file_stem="pump-v7"
    )
    assert written == tmp_path / "exports" / "pump-v7"
    loaded = tensorflow.saved_model.load(str(written))
    outputs = loaded.signatures["serving_default"](tensorflow.constant(SAMPLE))
    np.testing.assert_allclose(
        next(iter(outputs.values())).numpy(), model.predict(SAMPLE, verbose=0), rtol=1e-5
    )


def test_export_model_rejects_what_it_cannot_export(tmp_path):
    with pytest.raises(TypeError) as raised:
        export_model([1, 2], "keras", tmp_path)
    assert str(raised.value) == (
        "Expected a keras.Model or the path of a .keras file. Received: model=[1, 2]"
    )
    missing = tmp_path / "missing.keras"
    with pytest.raises(ValueError) as raised:
        export_model(missing, "keras", tmp_path / "out.keras")
    assert str(raised.value) == (
        f"Expected the path of an existing .keras file. Received: model='{missing}'"
    )
    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_bytes(b"not a zip")
    with pytest.raises(ValueError) as raised:
        export_model(corrupt, "tflite", tmp_path, display_name="pump:3")
    assert str(raised.value).startswith(
        f"Expected a model file Keras can load safely for 'pump:3'. Received: path='{corrupt}'"
    )
    assert not (tmp_path / "model.tflite").exists()


def test_exports_run_augmentation_layers_in_inference_mode(tmp_path):
    import keras
    import tensorflow

    inputs = keras.Input((8, 8, 1))
    augmented = keras.layers.RandomBrightness(0.5, value_range=(0, 255), seed=1)(inputs)
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(augmented))
    model = keras.Model(inputs, outputs)
    images = np.full((2, 8, 8, 1), 100.0, dtype="float32")
    expected = model(images, training=False).numpy()

    saved = export_model(model, "savedmodel", tmp_path / "saved")
    serving = tensorflow.saved_model.load(str(saved)).signatures["serving_default"]
    served = next(iter(serving(tensorflow.constant(images)).values())).numpy()
    np.testing.assert_allclose(served, expected, rtol=1e-5)
    assert export_model(model, "tflite", tmp_path / "m.tflite").stat().st_size > 0


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")
def test_cli_exports_the_demo_model_to_int8_calibrated_on_the_sample(tmp_path, capsys):
    from core.cli.main import main
    from core.data.bundled import sample_data_directory
    from core.data.images import load_images

    common = ["--registry", str(tmp_path / "registry"), "--json"]
    arguments = ["models", "export", "demo-defect-cnn", "--format", "tflite-int8"]
    assert main([*arguments, "--out", str(tmp_path / "no-data.tflite"), *common]) == 2
    assert "Expected representative data" in capsys.readouterr().err

    images = str(sample_data_directory() / "images")
    out = tmp_path / "demo-int8.tflite"
    assert main([*arguments, "--data", images, "--out", str(out), *common]) == 0
    capsys.readouterr()
    model, _ = ModelRegistry(tmp_path / "registry").load("demo-defect-cnn")
    sample = load_images(sample_data_directory() / "images", image_size=(64, 64), channels=1)
    batch = sample.images[::20].astype("float32")  # 40 images, 8 of each class
    quantized, _ = run_tflite(out, batch)
    original = model.predict(batch, verbose=0)
    # The int8 model picks the same class as the float model almost everywhere.
    assert (quantized.argmax(axis=1) == original.argmax(axis=1)).mean() >= 0.9


@pytest.mark.slow
def test_savedmodel_export_has_the_layout_and_signature_tensorflow_serving_loads(tmp_path):
    """What the README's `tensorflow_model_server` command relies on."""
    import json

    import tensorflow

    from core.cli.main import main
    from core.data.bundled import sample_data_directory
    from core.data.images import load_images
    from core.registry.store import ModelRegistry

    registry_directory = tmp_path / "registry"
    version_directory = tmp_path / "serving" / "demo-defect-cnn" / "1"
    arguments = ["models", "export", "demo-defect-cnn", "--format", "savedmodel"]
    arguments += ["--out", str(version_directory), "--registry", str(registry_directory)]
    assert main(arguments) == 0
    # TensorFlow Serving reads <model_base_path>/<version>/saved_model.pb.
    assert (version_directory / "saved_model.pb").is_file()
    assert (version_directory / "variables").is_dir()
    serving = tensorflow.saved_model.load(str(version_directory)).signatures["serving_default"]
    _, inputs = serving.structured_input_signature
    assert list(inputs) == ["image"]
    assert inputs["image"].shape.as_list() == [None, 64, 64, 1]
    assert inputs["image"].dtype == tensorflow.float32
    assert {name: spec.shape.as_list() for name, spec in serving.structured_outputs.items()} == {
        "output_0": [None, 5]
    }
    # A REST body as documented: {"instances": [image, ...]} of raw 0-255 pixels.
    dataset = load_images(sample_data_directory() / "images", image_size=(64, 64), channels=1)
    images = dataset.images[::200]  # One image of each of four classes.
    body = json.loads(json.dumps({"instances": images.astype(float).tolist()}))
    served = serving(image=tensorflow.constant(body["instances"], tensorflow.float32))
    model, _ = ModelRegistry(registry_directory).load("demo-defect-cnn")
    expected = model.predict(images.astype("float32"), verbose=0)
    np.testing.assert_allclose(served["output_0"].numpy(), expected, atol=1e-5)
