"""Synthetic images: train a class-conditional GAN, generate labelled images, test if they help."""

import json

import pandas as pd
import streamlit as st

from core import ui
from core.charts import common as charts
from core.charts import gan as charts_gan
from core.engine import gan_generation, gan_training
from core.jobs import gan as gan_jobs

ui.require_login()

# Streamlit forgets the state of widgets a run does not draw (another page); these keys keep this
# session's choices, uploads and results so that coming back restores them.
REMEMBERED = "synthetic_remembered"
UPLOADS = "synthetic_uploads"
JOB_CLASSES = "synthetic_job_classes"
GENERATED = "synthetic_generated"
SAVED_GAN = "synthetic_saved_gan"
POLL_SECONDS = 1.0
PREVIEW_PER_CLASS = 4
MARKDOWN_SPECIAL = "\\`*_[]<>#|~$"
GAN_SAVED = "Saved as **{reference}** (task gan): pick it below to generate images."

token = ui.session_token()
manager = ui.job_manager()
registry = ui.registry()
defaults = gan_jobs.gan_training_defaults()
remembered, uploads, remembered_widget = ui.page_memory(REMEMBERED, UPLOADS)
job_classes = st.session_state.setdefault(JOB_CLASSES, {})


def verbatim(text):
    """Markdown that shows `text` exactly as written."""
    return "".join(f"\\{char}" if char in MARKDOWN_SPECIAL else char for char in str(text))


st.title("Synthetic images")
st.markdown(
    "Train a class-conditional GAN on your defect images, generate new labelled images of each "
    "class, and measure whether adding them helps a classifier trained on only a few real "
    "photos. Jobs run in the background: you can switch pages and come back."
)

st.header("1. Data")
source, summary = ui.image_source_picker(remembered, uploads, "synthetic", "Images")

class_names = []
if summary is not None:
    report = summary["report"]
    class_names = list(report["class_counts"])
    st.subheader(f"Dataset: {summary['description']}")
    metric_column, chart_column = st.columns([1, 3])
    metric_column.metric("Images", report["images"])
    metric_column.metric("Classes", report["classes"])
    chart_column.plotly_chart(
        charts.class_counts_bar(report["class_counts"], title="Images per class"),
        key="synthetic_class_counts",
    )
    for warning in report["warnings"]:
        st.warning(warning)
    ui.rejected_files_expander(report["rejected"])

st.header("2. Train a GAN")
if summary is None:
    st.info("Choose the training images in section 1.")
else:
    left, middle, right = st.columns(3)
    with left:
        image_size = remembered_widget(
            st.radio, "Image size (pixels, square, grayscale)", "synthetic_size",
            defaults["image_size"], options=defaults["image_sizes"], horizontal=True,
        )  # fmt: skip
    with middle:
        epochs = remembered_widget(
            st.number_input, "Epochs", "synthetic_epochs", defaults["epochs"],
            min_value=1, max_value=2000, step=1,
        )  # fmt: skip
        per_class = remembered_widget(
            st.number_input, "Images per class for training (0 = all)", "synthetic_per_class",
            0, min_value=0, max_value=100_000, step=10,
        )  # fmt: skip
    with right:
        holdout_fraction = remembered_widget(
            st.slider, "Held out of GAN training (to test fairly in section 4)",
            "synthetic_holdout", defaults["holdout_fraction"], min_value=0.0, max_value=0.5,
            step=0.05,
        )  # fmt: skip

    def submit():
        config = gan_jobs.gan_training_config(
            image_size=image_size,
            epochs=epochs,
            per_class=per_class or None,
            holdout_fraction=holdout_fraction,
        )
        job = ui.submit_job(
            gan_jobs.GAN_JOB_KIND,
            gan_jobs.make_gan_training_work(source, config),
            f"GAN {image_size} px, {epochs} epoch{'s' * (epochs != 1)} on {source.description}",
            gan_jobs.suggested_gan_name(source, config),
        )
        job_classes[job.job_id] = class_names
        return job

    ui.start_button(submit, "synthetic_train", label="Train GAN")


def show_grid(images, classes):
    """The per-epoch sample grid, rows labelled with their classes."""
    image, caption = gan_jobs.grid_display(images["image"], images["epoch"], classes)
    st.image(image, caption=caption, output_format="PNG")


def live_curves(snapshot):
    if snapshot["batch_points"]:
        return charts_gan.gan_loss_curves(snapshot["epoch_history"], snapshot["batch_points"])
    return None


def live_training(job):
    if ui.job_progress(job, "synthetic", figure=live_curves):
        images = job.progress.snapshot()["images"]
        if images:
            show_grid(images, job_classes.get(job.job_id, []))
    ui.cancel_control(manager, token, job, "synthetic_cancel_training", stopping="the job")


