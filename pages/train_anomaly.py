"""Train anomaly model: learn good parts only in the background, inspect scores and maps, save."""

import pandas as pd
import streamlit as st

from core import ui
from core.charts import common as charts
from core.charts import image_anomaly as charts_image_anomaly
from core.charts import training as charts_training
from core.jobs import image_anomaly as anomaly_jobs
from core.workflows.image_anomaly import save_image_anomaly_run

ui.require_login()

METHOD_CAPTIONS = {
    "feature-gaussian": "the default: a Gaussian of CNN features at each position; fits in seconds",
    "autoencoder": "rebuilds good surface and flags what it cannot rebuild; trains for epochs",
}
# Streamlit forgets the state of widgets a run does not draw (another page); these keys keep this
# session's choices and uploads so that coming back restores them.
REMEMBERED = "train_anomaly_remembered"
UPLOADS = "train_anomaly_uploads"
SAMPLE_MAPS = "train_anomaly_sample_maps"
MAPS_PER_GROUP = 4

remembered, uploads, remembered_widget = ui.page_memory(REMEMBERED, UPLOADS)

st.title("Train an anomaly model")
st.markdown(
    "An anomaly model learns what **good parts** look like and flags whatever differs, so it "
    "needs no defect photos to train: use it on lines with few or no pictures of defects. "
    "The defect images you do have only test it; training runs in the background, so you can "
    "switch pages and come back."
)

st.header("1. Data")
source, summary = ui.image_source_picker(remembered, uploads, "train_anomaly", "Training images")

if summary is not None:
    report = summary["report"]
    class_names = list(report["class_counts"])
    ui.image_dataset_overview(summary, "train_anomaly", thumbnail_width=64)

    st.header("2. Good class and method")
    defaults = anomaly_jobs.anomaly_defaults(class_names)
    if remembered.get("train_anomaly_good_class") not in class_names:
        remembered["train_anomaly_good_class"] = defaults["good_class"]
    left, right = st.columns(2)
    with left:
        good_class = remembered_widget(
            st.selectbox, "Good class (defect-free parts)", "train_anomaly_good_class",
            defaults["good_class"], options=class_names,
        )  # fmt: skip
        good_count = report["class_counts"].get(good_class, 0)
        train_share = 1 - defaults["validation_fraction"] - defaults["test_fraction"]
        st.caption(
            f"The model learns from the training part ({train_share:.0%}) of the {good_count} "
            f"'{good_class}' images only; held-out good images set the threshold; held-out good "
            f"and defect images ({defaults['test_fraction']:.0%} of each class) test it."
        )
        image_size = remembered_widget(
            st.radio, "Image size (pixels, square)", "train_anomaly_size", defaults["image_size"],
            options=defaults["image_sizes"], horizontal=True,
        )  # fmt: skip
    with right:
        method = remembered_widget(
            st.radio, "Method", "train_anomaly_method", defaults["method"],
            options=defaults["methods"],
            captions=[METHOD_CAPTIONS.get(name, "") for name in defaults["methods"]],
        )  # fmt: skip
        epochs = None
        if method == "autoencoder":
            epochs = remembered_widget(
                st.number_input, "Epochs (at most; stops early when validation stalls)",
                "train_anomaly_epochs", defaults["epochs"], min_value=1, max_value=1000, step=10,
            )  # fmt: skip

    def submit():
        config = anomaly_jobs.anomaly_config(
            method=method, good_class=good_class, image_size=image_size, epochs=epochs,
            class_names=class_names,
        )  # fmt: skip
        return ui.submit_job(
            anomaly_jobs.JOB_KIND, anomaly_jobs.make_anomaly_work(source, config),
            f"{method}, {image_size} px, good class '{good_class}' on {source.description}",
            anomaly_jobs.suggested_model_name(source, config),
        )  # fmt: skip

    ui.start_button(submit, "train_anomaly_start", job_key="train_anomaly_job")


