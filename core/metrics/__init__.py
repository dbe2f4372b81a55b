"""Evaluation metrics: classification, remaining useful life, anomaly flags and image anomaly
scores. numpy and pandas only.

Modules (the public surface is what each module's docstring names):

- `anomalies`: Anomaly flags: flagged stretches, and flags against known stretches (per step and per
  event).
- `counts`: Checked metric inputs, and the counts every metric builds on.
- `evaluation`: Evaluation metrics for classifiers, remaining-useful-life regressors and anomaly
  flags.
- `image_anomaly`: Evaluating an image anomaly model: the threshold, image and pixel AUROC, and test
  metrics.
- `series`: Metrics for sensor series: remaining-useful-life regression and binary anomaly flags.
"""
