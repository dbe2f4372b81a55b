"""Pure plotly figures: arrays and data frames in, `go.Figure` out.

Charts import only `core.data` and `core.metrics` (checked by import-linter): no registry, no
jobs, no TensorFlow, no Streamlit.

Modules (the public surface is what each module's docstring names):

- `common`: Plotly figures as pure functions: plain arrays and data frames in, figures out.
- `decisions`: Plotly figures of a model's operating point: ROC, precision-recall and expected cost.
- `gan`: Plotly figures for the "Synthetic images" page: GAN losses and the "does it help"
  experiment.
- `image_anomaly`: Plotly figures of an image anomaly model's test scores: per-class distribution
  and ROC curve.
- `robustness`: Plotly figure of a robustness check (`core.decisions.robustness`): result dict in,
  figure out.
- `series`: Plotly figures for sensor series and predictive maintenance, as pure functions.
- `series_anomaly`: Plotly figure of anomaly scores over time, built on `core.charts.series`'s
  style.
- `training`: Plotly figures for the training pages, built on `core.charts.common`.
"""