def show_results(job):
    result = job.result
    summary = anomaly_jobs.result_summary(result)
    if summary["cancelled"]:
        st.warning(
            f"Cancelled after {summary['epochs_run']} epoch(s): the model holds what it learnt "
            "so far, and its test numbers below say how good that is."
        )
    st.subheader("Test results")
    columns = st.columns(6)
    # Good images alone train a detector; without defect test images its AUROC and recall
    # are unknown, and shown so.
    has_defects = summary["image_auroc"] is not None
    unknown = "Needs defect images in the data to test on."
    if has_defects:
        columns[0].metric("Image AUROC", f"{summary['image_auroc']:.3f}")
    else:
        columns[0].metric("Image AUROC", "unknown", help=unknown)
    if summary["pixel_auroc"] is not None:
        columns[1].metric("Pixel AUROC", f"{summary['pixel_auroc']:.3f}")
    else:
        columns[1].metric("Pixel AUROC", "n/a", help="Needs defect masks (the bundled sample).")
    columns[2].metric("Threshold", f"{summary['threshold']:.4g}")
    columns[3].metric("False-reject rate", f"{summary['false_reject_rate']:.1%}")
    if has_defects:
        columns[4].metric("Defect recall", f"{summary['defect_recall']:.1%}")
    else:
        columns[4].metric("Defect recall", "unknown", help=unknown)
    columns[5].metric("Training time", f"{summary['seconds']:.1f} s")
    trained = (
        f"{summary['epochs_run']} epochs (best {summary['best_epoch']})"
        if summary["method"] == "autoencoder"
        else "one pass"
    )
    st.caption(
        f"{summary['method']} learnt {summary['good_train']} good '{summary['good_class']}' images "
        f"in {trained}. Threshold: {summary['threshold_rule']}. Tested on "
        f"{summary['test_count']} held-out images; false-reject rate: good test images at or over "
        "the threshold; defect recall: defect test images at or over it."
    )
    if summary["history"]:
        st.plotly_chart(
            charts_training.series_training_curves(summary["history"]),
            key=f"train_anomaly_curves_{job.job_id}",
        )

    groups = anomaly_jobs.score_groups(result)
    score_column, roc_column = st.columns([3, 2])
    score_column.plotly_chart(
        charts_image_anomaly.score_distribution(
            groups, summary["good_class"], summary["threshold"]
        ),
        key=f"train_anomaly_scores_{job.job_id}",
    )
    if has_defects:
        roc_column.plotly_chart(
            charts_image_anomaly.score_roc_chart(
                groups, summary["good_class"], summary["threshold"]
            ),
            key=f"train_anomaly_roc_{job.job_id}",
        )
    else:
        roc_column.info(
            "No defect images in the data: the threshold comes from held-out good parts; add "
            "defect images (one folder per class) to measure how well defects are caught."
        )

    st.subheader("Confusion matrix")
    matrix_column, classes_column = st.columns([1, 1])
    matrix_column.plotly_chart(
        charts.confusion_matrix_heatmap(summary["confusion_matrix"], summary["class_names"]),
        key=f"train_anomaly_confusion_{job.job_id}",
    )
    with classes_column:
        st.markdown("**AUROC of each defect class** (against the good test images)")
        st.dataframe(
            pd.DataFrame(
                {
                    "defect class": list(summary["defect_class_auroc"]),
                    "AUROC": list(summary["defect_class_auroc"].values()),
                }
            ).round(3),
            hide_index=True,
            key=f"train_anomaly_class_auroc_{job.job_id}",
        )
    with st.expander(f"Scores of the {summary['test_count']} test images"):
        st.dataframe(
            pd.DataFrame(anomaly_jobs.score_table(result)),
            hide_index=True,
            key=f"train_anomaly_score_table_{job.job_id}",
        )

    st.subheader("Sample anomaly maps")
    st.caption(
        "One colour scale for every map: blue is calm, green is the threshold, red is twice "
        "the threshold or more."
    )
    cache = st.session_state.setdefault(SAMPLE_MAPS, {})
    if job.job_id not in cache:
        cache.clear()  # One job's maps at a time: they are images.
        cache[job.job_id] = anomaly_jobs.sample_maps(result, MAPS_PER_GROUP)
    for group in cache[job.job_id]:
        st.markdown(f"**{group['title']}**")
        items = group["items"]
        st.image(
            [item["overlay"] for item in items],
            caption=[
                f"{item['name']}: score {item['score']:.4g}, {item['verdict']}" for item in items
            ],
            width=150,
        )

    record = ui.save_form(
        job, save_image_anomaly_run, f"train_anomaly_name_{job.job_id}",
        f"train_anomaly_save_{job.job_id}", suggested="anomaly-model",
        saved="Saved as **{reference}**: find it on the Models page.",
    )  # fmt: skip
    if record is not None:
        st.caption(
            "Spot check it on the Spot check page, batch-predict with "
            f"`python -m core predict --model {record.reference} --input FOLDER`, set its "
            "threshold from costs on the Operating point page and make its report on the "
            "Sign-off page."
        )


def live_curves(snapshot):
    if any("loss" in point for point in snapshot["batch_points"]):
        history = {"loss": [], **snapshot["epoch_history"]}
        return charts_training.series_training_curves(history, snapshot["batch_points"])
    return None


ui.training_section(
    "train_anomaly", anomaly_jobs.anomaly_jobs, show_results,
    has_model=lambda result: result.epochs_run > 0, text=anomaly_jobs.progress_text,
    figure=live_curves,
)  # fmt: skip
