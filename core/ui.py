"""The one bridge between `core` and Streamlit: cached engine objects and per-session identity.

Shared across users (`st.cache_resource`): the registry handle, the job manager and loaded
predictors (immutable once loaded). Per user (`st.session_state`): the session token that owns
uploads and jobs. `st.cache_data` entries are keyed by the bundled data or by uploaded bytes.
Access (`core.access`): the login gate when `[auth]` is in the secrets, the current user, and the
per-type upload limits applied where uploads enter.
"""

from __future__ import annotations

import os
import uuid

import streamlit as st
from streamlit.errors import StreamlitAuthError, StreamlitSecretNotFoundError

from core import access
from core.data import bundled

SESSION_TOKEN_KEY = "linesight_session_token"
MAX_RUNNING_JOBS_VARIABLE = "LINESIGHT_MAX_RUNNING_JOBS"
MAX_QUEUED_JOBS_VARIABLE = "LINESIGHT_MAX_QUEUED_JOBS"
LOGOUT_KEY = "access_logout"


def _keep_keras_state_between_runs() -> None:
    """Stops Streamlit from clearing the Keras session after every script run.

    Streamlit calls `keras.backend.clear_session()` after each run, fragment polls included.
    In Keras 3 that replaces the global state of every thread, so a model that a job thread is
    building at that moment gets duplicate layer names ("The name 'dropout' is used 2 times")
    and its training fails; about 1 GAN training in 3 failed so in the browser. Jobs build
    their models from scratch and pages hold none, so nothing needs the clearing. The hook is
    private to Streamlit: `tests/unit/test_ui.py` fails if an upgrade moves it.
    """
    from streamlit.runtime.scriptrunner import script_runner

    if hasattr(script_runner, "_clean_problem_modules"):
        script_runner._clean_problem_modules = _no_cleanup


def _no_cleanup() -> None:
    """Replaces Streamlit's per-run module cleanup (see `_keep_keras_state_between_runs`)."""


_keep_keras_state_between_runs()


def _end_legacy_pages_directory_mode() -> None:
    """Stops Streamlit from running a `pages/` file without app.py, for the rest of the process.

    Until some run has called `st.navigation`, Streamlit serves a folder named `pages` the legacy
    way: the first request for `/models` after the server starts ran pages/models.py directly,
    skipping app.py and its login gate, and so did every request until someone opened `/`.
    Every page imports this module, so the first such run ends the mode (pages calling
    `require_login` are covered during that run too). The flag is private to Streamlit:
    `tests/app/test_access.py` fails if an upgrade moves it.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if hasattr(PagesManager, "uses_pages_directory"):
        PagesManager.uses_pages_directory = False


_end_legacy_pages_directory_mode()


def session_token() -> str:
    """This browser session's private token: the owner of its uploads and jobs."""
    if SESSION_TOKEN_KEY not in st.session_state:
        st.session_state[SESSION_TOKEN_KEY] = uuid.uuid4().hex
    return st.session_state[SESSION_TOKEN_KEY]


def _secrets() -> dict:
    """The app's secrets as a plain dict; {} when there is no secrets file.

    Raises:
        StreamlitSecretNotFoundError: A secrets file exists but cannot be parsed.
    """
    try:
        return st.secrets.to_dict()
    except StreamlitSecretNotFoundError as error:
        if getattr(error, "error_id", None) == "no-secrets-found":
            return {}
        raise


def login_enabled() -> bool:
    """Whether login is on: the secrets hold an `[auth]` section."""
    return access.auth_configured(_secrets())


def current_user_id() -> str | None:
    """The logged-in user (email, else OIDC subject), recorded as a model's owner; None when
    login is off or nobody is logged in."""
    if not login_enabled():
        return None
    return access.user_identity(st.user.to_dict())


def access_allowed() -> bool:
    """Whether this session may use the dashboard: login is off, or a user is logged in.

    False also when the secrets cannot be read (`login_page` then says why).
    """
    try:
        return not login_enabled() or current_user_id() is not None
    except StreamlitSecretNotFoundError:
        return False


def account_sidebar() -> None:
    """Who is logged in, and a logout button, in the sidebar (nothing while login is off)."""
    user = current_user_id()
    if user is not None:
        st.sidebar.caption(f"Signed in as `{user}`")
        st.sidebar.button("Log out", key=LOGOUT_KEY, icon=":material/logout:", on_click=st.logout)


