"""Data entry points: every file a user brings is read and validated here, once; also the
bundled sample, its generators and the pages' data sources.

Modules (the public surface is what each module's docstring names):

- `archive_checks`: Checks on uploaded files and ZIP archive members, made before any member is
  read.
- `archives`: Safe reading of ZIP archives that users upload or point at.
- `atomic_files`: Durable file writes: a reader sees the old file or the complete new one, never a
  partial one.
- `bundled`: Read access to the bundled `sample_data/` for demos (home page, walkthroughs).
- `cmapss`: NASA C-MAPSS turbofan files: find them in a folder and load them as sensor series.
- `cmapss_text`: NASA C-MAPSS text files: recognise one and read it into a raw table with named
  columns.
- `config_checks`: Field checks and the dict round trip shared by the training configurations.
- `image_decoding`: Image decoding: check options, then turn image files into uint8 arrays of one
  size.
- `image_files`: Image datasets kept on disk: find and check the files, keep their paths, not their
  pixels.
- `image_listing`: Image dataset listing: find the files of a folder or manifest, and label what
  loaded.
- `image_sources`: Image data sources of the pages: the bundled sample, an uploaded zip, or images +
  a manifest.
- `images`: Image datasets: load, check and resize images from folders, ZIP archives, manifests and
  uploads.
- `inspection`: What the loaders find in a data set: the engine behind `python -m core inspect`.
- `masks`: Defect masks: per-pixel ground truth for pixel-level anomaly metrics.
- `perturbations`: Controlled changes of images, as a line camera drifts: brightness, contrast,
  blur, rotation, shift and noise, each at two severities.
- `sample_data`: Writes LineSight's bundled sample data: steel-surface images and machine sensor
  series.
- `scaling`: Per-sensor scaling of sensor series: `SensorScaler`, optionally per operating
  condition.
- `sensor_sources`: Sensor files for the sensor monitor page: sources, column roles, validation,
  truth files.
- `series`: Sensor series: read CSV and Parquet files into one validated, canonical table.
- `series_io`: Sensor series files: read CSV, Parquet and C-MAPSS text into a raw table, without
  validating it.
- `series_loading`: One entry for any sensor series file: CSV, Parquet, C-MAPSS text or a C-MAPSS
  folder.
- `series_validation`: Checks behind `core.data.series.dataset_from_frame`: column roles, numbers,
  time order, windows.
- `splits`: Train, validation and test splits: stratified by class for images, by unit for series.
- `synthetic_images`: Synthetic grayscale steel-surface images with and without defects.
- `synthetic_sensors`: Synthetic run-to-failure sensor data in the style of NASA's C-MAPSS turbofan
  set.
- `tables`: Data frames at the boundary: column checks and CSV bytes that are safe to open in a
  spreadsheet.
- `truth_files`: Ground-truth files that come beside sensor data: true remaining life and known
  anomalies.
- `validation`: Shared pieces for validating input at the boundary where it enters LineSight.
- `windows`: Sensor series to model inputs: RUL targets and fixed-length windows.
"""
