"""The model registry: versioned storage of models with metadata, the files kept beside a
version, and the Models page's catalogue view.

Modules (the public surface is what each module's docstring names):

- `attachments`: Files kept beside a registered model version: its operating point, robustness
  results and sign-off report.
- `catalog`: The models page's view of the registry: a table of versions, side-by-side comparison
  data, the training data folder of a version, and deletion with a preview of what goes.
- `catalog_exports`: Export downloads of registered models: the formats offered, file names, what an
  exported model takes and returns, int8 calibration images, and the exported file as bytes.
- `metadata`: What the LineSight registry stores: names, references, metadata and version records.
- `reading`: Reading the registry from disk: version directories, and Lambda layers inside model
  files.
- `store`: The model registry: a directory of `<name>/<version>/` holding `model.keras` +
  `metadata.json`.
- `writing`: Writing the registry to disk: staging a version, claiming its number with one atomic
  rename, and removing versions and the leftovers of crashed writers.
"""