def require_login() -> None:
    """Shows the login page and stops the page's run unless `access_allowed`.

    app.py routes a session that is not logged in to the login page alone; a page calls this
    first all the same, because Streamlit can run a page file without app.py (see
    `_end_legacy_pages_directory_mode`).
    """
    if not access_allowed():
        login_page()
        st.stop()


def login_page() -> None:
    """The only page while login is on and nobody is logged in: one button per OIDC provider."""
    st.title("LineSight")
    try:
        secrets = _secrets()
    except StreamlitSecretNotFoundError as error:
        st.error(f"Nobody can log in: the secrets file cannot be read. {error}")
        return
    problems = access.auth_problems(secrets)
    if problems:
        st.error(
            "Login is on ([auth] in .streamlit/secrets.toml) but incomplete, so nobody can log "
            "in:\n\n" + "\n".join(f"- {problem}" for problem in problems)
        )
        return
    st.markdown("Log in to inspect images, train models and manage the model registry.")
    for provider in access.login_providers(secrets):
        label = "Log in" if provider is None else f"Log in with {provider}"
        if st.button(label, key=f"access_login_{provider or 'default'}", icon=":material/login:"):
            try:
                st.login(provider)
            except StreamlitAuthError as error:  # Authlib missing, or Streamlit reads no [auth].
                st.error(f"Login failed: {error}")


@st.cache_resource(show_spinner=False)
def _registry(directory: str):
    from core.demo_models import ensure_demo_models
    from core.registry import ModelRegistry

    registry = ModelRegistry(directory)
    ensure_demo_models(registry)
    return registry


def registry():
    """The model registry (LINESIGHT_REGISTRY or ./registry), demo models registered once."""
    from core.registry import resolve_registry_directory

    return _registry(str(resolve_registry_directory()))


@st.cache_resource(show_spinner=False)
def job_manager():
    """The process-wide job manager; its bounds come from LINESIGHT_MAX_RUNNING/QUEUED_JOBS."""
    from core.jobs import JobManager

    return JobManager(
        max_running=int(os.environ.get(MAX_RUNNING_JOBS_VARIABLE, "1")),
        max_queued=int(os.environ.get(MAX_QUEUED_JOBS_VARIABLE, "3")),
    )


@st.cache_resource(show_spinner=False, max_entries=8)
def _predictor(registry_directory: str, reference: str, modified: float):
    # `modified` is part of the cache key: a re-saved version is loaded again.
    from core.image_workflow import load_predictor
    from core.registry import ModelRegistry

    return load_predictor(ModelRegistry(registry_directory), reference, operating_point=False)


def predictor(reference: str):
    """A warmed-up image predictor (classifier or anomaly model) and metadata, cached per
    version; the version's stored operating point, read afresh, decides its verdicts."""
    from core.decisions import with_operating_point

    record = registry().get(reference)
    modified = record.model_path.stat().st_mtime
    loaded, metadata = _predictor(str(registry().directory), record.reference, modified)
    return with_operating_point(loaded, record), metadata


@st.cache_resource(show_spinner=False, max_entries=8)
def _series_predictor(registry_directory: str, reference: str, modified: float):
    from core.registry import ModelRegistry
    from core.series_workflow import load_series_predictor

    return load_series_predictor(ModelRegistry(registry_directory), reference)


def series_predictor(reference: str):
    """A `SeriesPredictor` (model, scaler, settings) for a registered series model, cached."""
    record = registry().get(reference)
    modified = record.model_path.stat().st_mtime
    return _series_predictor(str(registry().directory), record.reference, modified)


@st.cache_data(show_spinner=False)
def sample_image_grid(images_per_class: int = 6):
    return bundled.sample_image_grid(images_per_class)


@st.cache_data(show_spinner=False)
def sample_sensor_frame(split: str = "train"):
    return bundled.sample_sensor_frame(split)


@st.cache_data(show_spinner=False, max_entries=32)
def _inspect_uploads(files: tuple[tuple[str, bytes], ...]) -> dict:
    from core.data.inspection import inspect_uploads as inspect

    return inspect(list(files))


def inspect_uploads(files: tuple[tuple[str, bytes], ...]) -> dict:
    """`core.data.inspection.inspect_uploads` of the files within their upload limits.

    A file beyond the limit of its type is listed under `rejected` with the `check_upload`
    message and never parsed; the others are inspected (and cached by their bytes).
    """
    accepted, refused = access.accept_uploads(files)
    report = (
        _inspect_uploads(tuple(accepted))
        if accepted
        else {"image_archives": [], "images": None, "series": [], "rejected": []}
    )
    return {**report, "rejected": [item.as_dict() for item in refused] + report["rejected"]}


