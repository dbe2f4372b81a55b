"""Predictions on new inputs: predictors, verdicts, heatmaps, spot checks, line-side batch
prediction, folder watching and the writers of prediction rows.

Modules (the public surface is what each module's docstring names):

- `classifier`: Fast predictions for image classifiers: spot checks of a few uploaded images.
- `explain`: Grad-CAM explanations for image classifiers: where in the image the model looked.
- `heatmaps`: Heatmap helpers: peak, colormap and overlay of an explanation on its image (numpy
  only).
- `image_anomaly`: Fast predictions of image anomaly models: anomaly maps, image scores and a
  good/anomaly verdict.
- `line`: Line-side inference: stream thousands of images through a classifier in bounded memory.
- `spot_check`: Spot checks: predict a handful of uploaded images, explain them, and filter the
  results.
- `verdicts`: Verdicts: how a model's outputs become "good" or "defect" for a part.
- `watch`: Watch a folder on the line: score each new image once it is completely written.
- `writers`: Writers of prediction rows: CSV (safe to open in a spreadsheet) or Parquet, batch by
  batch.
"""