def training_results(job):
    result = job.result
    outcome = gan_jobs.gan_result_summary(result)
    if outcome["cancelled"]:
        st.warning(f"Cancelled after {outcome['epochs_run']} epoch(s).")
    columns = st.columns(5)
    columns[0].metric("Epochs", outcome["epochs_run"])
    columns[1].metric("Training images", outcome["training_images"])
    columns[2].metric("Held out", outcome["holdout_images"])
    losses = f"{outcome['final_d_loss']:.2f} / {outcome['final_g_loss']:.2f}"
    columns[3].metric("Final D / G loss", losses)
    columns[4].metric("Training time", f"{outcome['seconds']:.0f} s")
    st.plotly_chart(
        charts_gan.gan_loss_curves(outcome["history"], job.progress.snapshot()["batch_points"]),
        key=f"synthetic_curves_{job.job_id}",
    )
    show_grid({"image": outcome["grid"], "epoch": outcome["epochs_run"]}, outcome["class_names"])

    ui.save_form(
        job, save_gan, f"synthetic_name_{job.job_id}", f"synthetic_save_{job.job_id}",
        suggested="gan", saved=GAN_SAVED, label="GAN name (letters, digits, _ . -)",
        button="Save to registry", heading=False,
    )  # fmt: skip


def save_gan(result, registry, name, owner):
    record = gan_training.save_gan_run(result, registry, name, owner=owner)
    st.session_state[SAVED_GAN] = record.reference


def training_part(jobs):
    if not jobs:
        return
    job = jobs[0]  # The newest training job of this session.
    st.caption(f"Job: {job.description} ({job.state})")
    ui.released_notice(job)
    ui.job_outcome(
        job, live_training, training_results,
        has_result=lambda result: result.training.epochs_run > 0,
        failed=f"Training failed: {gan_jobs.failure_message(job.error)}",
        empty="Cancelled before the first epoch finished: there is no GAN to show.",
    )  # fmt: skip


def gan_picker(models, label, key):
    references = [record.reference for record in models]
    described = {record.reference: gan_jobs.describe_gan(record) for record in models}
    saved = st.session_state.get(SAVED_GAN)
    index = references.index(saved) if saved in references else 0
    # Each save makes a new widget (a new key) that starts at the GAN just saved. Setting the
    # value through Session State instead is lost when the browser re-mounts the widget.
    suffix = (saved or "none").replace(":", "-")
    return st.selectbox(
        label, references, index=index, format_func=described.get, key=f"{key}_{suffix}"
    )


def generate_part(models):
    st.header("3. Generate")
    if not models:
        st.info("Train a GAN in section 2 and save it to the registry to generate images.")
        return
    reference = gan_picker(models, "GAN", "synthetic_generate_gan")
    left, right = st.columns(2)
    per_class = remembered_widget(
        left.number_input, "Images per class", "synthetic_generate_count", 50, min_value=1,
        max_value=gan_generation.MAX_IMAGES_PER_CLASS, step=10,
    )  # fmt: skip
    seed = remembered_widget(
        right.number_input, "Seed", "synthetic_generate_seed", 0, min_value=0, step=1
    )
    if st.button("Generate", type="primary", key="synthetic_generate"):
        try:
            with st.spinner(f"Generating {per_class} images per class..."):
                data, counts = gan_generation.generate_zip(
                    registry, reference, per_class, seed=seed
                )
            st.session_state[GENERATED] = {
                "reference": reference,
                "data": data,
                "counts": counts,
                "preview": gan_jobs.zip_preview(data, PREVIEW_PER_CLASS),
            }
        except ValueError as error:
            st.error(f"Not generated: {error}")
    generated = st.session_state.get(GENERATED)
    if not generated:
        return
    total = sum(generated["counts"].values())
    st.success(f"{total} images from **{generated['reference']}** in one folder per class.")
    # Plain bytes: a download whose file is made on click (a callable) flaked in Chromium.
    st.download_button(
        "Download zip",
        data=generated["data"],
        file_name=f"synthetic-{generated['reference'].split(':')[0]}.zip",
        mime="application/zip",
        key="synthetic_download",
        on_click="ignore",
        icon=":material/download:",
    )
    for class_name, shown in generated["preview"].items():
        st.markdown(f"**{verbatim(class_name)}** ({generated['counts'].get(class_name, 0)})")
        st.image([image for _, image in shown], width=96)


