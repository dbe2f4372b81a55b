"""The skeleton the training pages share: the button that starts a job, the polling section that
shows this session's jobs (live progress, failure or result) and the form that saves a model.

Each page passes what is its own: how to submit, how to draw progress and results, how to save.
"""

from __future__ import annotations

import streamlit as st

from core.jobs.manager import JobRefused
from core.jobs.sensor import progress_text as epoch_text
from core.ui.caches import job_manager, registry
from core.ui.jobs import cancel_control, job_picker, queued_notice
from core.ui.session import current_user_id, session_token

POLL_SECONDS = 1.0
MODEL_NAME_LABEL = "Model name (letters, digits, _ . -)"
NO_MODEL = "Cancelled before the first epoch finished: there is no model to show."
# The names `save_form` proposes, by job id (`submit_job`).
SUGGESTED_NAMES = "linesight_suggested_names"


def start_button(submit, key: str, label: str = "Start training", job_key: str | None = None):
    """A primary button that submits a background job; returns the job, or None.

    A refused job (the queue is full) shows "Not started: ..." and a ValueError of `submit` (a
    setting out of range) shows its message; the page goes on either way.

    Args:
        submit: Called on click: submits the job and returns it.
        key: The button's key.
        label: The button's label.
        job_key: The key of the page's job picker, moved to the new job when given.
    """
    if not st.button(label, type="primary", key=key):
        return None
    try:
        job = submit()
    except JobRefused as error:
        st.error(f"Not started: {error}")
        return None
    except ValueError as error:
        st.error(str(error))
        return None
    if job_key is not None:
        st.session_state[job_key] = job.job_id
    return job


def _epoch_text(job) -> str:
    return epoch_text(job.progress.snapshot())


def _no_figure(snapshot) -> None:
    return None


def job_progress(job, key: str, text=_epoch_text, figure=_no_figure, what="Training") -> bool:
    """An unfinished job's place in the queue, or its progress bar and live curves.

    Args:
        job: A queued or running job.
        key: The live chart's key is `<key>_live_curves`.
        text: `text(job)`: the progress bar's text; by default "Epoch 2 of 5, batch 10 of 40".
        figure: `figure(snapshot)`: the live curves of a progress snapshot, or None (no chart).
        what: What starts once a place is free ("Training starts ...").

    Returns:
        Whether the job is running (not queued).
    """
    if queued_notice(job_manager(), job, what):
        return False
    snapshot = job.progress.snapshot()
    st.progress(snapshot["fraction"], text=text(job))
    chart = figure(snapshot)
    if chart is not None:
        st.plotly_chart(chart, key=f"{key}_live_curves")
    return True


def job_outcome(job, live, results, *, has_result, failed: str, empty: str, details=False) -> None:
    """Draws a job by its state: live, failed, finished without a result, or its results.

    Args:
        job: The job shown.
        live: `live(job)` draws a queued or running job.
        results: `results(job)` draws a finished job's result.
        has_result: `has_result(result)`: whether a finished result holds something to show.
        failed: The error shown when the job failed.
        empty: The warning shown when it finished (was cancelled) with nothing to show.
        details: Whether a failure also shows the job's last message under "Details".
    """
    if not job.finished:
        live(job)
    elif job.state == "failed":
        st.error(failed)
        if details:
            with st.expander("Details"):
                st.code(job.progress.snapshot()["message"])
    elif job.result is None or not has_result(job.result):
        st.warning(empty)
    else:
        results(job)


def training_section(
    key: str, list_jobs, results, *, has_model, text=_epoch_text, figure=_no_figure, details=True
) -> None:
    """The "3. Training" section of a training page, drawn while this session has jobs there.

    Args:
        key: The page's key prefix: the job picker is `<key>_jobs` and `<key>_job`, the cancel
            button `<key>_cancel`, the live chart `<key>_live_curves`.
        list_jobs: `list_jobs(manager, token)`: this session's jobs of the page, newest first.
        results: `results(job)` draws a finished job's results (and its save form).
        has_model: `has_model(result)`: whether a finished job's result holds a model.
        text: The progress bar's text of a running job (see `job_progress`).
        figure: The live curves of a running job (see `job_progress`).
        details: Whether a failure also shows the job's last message under "Details".
    """
    manager, token = job_manager(), session_token()
    jobs = list_jobs(manager, token)
    if not jobs:
        return
    st.header("3. Training")

    def live(job) -> None:
        job_progress(job, key, text, figure)
        cancel_control(manager, token, job, f"{key}_cancel")

    # The whole section is one fragment that stays at the same place in the page while this
    # session has jobs: it polls every second while a job is queued or running. Removing a
    # polling fragment from the page (drawing the results outside it) let a late timer tick
    # address an element that no longer existed, and the browser showed a blank page.
    @st.fragment(run_every=POLL_SECONDS if any(not job.finished for job in jobs) else None)
    def section(polling: bool) -> None:
        jobs = list_jobs(manager, token)
        job = job_picker(manager, token, jobs, key)
        if polling and all(job.finished for job in jobs):
            st.rerun()  # Once more as a whole page, without the timer: polling stops.
        failed = f"Training failed: {job.error}"
        job_outcome(
            job, live, results, has_result=has_model, failed=failed, empty=NO_MODEL, details=details
        )

    section(any(not job.finished for job in jobs))


def submit_job(kind: str, work, description: str, suggested_name: str | None = None):
    """Submits `work` as this session's job; `save_form` later proposes `suggested_name`.

    Raises:
        JobRefused: If the queue is full (`start_button` shows it).
    """
    job = job_manager().submit(session_token(), kind, work, description=description)
    if suggested_name is not None:
        st.session_state.setdefault(SUGGESTED_NAMES, {})[job.job_id] = suggested_name
    return job


def save_form(
    job, save, name_key: str, button_key: str, *, suggested: str, saved: str,
    label: str = MODEL_NAME_LABEL, button: str = "Save model", heading: bool = True,
):  # fmt: skip
    """The form that saves a finished job's model to the registry; returns its record, or None.

    Saving releases the job's heavy result from memory. A refused name or a failed write shows
    "Not saved: ..." and keeps the result for another try.

    Args:
        job: A finished job with a result.
        save: `save(result, registry, name, owner=...)` saves the result, setting its `record`.
        name_key: The name field's key.
        button_key: The save button's key.
        suggested: The name proposed when `submit_job` was given none.
        saved: The success message once saved, with `{reference}` for the saved version.
        label: The name field's label.
        button: The save button's label.
        heading: Whether the form starts with its "Save to the model registry" subheader.
    """
    result = job.result
    if heading:
        st.subheader("Save to the model registry")
    # The suggestion is the widget's default, not a Session State value: a browser that
    # re-mounts the widget then still shows it. A value already there (the guided demo's
    # preset, or the user's) is kept.
    suggested = st.session_state.get(SUGGESTED_NAMES, {}).get(job.job_id, suggested)
    default = None if name_key in st.session_state else suggested
    name = st.text_input(label, value=default, key=name_key)
    if st.button(button, key=button_key):
        try:
            with st.spinner("Saving..."):
                save(result, registry(), name, owner=current_user_id())
            job_manager().release_result(session_token(), job.job_id)  # Saved: free the model.
        except (ValueError, OSError) as error:
            st.error(f"Not saved: {error}")
    if result.record is not None:
        st.success(saved.format(reference=result.record.reference))
    return result.record
