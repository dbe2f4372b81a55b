"""Train image model: choose data, check it, train in the background, inspect and save the model."""

import pandas as pd
import streamlit as st

from core import ui
from core.charts import common as charts
from core.charts import training as charts_training
from core.jobs import image as image_jobs
from core.jobs.manager import JobRefused
from core.workflows.image import save_image_run

ui.require_login()
ui.demo_tour_banner("training")

MODEL_CAPTIONS = {
    "seed_cnn": "small and quick: a first baseline in seconds",
    "defect_cnn": "the default: deeper, for real defect images",
}
# Streamlit forgets the state of widgets a run does not draw (another page); these keys keep this
# session's choices and uploads so that coming back restores them.
REMEMBERED = "train_images_remembered"
UPLOADS = "train_images_uploads"
MODEL_NAMES = "train_images_model_names"
POLL_SECONDS = 1.0
CELL_IMAGE_LIMIT = 24

token = ui.session_token()
manager = ui.job_manager()
defaults = image_jobs.training_defaults()
remembered = st.session_state.setdefault(REMEMBERED, {})
uploads = st.session_state.setdefault(UPLOADS, {})


def remembered_widget(factory, label, key, default, **options):
    return ui.remembered_widget(remembered, factory, label, key, default, **options)


st.title("Train an image model")
st.markdown(
    "Train a defect classifier from scratch on your own images. Training runs in the background: "
    "you can switch pages or close the tab and come back to follow it here."
)

st.header("1. Data")
source, summary = ui.image_source_picker(remembered, uploads, "train_images", "Training images")

if summary is not None:
    report = summary["report"]
    st.subheader(f"Dataset: {summary['description']}")
    columns = st.columns(3)
    columns[0].metric("Images", report["images"])
    columns[1].metric("Classes", report["classes"])
    columns[2].metric("Rejected files", len(report["rejected"]))
    chart_column, thumbnail_column = st.columns([2, 3])
    chart_column.plotly_chart(
        charts.class_counts_bar(report["class_counts"], title="Images per class"),
        key="train_images_class_counts",
    )
    with thumbnail_column:
        for class_name, thumbnails in summary["thumbnails"].items():
            st.markdown(f"**{class_name}** ({report['class_counts'][class_name]})")
            st.image([image for _, image in thumbnails], width=72)
    for warning in report["warnings"]:
        st.warning(warning)
    ui.rejected_files_expander(report["rejected"])

    st.header("2. Model and settings")
    left, middle, right = st.columns(3)
    with left:
        model = remembered_widget(
            st.radio, "Model preset", "train_images_model", defaults["model"],
            options=defaults["models"],
            captions=[MODEL_CAPTIONS.get(name, "") for name in defaults["models"]],
        )  # fmt: skip
        image_size = remembered_widget(
            st.radio, "Image size (pixels, square)", "train_images_size", defaults["image_size"],
            options=defaults["image_sizes"], horizontal=True,
        )  # fmt: skip
    with middle:
        epochs = remembered_widget(
            st.number_input, "Epochs", "train_images_epochs", defaults["epochs"],
            min_value=1, max_value=500, step=1,
        )  # fmt: skip
        batch_size = remembered_widget(
            st.number_input, "Batch size", "train_images_batch", defaults["batch_size"],
            min_value=1, max_value=1024, step=8,
        )  # fmt: skip
        learning_rate = remembered_widget(
            st.number_input, "Learning rate", "train_images_rate", defaults["learning_rate"],
            min_value=1e-5, max_value=1.0, step=1e-4, format="%.5f",
        )  # fmt: skip
    with right:
        optimizer = remembered_widget(
            st.selectbox, "Optimizer", "train_images_optimizer", defaults["optimizer"],
            options=defaults["optimizers"],
        )  # fmt: skip
        augmentation = remembered_widget(
            st.toggle, "Augmentation (flips, rotations, shifts, brightness)",
            "train_images_augmentation", defaults["augmentation"],
        )  # fmt: skip
        validation_fraction = remembered_widget(
            st.slider, "Validation share", "train_images_validation",
            defaults["validation_fraction"], min_value=0.0, max_value=0.4, step=0.05,
        )  # fmt: skip
        st.caption(f"A further {defaults['test_fraction']:.0%} is held out to test the model.")

    if st.button("Start training", type="primary", key="train_images_start"):
        try:
            config = image_jobs.training_config(
                model=model,
                epochs=epochs,
                batch_size=batch_size,
                learning_rate=learning_rate,
                optimizer=optimizer,
                image_size=image_size,
                augmentation=augmentation,
                validation_fraction=validation_fraction,
            )
            job = manager.submit(
                token,
                image_jobs.JOB_KIND,
                image_jobs.make_training_work(source, config),
                description=f"{model}, {epochs} epochs, {image_size} px on {source.description}",
            )
            st.session_state.setdefault(MODEL_NAMES, {})[job.job_id] = (
                image_jobs.suggested_model_name(source, config)
            )
            st.session_state["train_images_job"] = job.job_id
        except JobRefused as error:
            st.error(f"Not started: {error}")
        except ValueError as error:
            st.error(str(error))

jobs = image_jobs.training_jobs(manager, token)
if not jobs:
    st.stop()

st.header("3. Training")


