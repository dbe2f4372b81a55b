"""Training: the only code that calls `fit` (image, series, image anomaly, GAN, multi-worker),
with its configs, input pipelines, precision, distribution and progress reporting.

Modules (the public surface is what each module's docstring names):

- `distribution`: Distribution strategies for training: one device, mirrored replicas, or a
  multi-worker cluster.
- `fit_results`: The trainers' Keras fit: early stopping on the best weights, timing, and what a run
  leaves.
- `gan_generation`: Making synthetic images with a registered GAN: sample grids, N images per class,
  a zip.
- `gan_training`: Training the class-conditional GAN: settings, the run, its sample grids, and
  registration.
- `image_anomaly_fitting`: Fitting the two image anomaly methods on good images (run by
  `core.workflows.image_anomaly`).
- `image_config`: Settings of one image training run (`ImageTrainingConfig`, checked in one place)
  and what it produced (`ImageTrainingResult`, packed by `finish_training` for every training path).
- `image_pipeline`: Input checks, class weights, the tf.data pipeline and the optimizer for image
  training.
- `image_streaming`: Image training on data larger than memory: tf.data reads and decodes the files
  batch by batch.
- `image_training`: Image training engine: `train_image_classifier`, `fit_image_classifier` and the
  progress adapter.
- `keras_progress`: A Keras callback feeding `core.engine.progress` listeners and honouring
  cancellation.
- `multiworker`: Training the image classifier across a cluster: a custom `tf.distribute` step.
- `precision`: Numeric precision of training: float32 everywhere, or mixed float16 on a GPU.
- `progress`: The progress interface: training reports per batch and per epoch to any listener.
- `series_anomaly`: Anomaly detection on sensor series: a sequence autoencoder trained on healthy
  data only.
- `series_anomaly_scoring`: Anomaly scores of sensor series from a trained sequence autoencoder,
  step by step.
- `series_config`: Sensor-series run settings and results: `SeriesTrainingConfig` and
  `SeriesRunResult`.
- `series_evaluation`: Sensor-series evaluation and prediction: targets, windows, metrics and
  per-cycle predictions.
- `series_training`: Sensor-series training engine: `train_series_model`, `predict_series`,
  `evaluate_series`.
"""