def benefit_results(job):
    report = job.result
    if report.get("cancelled"):
        st.warning("Cancelled: the numbers below cover the parts that finished.")
    if report.get("baseline") and report.get("augmented"):
        baseline, augmented = report["baseline"], report["augmented"]
        difference = report["difference"]["accuracy"]
        columns = st.columns(3)
        columns[0].metric("Accuracy, real only", f"{baseline['accuracy']:.1%}")
        columns[1].metric("Accuracy, real + synthetic", f"{augmented['accuracy']:.1%}")
        columns[2].metric(
            "Difference", f"{difference * 100:+.1f} points", delta=f"{difference * 100:+.1f}"
        )
        st.dataframe(pd.DataFrame(gan_jobs.benefit_rows(report)).round(3), hide_index=True)
        st.plotly_chart(
            charts_gan.benefit_comparison(report), key=f"synthetic_benefit_{job.job_id}"
        )
    if report.get("fidelity"):
        st.subheader("Fidelity")
        st.metric("Agreement", f"{report['fidelity']['agreement']:.0%}")
        st.caption(
            "A classifier trained on real images labels the synthetic ones: agreement is the "
            "share it labels as the class they were generated for."
        )
        st.plotly_chart(charts_gan.fidelity_heatmap(report), key=f"synthetic_fidelity_{job.job_id}")
    if report.get("notes"):
        st.subheader("Notes")
        st.markdown("\n".join(f"- {verbatim(note)}" for note in report["notes"]))
    st.download_button(
        "Download report (JSON)",
        data=json.dumps(report, indent=2).encode(),
        file_name=f"gan-benefit-{report['gan'].replace(':', '-')}.json",
        mime="application/json",
        key=f"synthetic_report_{job.job_id}",
        on_click="ignore",
    )


def benefit_part(models, source, jobs):
    st.header("4. Does it help?")
    st.markdown(
        "Trains a classifier on a few real images per class, and another on the same images "
        "plus synthetic ones; both are tested on the same real images the GAN never saw."
    )
    if source is None or not models:
        st.info("Choose the GAN's training data in section 1 and save a GAN to run this.")
    else:
        reference = gan_picker(models, "GAN to test", "synthetic_benefit_gan")
        settings = {}
        columns = st.columns(len(gan_jobs.BENEFIT_SETTINGS))
        for column, setting in zip(columns, gan_jobs.BENEFIT_SETTINGS, strict=True):
            name, label, default, minimum, maximum = setting
            settings[name] = remembered_widget(
                column.number_input, label, f"synthetic_{name}", default, min_value=minimum,
                max_value=maximum,
            )  # fmt: skip

        def submit():
            work = gan_jobs.make_benefit_work(source, registry, reference, **settings)
            return ui.submit_job(
                gan_jobs.BENEFIT_JOB_KIND,
                work,
                f"{reference}: {settings['real_per_class']} real + "
                f"{settings['synthetic_per_class']} synthetic per class",
            )

        if ui.start_button(submit, "synthetic_benefit_run", label="Run experiment"):
            st.rerun()  # As a whole page, so that polling starts.
    if not jobs:
        return
    job = jobs[0]
    st.caption(f"Experiment: {job.description} ({job.state})")
    ui.job_outcome(
        job, live_experiment, benefit_results, has_result=bool,
        failed=f"The experiment could not run: {gan_jobs.failure_message(job.error)}",
        empty="Cancelled before any result.",
    )  # fmt: skip


def live_experiment(job):
    ui.job_progress(job, "synthetic_benefit", text=experiment_text, what="The experiment")
    ui.cancel_control(
        manager, token, job, "synthetic_cancel_benefit", "Cancel experiment", stopping="the job"
    )


def experiment_text(job):
    return job.progress.snapshot()["message"] or "Starting..."


jobs = gan_jobs.gan_jobs(manager, token)


# Everything below the training settings is one fragment that stays at the same place in the page:
# it polls every second while a job of this page is queued or running, and draws the live training,
# the generation and the experiment. Removing a polling fragment from the page, or drawing two of
# them, let a late timer tick address an element that no longer existed: the browser went blank.
@st.fragment(run_every=POLL_SECONDS if any(not job.finished for job in jobs) else None)
def jobs_section(polling: bool, source):
    jobs = gan_jobs.gan_jobs(manager, token)
    if polling and all(job.finished for job in jobs):
        st.rerun()  # Once more as a whole page, without the timer: polling stops.
    training_part([job for job in jobs if job.kind == gan_jobs.GAN_JOB_KIND])
    models = gan_jobs.gan_models(registry)
    generate_part(models)
    benefit_part(models, source, [job for job in jobs if job.kind == gan_jobs.BENEFIT_JOB_KIND])


jobs_section(any(not job.finished for job in jobs), source)
