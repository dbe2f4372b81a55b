"""End-to-end runs: load data, train through `core.engine`, evaluate, register, and reload a
registered model with its data split.

Modules (the public surface is what each module's docstring names):

- `image`: The image inspection workflow: load -> split -> train -> evaluate -> register, and reuse.
- `image_anomaly`: Image anomaly detection trained on defect-free images only: split, fit,
  threshold, evaluate.
- `image_runs`: A finished image training run: `ImageRunResult`, its evaluation on held-out images,
  headlines.
- `image_streamed`: Image training on data larger than memory, end to end: split, streamed training,
  evaluation.
- `image_test_split`: A registered image model's test split, reproduced, with its predictor and
  sample heatmaps.
- `series`: Sensor-series runs end to end: read the data, train, register, reload and score.
"""
