"""Model builders. Each returns a Functional `keras.Model`; Keras is imported inside them."""

from core.models.image import (
    DEFAULT_IMAGE_MODEL,
    IMAGE_MODEL_PRESETS,
    AugmentationConfig,
    build_image_model,
)

__all__ = [
    "DEFAULT_IMAGE_MODEL",
    "IMAGE_MODEL_PRESETS",
    "AugmentationConfig",
    "build_image_model",
]
