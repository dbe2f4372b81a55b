"""The background-job controls every training page shows: this session's jobs, the one shown
(and whether its result was released from memory), its place in the queue and its cancel
button."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.jobs.image import job_labels, job_rows, queue_text
from core.jobs.job import RELEASED_IDLE, RELEASED_SAVED

RELEASE_NOTES = {
    RELEASED_SAVED: "Saved, so its trained model was released from memory",
    RELEASED_IDLE: "Unused for a while, so its trained model was released from memory",
}


def job_picker(manager, token: str, jobs: list, key: str):
    """Draws the session's jobs as a table and a "Show job" select; returns the chosen job.

    A job whose result was released (`JobManager.release_result`) is noted under the select.

    Args:
        manager: The `JobManager`.
        token: This session's token (the jobs' owner).
        jobs: The page's jobs, newest first (not empty).
        key: The page's key prefix: widgets are `<key>_jobs` and `<key>_job`.
    """
    st.dataframe(pd.DataFrame(job_rows(manager, jobs)), hide_index=True, key=f"{key}_jobs")
    labels = job_labels(jobs)
    if st.session_state.get(f"{key}_job") not in labels:
        st.session_state[f"{key}_job"] = next(iter(labels))
    job_id = st.selectbox("Show job", list(labels), format_func=labels.get, key=f"{key}_job")
    job = manager.get(token, job_id)
    released_notice(job)
    return job


def released_notice(job) -> None:
    """Says plainly that a job's result was released, if it was: what stays, what needs a rerun."""
    if job.result_released:
        note = RELEASE_NOTES.get(job.release_reason, "Its trained model was released from memory")
        st.info(
            f"{note}: the results below stay, but saving it again or drawing anything new from "
            "the model needs a new training run."
        )


def queued_notice(manager, job, what: str = "Training") -> bool:
    """Says how many jobs are ahead of a queued job; returns whether it is queued."""
    if job.state != "queued":
        return False
    position = queue_text(manager.queue_position(job.job_id))
    st.info(f"Queued: {position}. {what} starts when a place is free.")
    return True


def cancel_control(
    manager, token: str, job, key: str, label: str = "Cancel training", stopping: str = "training"
) -> None:
    """A cancel button (keyed `key`), or a note that `stopping` stops after the current batch."""
    if job.cancellation.cancelled:
        st.caption(f"Cancelling: {stopping} stops after the current batch.")
    elif st.button(label, key=key):
        manager.cancel(token, job.job_id)
        st.rerun()