@st.cache_data(show_spinner=False)
def inspect_sample_data() -> dict:
    from core.data.inspection import inspect_path

    directory = bundled.sample_data_directory()
    images = inspect_path(directory / "images", kind="images")
    sensors = inspect_path(directory / "sensors" / "train.csv", kind="series")
    return {
        "image_archives": [images | {"name": "sample_data/images"}],
        "images": None,
        "series": [sensors | {"name": "sample_data/sensors/train.csv"}],
        "rejected": [],
    }


def remembered_widget(remembered: dict, factory, label: str, key: str, default, **options):
    """Draws a widget whose value survives page switches within this session.

    Streamlit forgets the state of widgets a run does not draw (another page, or a form hidden
    until data is chosen). The remembered value becomes the widget's own default rather than a
    Session State value: a browser re-mounting the widget then shows it, not the widget's minimum
    or first option.

    Args:
        remembered: This session's dict of remembered values (in `st.session_state`).
        factory: The Streamlit widget function (`st.radio`, `st.number_input`, ...).
        label: The widget label.
        key: The widget key, also the key in `remembered`.
        default: The value before the user chose one.
        **options: Further widget arguments (`options` for choice widgets).

    Returns:
        The widget's value.
    """
    value = remembered.get(key, default)
    if factory in (st.selectbox, st.radio):
        choices = list(options["options"])
        options["index"] = choices.index(value) if value in choices else 0
    elif factory is st.multiselect:
        options["default"] = [choice for choice in value if choice in options["options"]]
    else:
        options["value"] = value
    remembered[key] = factory(label, key=key, **options)
    return remembered[key]


def _checked(files) -> tuple[list[tuple[str, bytes]], list[str]]:
    # The size is known before the bytes are copied out of Streamlit's upload store.
    accepted, refusals = [], []
    for file in files:
        try:
            access.check_upload(file.name, file.size)
        except ValueError as error:
            refusals.append(f"Not used: {error}")
        else:
            accepted.append((file.name, file.getvalue()))
    return accepted, refusals


def checked_uploads(files) -> list[tuple[str, bytes]]:
    """The uploaded files within their per-type size limits, as `(name, bytes)` pairs.

    Each refused file is shown as an error (`core.access.check_upload` message); the others go on.

    Args:
        files: `st.file_uploader` files (one `UploadedFile`, a list of them, or None).
    """
    files = files if isinstance(files, list) else [files] if files else []
    accepted, refusals = _checked(files)
    for refusal in refusals:
        st.error(refusal)
    return accepted


def _store_upload(uploads: dict, key: str) -> list[str]:
    value = st.session_state.get(key)
    files = value if isinstance(value, list) else [value] if value else []
    accepted, refusals = _checked(files)
    if accepted:
        uploads[key] = accepted
    else:
        uploads.pop(key, None)
    return refusals


def remembered_uploader(uploads: dict, label: str, key: str, types, multiple: bool = False):
    """A file uploader whose files outlive page switches.

    Streamlit drops a widget's files when a run does not draw it (another page was open); the
    files are copied into `uploads` (a dict kept in `st.session_state`) on every change and used
    again while the widget is empty. A file beyond its type's size limit is shown as an error
    and left out; the rest of the batch is kept.

    Returns:
        `[(name, bytes), ...]` of the current or remembered upload, or None.
    """
    st.file_uploader(
        label,
        type=types,
        accept_multiple_files=multiple,
        key=key,
        on_change=_store_upload,
        args=(uploads, key),
        max_upload_size=access.widget_limit_mb(types),
    )
    if st.session_state.get(key):
        for refusal in _store_upload(uploads, key):
            st.error(refusal)
    elif uploads.get(key):
        names = ", ".join(name for name, _ in uploads[key][:5])
        st.caption(f"Using your earlier upload: {names}")
    return uploads.get(key)


IMAGE_UPLOAD_TYPES = ["png", "jpg", "jpeg", "bmp", "tif", "tiff"]
IMAGE_SOURCE_CHOICES = {
    "Bundled sample": "sample",
    "Zip of class folders": "zip",
    "Images + CSV manifest": "manifest",
}


