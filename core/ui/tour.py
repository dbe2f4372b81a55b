"""The guided demo's banner on each page of the tour (`core.demo.tour`)."""

from __future__ import annotations

import streamlit as st

from core.demo import tour as demo_tour
from core.jobs import image as image_jobs
from core.ui.caches import job_manager, registry
from core.ui.session import session_token


def demo_tour_banner(step_key: str) -> None:
    """While the guided demo runs (`core.demo.tour`), shows this page's step, what to do and
    what to look at, with "Next" (presets the next page, then opens it) and "End demo".

    On the training page the step is "training" until the session's newest job has results,
    then "results" (its save name preset to the tour's model name).
    """
    if st.session_state.get(demo_tour.TOUR_STATE_KEY) is None:
        return
    if step_key == demo_tour.TRAINING:
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
