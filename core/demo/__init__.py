"""The bundled demo models and the guided demo tour.

Modules (the public surface is what each module's docstring names):

- `models`: Demo models: trained on the bundled sample data by `python -m core demo-models`,
  committed, and registered automatically on first start so a fresh install can spot-check at once.
- `tour`: The guided demo: four steps through spot check, training, results and sensors on the
  sample data, and the reset that puts the demo models back as bundled.
"""
