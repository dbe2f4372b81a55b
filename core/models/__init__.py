"""Model builders. Each returns a Functional `keras.Model`; Keras is imported inside them.

Modules (the public surface is what each module's docstring names):

- `gan`: A class-conditional DCGAN for grayscale defect images: generator, discriminator, training
  glue.
- `image`: Image classifier presets: each builder is a pure function returning a Functional
  `keras.Model`.
- `image_anomaly`: Image anomaly methods, trained on defect-free images only: what the builders
  share.
- `image_anomaly_autoencoder`: The "autoencoder" image anomaly method: pure builders of its
  Functional models.
- `image_anomaly_gaussian`: The "feature-gaussian" image anomaly method (PaDiM-style): pure builders
  of its models.
- `series`: Sensor-series presets: pure builders returning uncompiled Functional `keras.Model`s.
- `series_autoencoder`: Sequence autoencoders for sensor windows: pure builders returning Functional
  `keras.Model`s.
"""

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
