"""The one bridge between `core` and Streamlit: pages call `ui.<function>`.

- `core.ui.session`: the session token that owns uploads and jobs, the login gate and the
  current user (`core.access.policy`), and two fixes to Streamlit's run loop applied on import.
- `core.ui.caches`: engine objects shared across users (registry, job manager, predictors,
  inspected data).
- `core.ui.widgets`: widgets shared by pages (remembered values, checked uploads, the image
  data source picker and its summary, rows of metrics, the image model picker, a model's
  training images as a zip).
- `core.ui.jobs`: the background-job controls of the training pages.
- `core.ui.training`: the training pages' skeleton (start button, polling "Training" section,
  live progress, the save form), around each page's own submit, progress and results.
- `core.ui.tour`: the guided demo's banner.

No other `core` module imports Streamlit.
"""

from core.ui.caches import (
    MAX_QUEUED_JOBS_VARIABLE,
    MAX_RUNNING_JOBS_VARIABLE,
    RESULT_IDLE_SECONDS_VARIABLE,
    inspect_sample_data,
    inspect_uploads,
    job_manager,
    predictor,
    registry,
    sample_image_grid,
    sample_sensor_frame,
    series_predictor,
)
from core.ui.jobs import cancel_control, job_picker, queued_notice, released_notice
from core.ui.session import (
    LOGOUT_KEY,
    SESSION_TOKEN_KEY,
    _end_legacy_pages_directory_mode,
    _no_cleanup,
    access_allowed,
    account_sidebar,
    current_user_id,
    login_enabled,
    login_page,
    require_login,
    session_token,
)
from core.ui.tour import demo_tour_banner
from core.ui.training import (
    job_outcome,
    job_progress,
    save_form,
    start_button,
    submit_job,
    training_section,
)
from core.ui.widgets import (
    IMAGE_SOURCE_CHOICES,
    IMAGE_UPLOAD_TYPES,
    checked_uploads,
    image_counts,
    image_dataset_overview,
    image_model_picker,
    image_source_picker,
    metric_row,
    page_memory,
    rejected_files_expander,
    remembered_uploader,
    remembered_widget,
    training_folder_note,
    zip_upload,
)

__all__ = [
    "IMAGE_SOURCE_CHOICES",
    "IMAGE_UPLOAD_TYPES",
    "LOGOUT_KEY",
    "MAX_QUEUED_JOBS_VARIABLE",
    "MAX_RUNNING_JOBS_VARIABLE",
    "RESULT_IDLE_SECONDS_VARIABLE",
    "SESSION_TOKEN_KEY",
    "_end_legacy_pages_directory_mode",
    "_no_cleanup",
    "access_allowed",
    "account_sidebar",
    "cancel_control",
    "checked_uploads",
    "current_user_id",
    "demo_tour_banner",
    "image_counts",
    "image_dataset_overview",
    "image_model_picker",
    "image_source_picker",
    "inspect_sample_data",
    "inspect_uploads",
    "job_manager",
    "job_outcome",
    "job_picker",
    "job_progress",
    "login_enabled",
    "login_page",
    "metric_row",
    "page_memory",
    "predictor",
    "queued_notice",
    "registry",
    "rejected_files_expander",
    "released_notice",
    "remembered_uploader",
    "remembered_widget",
    "require_login",
    "sample_image_grid",
    "sample_sensor_frame",
    "save_form",
    "series_predictor",
    "session_token",
    "start_button",
    "submit_job",
    "training_folder_note",
    "training_section",
    "zip_upload",
]
