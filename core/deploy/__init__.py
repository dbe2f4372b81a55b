"""Deployment formats of a model (Keras, SavedModel, TensorFlow Lite) and the export check.

Modules (the public surface is what each module's docstring names):

- `export`: Model export for deployment: a `.keras` copy, a TensorFlow SavedModel or TensorFlow
  Lite.
- `export_check`: The export check: every deployment format of an image model, scored beside the
  original.
"""
