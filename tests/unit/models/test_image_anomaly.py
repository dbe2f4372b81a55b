"""Tests for core/models/image_anomaly*.py: builders, the Gaussian fit, safe save and load."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from core.engine.image_anomaly_fitting import reconstruction_errors  # noqa: E402
from core.models.image_anomaly import check_anomaly_input_shape  # noqa: E402
from core.models.image_anomaly_autoencoder import (  # noqa: E402
    build_convolutional_autoencoder,
    build_reconstruction_map_model,
)
from core.models.image_anomaly_gaussian import (  # noqa: E402
    build_feature_extractor,
    build_feature_gaussian_model,
    fit_position_gaussians,
)
from core.registry.reading import contains_lambda_layer  # noqa: E402

SIZE = 32


def random_images(count: int, seed: int = 0, channels: int = 1) -> np.ndarray:
    generator = np.random.default_rng(seed)
    return generator.integers(60, 200, (count, SIZE, SIZE, channels)).astype(np.uint8)


def gaussian_model(images: np.ndarray, **options):
    extractor = build_feature_extractor(images.shape[1:], seed=0)
    mean, factors = fit_position_gaussians(np.asarray(extractor(images.astype("float32"))))
    return build_feature_gaussian_model(extractor, mean, factors, **options)


def autoencoder_map_model(images: np.ndarray):
    autoencoder = build_convolutional_autoencoder(images.shape[1:])
    return build_reconstruction_map_model(autoencoder, reconstruction_errors(autoencoder, images))


@pytest.mark.parametrize(
    "shape", [(30, 32, 1), (8, 8, 1), (264, 264, 1), (32, 32, 2), (32, 32), "32x32", (32.0, 32, 1)]
)
def test_input_shape_is_checked(shape):
    with pytest.raises(ValueError) as error:
        check_anomaly_input_shape(shape)
    assert str(error.value).startswith(
        "Expected `input_shape` to be (height, width, channels) with sides that are multiples of "
        "8 from 16 to 256 and 1 or 3 channels. Received: input_shape="
    )


def test_input_shape_accepts_rectangles_and_rgb():
    assert check_anomaly_input_shape([16, 256, 3]) == (16, 256, 3)


def test_autoencoder_reconstructs_in_unit_range_with_a_small_code():
    model = build_convolutional_autoencoder((SIZE, SIZE, 3), latent_channels=4)
    assert model.name == "conv_autoencoder"
    assert model.output_shape == (None, SIZE, SIZE, 3)
    assert model.get_layer("code").output.shape[1:] == (4, 4, 4)
    output = np.asarray(model(random_images(2, channels=3).astype("float32")))
    assert output.min() >= 0 and output.max() <= 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"latent_channels": 0}, "Expected `latent_channels` to be an integer >= 1."),
        ({"filters": (8, 8)}, "Expected `filters` to hold 3 integers. Received: filters="),
        ({"filters": (8, 8, 0)}, "Expected `filters` to be an integer >= 1. Received: filters=0"),
    ],
)
def test_autoencoder_rejects_bad_options(options, message):
    with pytest.raises(ValueError, match="Expected") as error:
        build_convolutional_autoencoder((SIZE, SIZE, 1), **options)
    assert message in str(error.value)


def test_feature_extractor_is_frozen_seeded_and_two_scale():
    first = build_feature_extractor((SIZE, SIZE, 1), seed=3)
    second = build_feature_extractor((SIZE, SIZE, 1), seed=3)
    other = build_feature_extractor((SIZE, SIZE, 1), seed=4)
    assert first.output_shape == (None, SIZE // 4, SIZE // 4, 16 + 32)
    assert not first.trainable_weights
    images = random_images(2).astype("float32")
    np.testing.assert_array_equal(first(images), second(images))
    assert not np.allclose(first(images), other(images))
    with pytest.raises(ValueError, match=r"Expected `filters` to hold 2 integers"):
        build_feature_extractor((SIZE, SIZE, 1), filters=(8,))


def test_gaussian_fit_factors_the_regularised_inverse_covariance():
    generator = np.random.default_rng(1)
    features = generator.normal(size=(40, 2, 3, 5)) * np.arange(1, 6)
    mean, factors = fit_position_gaussians(features, shrinkage=0.1)
    assert mean.shape == (6, 5) and factors.shape == (6, 5, 5)
    vectors = features.reshape(40, 6, 5)
    np.testing.assert_allclose(mean, vectors.mean(axis=0), rtol=1e-5)
    for position in (0, 5):
        covariance = np.cov(vectors[:, position], rowvar=False)
        covariance += 0.1 * np.trace(covariance) / 5 * np.eye(5)
        inverse = factors[position].astype(np.float64) @ factors[position].T
        np.testing.assert_allclose(inverse, np.linalg.inv(covariance), rtol=1e-3, atol=1e-5)


def test_gaussian_fit_accumulates_batches_like_one_array():
    generator = np.random.default_rng(2)
    features = 50 + generator.normal(size=(30, 2, 2, 4))
    whole = fit_position_gaussians(features)
    batched = fit_position_gaussians(iter([features[:7], features[7:20], features[20:]]))
    np.testing.assert_allclose(batched[0], whole[0], rtol=1e-6)
    # Eigenvector signs may differ: compare the inverse covariances the factors stand for.
    inverse = np.einsum("pcd,ped->pce", *[whole[1]] * 2)
    np.testing.assert_allclose(
        np.einsum("pcd,ped->pce", *[batched[1]] * 2), inverse, rtol=1e-4, atol=1e-5
    )
    with pytest.raises(ValueError, match=r"the same for every batch. Received: features.shape"):
        fit_position_gaussians([features[:3], features[:3, :1]])
    with pytest.raises(ValueError, match=r"Received: 0 feature map\(s\)"):
        fit_position_gaussians([])


def test_gaussian_fit_survives_constant_features_and_few_images():
    mean, factors = fit_position_gaussians(np.zeros((2, 1, 1, 3)))
    assert np.all(np.isfinite(factors)) and np.all(mean == 0)


@pytest.mark.parametrize(
    ("features", "shrinkage", "message"),
    [
        (np.zeros((1, 2, 2, 3)), 0.01, "Expected finite feature maps of shape (N >= 2,"),
        (np.zeros((4, 2, 3)), 0.01, "Received: features.shape=(4, 2, 3)"),
        (np.full((4, 1, 1, 2), np.nan), 0.01, "Expected finite feature maps"),
        (
            np.zeros((4, 1, 1, 2)),
            0,
            "Expected `shrinkage` to be a number > 0. Received: shrinkage=0",
        ),
    ],
)
def test_gaussian_fit_rejects_bad_input(features, shrinkage, message):
    with pytest.raises(ValueError) as error:
        fit_position_gaussians(features, shrinkage=shrinkage)
    assert message in str(error.value)


def test_feature_gaussian_grid_is_the_squared_mahalanobis_distance():
    images = random_images(12)
    model = gaussian_model(images)
    assert model.output_shape == (None, SIZE, SIZE, 1)
    grid = keras.Model(model.inputs[0], model.get_layer("distance_grid").output)
    extractor = model.get_layer("feature_extractor")
    training = np.asarray(extractor(images.astype("float32")), dtype=np.float64)
    vectors = training.reshape(len(images), -1, training.shape[-1])
    probe = random_images(1, seed=9).astype("float32")
    probe_vector = np.asarray(extractor(probe), dtype=np.float64).reshape(-1, training.shape[-1])
    position = 5
    covariance = np.cov(vectors[:, position], rowvar=False)
    covariance += 0.01 * np.trace(covariance) / covariance.shape[0] * np.eye(len(covariance))
    difference = probe_vector[position] - vectors[:, position].mean(axis=0)
    expected = difference @ np.linalg.inv(covariance) @ difference
    actual = np.asarray(grid(probe)).reshape(-1)[position]
    assert actual == pytest.approx(expected, rel=1e-3)


def test_feature_gaussian_rejects_statistics_of_another_extractor():
    extractor = build_feature_extractor((SIZE, SIZE, 1))
    with pytest.raises(ValueError) as error:
        build_feature_gaussian_model(extractor, np.zeros((4, 48)), np.zeros((4, 48, 48)))
    assert str(error.value) == (
        "Expected `mean` of shape (64, 48) and `factors` of shape (64, 48, 48) for the "
        "extractor's 8x8x48 features. Received: mean.shape=(4, 48), factors.shape=(4, 48, 48)"
    )


def test_reconstruction_map_is_zero_mean_per_pixel_on_its_own_images():
    images = random_images(6)
    model = autoencoder_map_model(images)
    maps = np.asarray(model(images.astype("float32")))
    assert maps.shape == (6, SIZE, SIZE, 1)
    np.testing.assert_allclose(maps.mean(axis=0), 0.0, atol=1e-3)
    dark = images.copy()
    dark[0, 10:16, 10:16] = 0
    changed = np.asarray(model(dark.astype("float32")))[0, ..., 0]
    assert changed[10:16, 10:16].mean() > maps[0, 10:16, 10:16, 0].mean()


def test_reconstruction_map_rejects_error_maps_of_another_size():
    autoencoder = build_convolutional_autoencoder((SIZE, SIZE, 1))
    with pytest.raises(ValueError) as error:
        build_reconstruction_map_model(autoencoder, np.zeros((2, 16, 16, 1)))
    assert str(error.value) == (
        "Expected `error_maps` of shape (N >= 1, 32, 32, 1). "
        "Received: error_maps.shape=(2, 16, 16, 1)"
    )


@pytest.mark.parametrize("builder", [gaussian_model, autoencoder_map_model])
@pytest.mark.parametrize("channels", [1, 3])
def test_every_map_model_saves_without_lambda_and_reloads_safely(builder, channels, tmp_path):
    images = random_images(4, channels=channels)
    model = builder(images)
    path = tmp_path / "model.keras"
    model.save(path)
    assert not contains_lambda_layer(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    batch = random_images(3, seed=5, channels=channels).astype("float32")
    expected = np.asarray(model(batch))
    assert expected.shape == (3, SIZE, SIZE, 1)
    np.testing.assert_allclose(np.asarray(loaded(batch)), expected, rtol=1e-5, atol=1e-5)
