"""The command line, `python -m core <command>`: argument parsing and printing only; the work is
done by the packages below.

Modules (the public surface is what each module's docstring names):

- `commands`: Handlers of the model commands of `python -m core`: train, evaluate, predict, models.
- `common`: Pieces every command of `python -m core` shares: options, JSON output, opening the
  registry, timed steps.
- `decisions`: Decision commands of `python -m core`: `operating-point`.
- `demo`: The guided demo's command of `python -m core`: demo-reset (see
  `core.demo.tour.reset_demo`).
- `gan`: GAN commands of `python -m core`: `train gan`, `generate` and `gan-benefit`.
- `image_anomaly`: Image anomaly commands of `python -m core`: `train image-anomaly`.
- `main`: Command-line interface: `python -m core <command> ...`.
- `predict`: Line-side inference commands of `python -m core`: predict (streamed) and watch (a
  folder).
- `series`: Sensor-series commands of `python -m core`: `train series` and series `evaluate`.
- `signoff`: Sign-off commands of `python -m core`: `report` and `robustness`.
- `terminal_progress`: A text progress bar for the CLI: a `core.engine.progress` listener writing to
  standard error.
"""
