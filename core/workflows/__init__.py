"""End-to-end runs: load data, train through `core.engine`, evaluate, register, and reload a
registered model with its data split.

Modules (the public surface is what each module's docstring names):

- `image`: The image inspection workflow: load -> split -> train -> evaluate -> register, and reuse.
- `image_test_split`: A registered image model's test split, reproduced, with its predictor and
  sample heatmaps.
- `series`: Sensor-series runs end to end: read the data, train, register, reload and score.
"""