def image_source_picker(remembered: dict, uploads: dict, prefix: str, label: str):
    """The data section of an image page: sample, zip or images + manifest, then its summary.

    Widgets are keyed `<prefix>_source`, `<prefix>_zip`, `<prefix>_manifest_images` and
    `<prefix>_manifest`; the summary of the chosen data is kept in `<prefix>_summaries` (one
    data set at a time). Errors are shown in the page.

    Returns:
        `(source, summary)`: the `ImageSource` and `image_sources.dataset_summary` of the chosen
        data, or `(None, None)` while there is none or it cannot be read.
    """
    from core import image_sources

    choice = remembered_widget(
        remembered, st.radio, label, f"{prefix}_source", "Bundled sample",
        options=list(IMAGE_SOURCE_CHOICES), horizontal=True,
    )  # fmt: skip
    kind = IMAGE_SOURCE_CHOICES[choice]
    source = None
    try:
        if kind == image_sources.SAMPLE:
            source = image_sources.sample_image_source()
        elif kind == image_sources.ZIP:
            files = remembered_uploader(
                uploads, "Zip of class folders (one folder per class)", f"{prefix}_zip", ["zip"]
            )
            source = image_sources.zip_image_source(*files[0]) if files else None
        else:
            images = remembered_uploader(
                uploads, "Images", f"{prefix}_manifest_images", IMAGE_UPLOAD_TYPES, True
            )
            manifest = remembered_uploader(
                uploads, "Manifest CSV (columns filename,label)", f"{prefix}_manifest", ["csv"]
            )
            if images and manifest:
                source = image_sources.manifest_image_source(images + manifest, manifest[0][0])
    except ValueError as error:
        st.error(str(error))
    if source is None:
        if kind != image_sources.SAMPLE:
            st.info("Upload your data above, or choose the bundled sample.")
        return None, None
    cache = st.session_state.setdefault(f"{prefix}_summaries", {})
    if source.fingerprint not in cache:
        cache.clear()  # One data set at a time: uploads can be large.
        with st.spinner("Reading the images..."):
            try:
                cache[source.fingerprint] = image_sources.dataset_summary(source)
            except ValueError as error:
                cache[source.fingerprint] = {"error": str(error)}
    summary = cache[source.fingerprint]
    if "error" in summary:
        st.error(f"Could not read {source.description}: {summary['error']}")
        return None, None
    return source, summary


def rejected_files_expander(rejected: list) -> None:
    """Lists the files a loader could not use, with the reason of each."""
    if rejected:
        import pandas as pd

        with st.expander(f"{len(rejected)} file(s) could not be used"):
            st.dataframe(pd.DataFrame(rejected), hide_index=True)


def demo_tour_banner(step_key: str) -> None:
    """While the guided demo runs (`core.demo_tour`), shows this page's step, what to do and
    what to look at, with "Next" (presets the next page, then opens it) and "End demo".

    On the training page the step is "training" until the session's newest job has results,
    then "results" (its save name preset to the tour's model name).
    """
    from core import demo_tour

    if st.session_state.get(demo_tour.TOUR_STATE_KEY) is None:
        return
    if step_key == demo_tour.TRAINING:
        from core import image_jobs

        job = next(iter(image_jobs.training_jobs(job_manager(), session_token())), None)
        best_epoch = job.result.training.best_epoch if job and job.result else None
        step_key = demo_tour.training_page_step(job and job.state, best_epoch)
        if step_key == demo_tour.RESULTS:
            key = demo_tour.save_name_key(job.job_id)
            st.session_state.setdefault(key, demo_tour.TOUR_MODEL_NAME)
    step, following = demo_tour.step(step_key), demo_tour.next_step(step_key)
    st.session_state[demo_tour.TOUR_STATE_KEY] = step.key
    with st.container(border=True, key="demo_tour_banner"):
        number = demo_tour.step_number(step.key)
        st.markdown(f"**Demo step {number} of {len(demo_tour.STEPS)}: {step.title}**")
        st.markdown(f"{step.action}  \nLook at {step.look_at}")
        buttons = st.container(horizontal=True)
        waiting = following is not None and following.page == step.page
        if following is not None and buttons.button(
            f"Next: {following.title}", key="demo_tour_next", type="primary", disabled=waiting,
            help="Available once training has finished." if waiting else None,
        ):  # fmt: skip
            references = [record.reference for record in registry().list()]
            st.switch_page(demo_tour.start_step(st.session_state, following.key, references).page)
        if buttons.button("End demo", key="demo_tour_end"):
            demo_tour.end_tour(st.session_state)
            st.switch_page("pages/home.py")
