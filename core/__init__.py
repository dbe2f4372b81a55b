"""LineSight engine: data, models, training, evaluation, registry and CLI.

Nothing here imports TensorFlow or Streamlit at import time: the dashboard's home page must render
without them, and the `core/ui` package is the only code that bridges to Streamlit.
"""

__version__ = "0.1.0"
