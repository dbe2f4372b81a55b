"""Train image model: choose data, check it, train in the background, inspect and save the model."""

import pandas as pd
import streamlit as st

from core import ui
from core.charts import common as charts
from core.charts import training as charts_training
from core.jobs import image as image_jobs
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
CELL_IMAGE_LIMIT = 24

defaults = image_jobs.training_defaults()
remembered, uploads, remembered_widget = ui.page_memory(REMEMBERED, UPLOADS)

st.title("Train an image model")
st.markdown(
    "Train a defect classifier from scratch on your own images. Training runs in the background: "
    "you can switch to other pages and come back to follow it here. A reload or a new tab starts "
    "a new session, which does not see this one's jobs."
)

st.header("1. Data")
source, summary = ui.image_source_picker(remembered, uploads, "train_images", "Training images")

if summary is not None:
    ui.image_dataset_overview(summary, "train_images", thumbnail_width=72)

    st.header("2. Model and settings")
    settings = {}  # The arguments of `image_jobs.training_config`.
    left, middle, right = st.columns(3)
    with left:
        settings["model"] = remembered_widget(
            st.radio, "Model preset", "train_images_model", defaults["model"],
            options=defaults["models"],
            captions=[MODEL_CAPTIONS.get(name, "") for name in defaults["models"]],
        )  # fmt: skip
        settings["image_size"] = remembered_widget(
            st.radio, "Image size (pixels, square)", "train_images_size", defaults["image_size"],
            options=defaults["image_sizes"], horizontal=True,
        )  # fmt: skip
    with middle:
        settings["epochs"] = remembered_widget(
            st.number_input, "Epochs", "train_images_epochs", defaults["epochs"],
            min_value=1, max_value=500, step=1,
        )  # fmt: skip
        settings["batch_size"] = remembered_widget(
            st.number_input, "Batch size", "train_images_batch", defaults["batch_size"],
            min_value=1, max_value=1024, step=8,
        )  # fmt: skip
        settings["learning_rate"] = remembered_widget(
            st.number_input, "Learning rate", "train_images_rate", defaults["learning_rate"],
            min_value=1e-5, max_value=1.0, step=1e-4, format="%.5f",
        )  # fmt: skip
    with right:
        settings["optimizer"] = remembered_widget(
            st.selectbox, "Optimizer", "train_images_optimizer", defaults["optimizer"],
            options=defaults["optimizers"],
        )  # fmt: skip
        settings["augmentation"] = remembered_widget(
            st.toggle, "Augmentation (flips, rotations, shifts, brightness)",
            "train_images_augmentation", defaults["augmentation"],
        )  # fmt: skip
        settings["validation_fraction"] = remembered_widget(
            st.slider, "Validation share", "train_images_validation",
            defaults["validation_fraction"], min_value=0.0, max_value=0.4, step=0.05,
        )  # fmt: skip
        st.caption(f"A further {defaults['test_fraction']:.0%} is held out to test the model.")

    def submit():
        config = image_jobs.training_config(**settings)
        model, epochs, size = (settings[name] for name in ("model", "epochs", "image_size"))
        description = f"{model}, {epochs} epochs, {size} px on {source.description}"
        work = image_jobs.make_training_work(source, config)
        name = image_jobs.suggested_model_name(source, config)
        return ui.submit_job(image_jobs.JOB_KIND, work, description, name)

    ui.start_button(submit, "train_images_start", job_key="train_images_job")


def show_results(job):
    summary = image_jobs.result_summary(job.result)
    if summary["cancelled"]:
        st.warning(
            f"Cancelled after {summary['epochs_run']} epoch(s); the model holds the weights of "
            f"epoch {summary['best_epoch']}."
        )
    ui.metric_row(
        {
            "Test accuracy": f"{summary['accuracy']:.1%}",
            "Macro F1": f"{summary['macro_f1']:.3f}",
            "Test images": summary["test_count"],
            "Epochs": summary["epochs_run"],
            "Training time": f"{summary['seconds']:.0f} s",
        }
    )
    st.plotly_chart(
        charts.training_curves(summary["history"], job.progress.snapshot()["batch_points"]),
        key=f"train_images_curves_{job.job_id}",
    )
    confusion_section(job, summary)

    st.subheader("Per-class metrics")
    st.dataframe(
        pd.DataFrame(summary["per_class"]).round(3),
        hide_index=True,
        key=f"train_images_per_class_{job.job_id}",
    )

    st.subheader(f"Misclassified test images ({summary['misclassified_count']})")
    mistakes = image_jobs.misclassified_items(job.result, limit=CELL_IMAGE_LIMIT)
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

    ui.save_form(
        job, save_image_run, f"train_images_name_{job.job_id}", f"train_images_save_{job.job_id}",
        suggested="image-model", saved="Saved as **{reference}**: find it on the Models page.",
    )  # fmt: skip


def confusion_section(job, summary):
    """The confusion matrix and the test images of its chosen cell."""
    result = job.result
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


def live_curves(snapshot):
    if snapshot["batch_points"]:
        return charts.training_curves(snapshot["epoch_history"], snapshot["batch_points"])
    return None


ui.training_section(
    "train_images", image_jobs.training_jobs, show_results,
    has_model=lambda result: result.training.best_epoch is not None, figure=live_curves,
)  # fmt: skip