# The whole section is one fragment that stays at the same place in the page while this session
# has jobs: it polls every second while a job is queued or running. Removing a polling fragment
# from the page (drawing the results outside it) let a late timer tick address an element that
# no longer existed, and the browser showed a blank page.
@st.fragment(run_every=POLL_SECONDS if any(not job.finished for job in jobs) else None)
def training_section(polling: bool):
    jobs = image_jobs.training_jobs(manager, token)
    job = ui.job_picker(manager, token, jobs, "train_images")
    if polling and all(job.finished for job in jobs):
        st.rerun()  # Once more as a whole page, without the timer: polling stops.
    if not job.finished:
        live_progress(job)
    elif job.state == "failed":
        st.error(f"Training failed: {job.error}")
        with st.expander("Details"):
            st.code(job.progress.snapshot()["message"])
    elif job.result is None or job.result.training.best_epoch is None:
        st.warning("Cancelled before the first epoch finished: there is no model to show.")
    else:
        show_results(job)


def live_progress(job):
    snapshot = job.progress.snapshot()
    if not ui.queued_notice(manager, job):
        total, steps = snapshot["total_epochs"], snapshot["steps_per_epoch"]
        text = (
            f"Epoch {snapshot['epoch']} of {total}, batch {snapshot['step']} of {steps}"
            if total
            else snapshot["message"] or "Starting..."
        )
        st.progress(snapshot["fraction"], text=text)
        if snapshot["batch_points"]:
            st.plotly_chart(
                charts.training_curves(snapshot["epoch_history"], snapshot["batch_points"]),
                key="train_images_live_curves",
            )
    ui.cancel_control(manager, token, job, "train_images")


def show_results(job):
    result = job.result
    summary = image_jobs.result_summary(result)
    if summary["cancelled"]:
        st.warning(
            f"Cancelled after {summary['epochs_run']} epoch(s); the model holds the weights of "
            f"epoch {summary['best_epoch']}."
        )
    columns = st.columns(5)
    columns[0].metric("Test accuracy", f"{summary['accuracy']:.1%}")
    columns[1].metric("Macro F1", f"{summary['macro_f1']:.3f}")
    columns[2].metric("Test images", summary["test_count"])
    columns[3].metric("Epochs", summary["epochs_run"])
    columns[4].metric("Training time", f"{summary['seconds']:.0f} s")
    st.plotly_chart(
        charts.training_curves(summary["history"], job.progress.snapshot()["batch_points"]),
        key=f"train_images_curves_{job.job_id}",
    )

    st.subheader("Confusion matrix")
    names = summary["class_names"]
    chart_key, true_key, predicted_key = (
        f"train_images_{part}_{job.job_id}" for part in ("confusion", "true", "predicted")
    )
    if true_key not in st.session_state:
        st.session_state[true_key], st.session_state[predicted_key] = (
            image_jobs.default_confusion_cell(result)
        )
    # A click on a cell (the chart's selection) moves the two class pickers to that cell.
    points = ((st.session_state.get(chart_key) or {}).get("selection") or {}).get("points") or []
    if points:
        cell = (str(points[0].get("y")), str(points[0].get("x")))
        if cell != st.session_state.get(f"{chart_key}_applied") and set(cell) <= set(names):
            st.session_state[f"{chart_key}_applied"] = cell
            st.session_state[true_key], st.session_state[predicted_key] = cell
    st.caption("Rows: true class, columns: predicted class. Click a cell to see its images.")
    chart_column, cell_column = st.columns([1, 1])
    chart_column.plotly_chart(
        charts_training.selectable_confusion_matrix(
            summary["confusion_matrix"],
            names,
            selected=(st.session_state[true_key], st.session_state[predicted_key]),
        ),
        key=chart_key,
        on_select="rerun",
        selection_mode="points",
    )
    with cell_column:
        pickers = st.columns(2)
        true_class = pickers[0].selectbox("True class", names, key=true_key)
        predicted_class = pickers[1].selectbox("Predicted class", names, key=predicted_key)
        items = image_jobs.confusion_cell_items(result, true_class, predicted_class)
        st.caption(
            f"{len(items)} test image(s) of class **{true_class}** predicted as "
            f"**{predicted_class}**"
            + (f" (first {CELL_IMAGE_LIMIT})" if len(items) > CELL_IMAGE_LIMIT else "")
        )
        if items:
            shown = items[:CELL_IMAGE_LIMIT]
            st.image([image for _, image in shown], caption=[name for name, _ in shown], width=96)

    st.subheader("Per-class metrics")
    st.dataframe(
        pd.DataFrame(summary["per_class"]).round(3),
        hide_index=True,
        key=f"train_images_per_class_{job.job_id}",
    )

    st.subheader(f"Misclassified test images ({summary['misclassified_count']})")
    mistakes = image_jobs.misclassified_items(result, limit=CELL_IMAGE_LIMIT)
    if mistakes:
        st.image(
            [item["image"] for item in mistakes],
            caption=[
                f"{item['name']}: true {item['true']}, predicted {item['predicted']} "
                f"({item['confidence']:.0%})"
                for item in mistakes
            ],
            width=120,
        )
    else:
        st.caption("None: every test image was classified correctly.")

    st.subheader("Save to the model registry")
    name_key = f"train_images_name_{job.job_id}"
    if name_key not in st.session_state:
        suggestions = st.session_state.get(MODEL_NAMES, {})
        st.session_state[name_key] = suggestions.get(job.job_id, "image-model")
    name = st.text_input("Model name (letters, digits, _ . -)", key=name_key)
    if st.button("Save model", key=f"train_images_save_{job.job_id}"):
        try:
            with st.spinner("Saving..."):
                save_image_run(result, ui.registry(), name, owner=ui.current_user_id())
            manager.release_result(token, job.job_id)  # Saved: free the model and images.
        except (ValueError, OSError) as error:
            st.error(f"Not saved: {error}")
    if result.record is not None:
        st.success(f"Saved as **{result.record.reference}**: find it on the Models page.")


training_section(any(not job.finished for job in jobs))
