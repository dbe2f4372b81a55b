"""The background-job controls every training page shows: this session's jobs, the one shown,
its place in the queue and its cancel button."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.jobs.image import job_labels, job_rows, queue_text


def job_picker(manager, token: str, jobs: list, key: str):
    """Draws the session's jobs as a table and a "Show job" select; returns the chosen job.

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
    return manager.get(token, job_id)


def queued_notice(manager, job, what: str = "Training") -> bool:
    """Says how many jobs are ahead of a queued job; returns whether it is queued."""
    if job.state != "queued":
        return False
    position = queue_text(manager.queue_position(job.job_id))
    st.info(f"Queued: {position}. {what} starts when a place is free.")
    return True


def cancel_control(manager, token: str, job, key: str) -> None:
    """A "Cancel training" button (`<key>_cancel`), or a note once cancelling."""
    if job.cancellation.cancelled:
        st.caption("Cancelling: training stops after the current batch.")
    elif st.button("Cancel training", key=f"{key}_cancel"):
        manager.cancel(token, job.job_id)
        st.rerun()
