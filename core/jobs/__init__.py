"""Background jobs: the job manager and the engines behind the training pages (configuration,
work closures, results).

Modules (the public surface is what each module's docstring names):

- `gan`: The engine behind the "Synthetic images" page: GAN training and experiment jobs, their
  results.
- `image`: The engine behind the image training page: configuration, background work, results.
- `image_anomaly`: The engine behind the anomaly training page: configuration, background work,
  results.
- `job`: One background job's record: its state, its progress for the page, its result and the
  release of that result's heavy part.
- `manager`: Background jobs: training runs in worker threads that outlive page reruns and closed
  tabs.
- `sensor`: Training from the sensor monitor page: settings, configs, background work, saved models.
- `sensor_results`: Results of the sensor monitor page: one `MonitorRun` per trained or saved model,
  and its views.
"""
