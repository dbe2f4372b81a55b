"""What a quality or maintenance engineer decides with a model: the cost-based operating point,
the robustness check, the sign-off report, the maintenance plan and the "does synthetic data
help" experiment.

Modules (the public surface is what each module's docstring names):

- `gan_benefit`: Does a GAN's synthetic data help a classifier? A controlled experiment on real test
  images.
- `gan_benefit_data`: The data side of the "does it help" experiment: checks, the real test set, the
  small real set.
- `maintenance`: Maintenance planning from series predictions: units ranked by predicted remaining
  life.
- `operating_point`: The cost-based operating point: the defect-score threshold of least expected
  cost per part.
- `operating_point_data`: Validation defect scores of a registered image model, and setting its
  operating point.
- `robustness`: Robustness check: re-score a model's test split under controlled changes of the
  images.
- `signoff_html`: The sign-off report's HTML: one self-contained page rendered from what was
  gathered.
- `signoff_report`: The sign-off report: one self-contained HTML page that a quality engineer signs.
"""
