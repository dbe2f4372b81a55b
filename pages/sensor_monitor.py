"""Sensor monitor: map sensor columns, train or pick a model, see RUL, failures and anomalies."""

import streamlit as st

from core import ui
from core.charts import common as charts
from core.charts import series as charts_series
from core.charts import series_anomaly as charts_anomaly
from core.charts import training as charts_training
from core.data import sensor_sources as sources
from core.data.tables import predictions_csv
from core.demo.models import DEMO_RUL_MODEL
from core.jobs import sensor as sensor_jobs
from core.jobs import sensor_results
from core.workflows.series import save_series_run

ui.require_login()
ui.demo_tour_banner("sensors")

# Streamlit forgets the state of widgets a run does not draw (another page, or a form hidden while
# no data is chosen); these keys keep this session's choices and uploads to restore them.
REMEMBERED = "sensor_monitor_remembered"
UPLOADS = "sensor_monitor_uploads"
TABLES = "sensor_monitor_tables"
SAVED_RUNS = "sensor_monitor_saved_runs"
TRUTH_UPLOAD = "sensor_monitor_saved_truth"

token = ui.session_token()
manager = ui.job_manager()
defaults = sensor_jobs.training_defaults()
_, uploads, remembered_widget = ui.page_memory(REMEMBERED, UPLOADS)


def store_upload(key):
    file = st.session_state.get(key)
    uploads[key] = (file.name, file.getvalue()) if file else None


def uploader(label, key):
    st.file_uploader(label, type=sources.UPLOAD_TYPES, key=key, on_change=store_upload, args=(key,))
    if st.session_state.get(key):
        # A file over its type's size limit is shown as an error and not used.
        accepted = ui.checked_uploads(st.session_state[key])
        uploads[key] = accepted[0] if accepted else None
    elif uploads.get(key):
        st.caption(f"Using your earlier upload: {uploads[key][0]}")
    return uploads.get(key)


def cached(store_key, key, compute):
    """Computes once per key in this session; ValueErrors are kept and shown as errors."""
    store = st.session_state.setdefault(store_key, {})
    if key not in store:
        store.clear()  # One data set at a time: uploads can be large.
        try:
            store[key] = compute()
        except ValueError as error:
            store[key] = error
    if isinstance(store[key], ValueError):
        st.error(str(store[key]))
        return None
    return store[key]


st.title("Sensor monitor")
st.markdown(
    "Upload machine sensor histories and see which machines will fail, when, and what looks "
    "abnormal now. Train a model in the background, or score the data with a saved one."
)

st.header("1. Sensor data")
choice = remembered_widget(
    st.radio, "Sensor data", "sensor_monitor_source", "Bundled sample",
    options=["Bundled sample", "Upload a file"], horizontal=True,
)  # fmt: skip
source = None
try:
    if choice == "Bundled sample":
        sample = remembered_widget(
            st.selectbox, "Sample file", "sensor_monitor_sample_file", "train.csv",
            options=list(sources.SAMPLE_FILES),
            format_func=lambda name: f"{name}: {sources.SAMPLE_FILES[name]}",
        )  # fmt: skip
        source = sources.sample_source(sample)
    else:
        upload = uploader("Sensor file (CSV, Parquet or C-MAPSS text)", "sensor_monitor_upload")
        source = sources.upload_source(*upload) if upload else None
except ValueError as error:
    st.error(str(error))

table = dataset = None
mode = "Train a new model"
if source is not None:
    with st.spinner("Reading the file..."):
        table = cached(TABLES, source.fingerprint, lambda: sources.read_table(source))
elif choice != "Bundled sample":
    st.info("Upload a sensor file above, or choose the bundled sample.")

if table is not None:
    prefix = f"sensor_monitor_map_{source.fingerprint}"
    detected, columns = table.detected, table.columns
    with st.expander("Column roles (detected automatically; change them if needed)"):
        roles, role_columns = {}, st.columns(3)
        for position, (role, label, several) in enumerate(sources.MAPPING_ROLES):
            with role_columns[position % 3]:
                roles[role] = remembered_widget(
                    st.multiselect if several else st.selectbox, label, f"{prefix}_{role}",
                    getattr(detected, role), options=columns if several else [None, *columns],
                    **({} if several else {"format_func": lambda value: value or "(none)"}),
                )  # fmt: skip
    mapping = sources.column_mapping(**roles)
    dataset = cached(
        f"{TABLES}_datasets",
        (source.fingerprint, repr(mapping)),
        lambda: sources.load_dataset(source, mapping, table),
    )

if dataset is not None:
    preview = sources.dataset_preview(dataset)
    st.subheader(f"Dataset: {source.description}")
    ui.metric_row(preview["headline"])
    st.dataframe(preview["head"], hide_index=True, key="sensor_monitor_preview")
    for problem in preview["summary"]["problems"]:
        st.caption(problem)
    # Keyed by the data and its roles: another file or unit column has other units and sensors.
    data_key = f"{source.fingerprint}_{abs(hash(repr(mapping))) % 10**8}"
    unit_column, sensor_column = st.columns([1, 3])
    curve_unit = unit_column.selectbox(
        "Unit", preview["units"], key=f"sensor_monitor_unit_{data_key}"
    )
    curve_sensors = sensor_column.multiselect(
        "Sensors to plot", dataset.sensor_columns, preview["curve_sensors"],
        key=f"sensor_monitor_sensors_{data_key}",
    )  # fmt: skip
    if curve_sensors:
        st.plotly_chart(
            charts.sensor_curves(sources.unit_rows(dataset, curve_unit), curve_sensors),
            key="sensor_monitor_curves",
        )

    st.header("2. Model")
    mode = remembered_widget(
        st.radio, "Model", "sensor_monitor_mode", "Train a new model",
        options=["Train a new model", "Use a saved model"], horizontal=True,
    )  # fmt: skip

if dataset is not None and mode == "Train a new model":
    columns = st.columns(3)
    with columns[0]:
        task = remembered_widget(
            st.radio, "Task", "sensor_monitor_task", defaults["task"],
            options=defaults["tasks"], format_func=sensor_jobs.TASK_LABELS.get,
        )  # fmt: skip
        kind = "autoencoder" if task == "anomaly" else "model"
        choices = {"task": task}
        choices["model"] = remembered_widget(
            st.selectbox, "Autoencoder" if task == "anomaly" else "Model preset",
            f"sensor_monitor_{kind}", defaults[kind], options=defaults[f"{kind}s"],
        )  # fmt: skip
    for position, setting in enumerate(sensor_jobs.number_settings(task)):
        with columns[1 + position // 3] if position < 6 else columns[0]:
            name = setting["name"]
            choices[name] = remembered_widget(
                st.number_input, setting["label"], f"sensor_monitor_{name}", defaults[name],
                **setting["options"],
            )  # fmt: skip
    with columns[2]:
        test_choice = remembered_widget(
            st.radio, "Evaluate on", "sensor_monitor_test", sources.HELD_OUT,
            options=sources.TEST_CHOICES,
        )  # fmt: skip
        if test_choice == sources.HELD_OUT:
            st.caption(f"{defaults['test_fraction']:.0%} of the units are held out for testing.")
        elif test_choice == sources.BUNDLED_TEST:
            st.caption(f"Sample {sources.sample_evaluation_data(task).description}")
        else:
            uploader("Test (or live) sensor file", "sensor_monitor_test_upload")
            uploader(sources.truth_label(task), "sensor_monitor_truth_upload")

    def submit():
        uploaded = [uploads.get(f"sensor_monitor_{kind}_upload") for kind in ("test", "truth")]
        return sensor_jobs.submit_training(
            manager, token, source, choices, mapping=mapping,
            evaluation=sources.evaluation_data(test_choice, task, *uploaded),
        )  # fmt: skip

    ui.start_button(submit, "sensor_monitor_start", job_key="sensor_monitor_job")


def show_run(run, key):
    """Draws the results of a trained or saved model; `key` keeps widget keys apart."""
    summary = sensor_results.run_summary(run)
    if summary:
        if summary["cancelled"]:
            st.warning(summary["cancelled"])
        ui.metric_row(summary["headline"])
        st.plotly_chart(
            charts_training.series_training_curves(summary["history"]), key=f"{key}_curves"
        )
    if run.problems:
        with st.expander(f"{len(run.problems)} note(s) on the data and training"):
            for problem in run.problems:
                st.caption(problem)
    if run.predictions.empty:
        st.info("No units were held out for testing: there is nothing to show.")
        return
    {"rul": show_rul, "failure": show_failure, "anomaly": show_anomaly}[run.task](run, key)
    data = predictions_csv(sensor_results.download_frame(run))
    st.download_button(
        "Download predictions (CSV)", data, f"{run.task}_predictions.csv", "text/csv",
        key=f"{key}_download",
    )  # fmt: skip


def show_rul(run, key):
    view = sensor_results.rul_view(run)
    st.subheader("Remaining useful life")
    ui.metric_row(view["headline"])
    units = st.multiselect("Units", view["units"], default=view["default_units"], key=f"{key}_u")
    if units:
        st.plotly_chart(
            charts_series.rul_over_cycles(view["curves"], units, cap=view["cap"]),
            key=f"{key}_rul",
        )
    if (per_unit := view["per_unit"]) is not None:
        st.caption("At each unit's last cycle: predicted against true RUL, and the errors.")
        scatter, histogram = st.columns(2)
        scatter.plotly_chart(charts_series.predicted_against_true(per_unit), key=f"{key}_true")
        histogram.plotly_chart(charts_series.error_histogram(per_unit), key=f"{key}_hist")
    st.subheader("Maintenance plan")
    window = st.slider(
        "Maintenance window (cycles)", 1, view["max_window"], view["window"], key=f"{key}_window"
    )
    table = sensor_results.maintenance_view(run, window)
    ranking, listing = st.columns([3, 2])
    ranking.plotly_chart(charts_series.maintenance_ranking(table, window), key=f"{key}_ranking")
    listing.dataframe(table.round(1), hide_index=True, key=f"{key}_maintenance")


def show_failure(run, key):
    view = sensor_results.failure_view(run)
    st.subheader(f"Failure within {run.horizon} cycles")
    ui.metric_row(view["headline"])
    matrix, curves = st.columns([2, 3])
    if view["confusion_matrix"] is not None:
        matrix.plotly_chart(
            charts.confusion_matrix_heatmap(view["confusion_matrix"], view["class_names"]),
            key=f"{key}_confusion",
        )
    with curves:
        units = st.multiselect("Units", view["units"], view["default_units"], key=f"{key}_u")
        if units:
            st.plotly_chart(
                charts_series.failure_probability_over_cycles(view["curves"], units),
                key=f"{key}_probability",
            )
    st.dataframe(view["ranking"].round(3), hide_index=True, key=f"{key}_ranking")


def show_anomaly(run, key):
    view = sensor_results.anomaly_view(run)
    st.subheader("Anomalies")
    ui.metric_row(view["headline"])
    unit = st.selectbox("Unit", view["units"], key=f"{key}_u")
    st.plotly_chart(
        charts_anomaly.anomaly_timeline(
            view["scores"], view["threshold"], unit=unit,
            injected=sensor_results.labels_for_unit(run.labels, unit),
        ),
        key=f"{key}_timeline",
    )  # fmt: skip
    stretches = view["stretches"]
    st.caption(f"{len(stretches)} flagged stretch(es) above the threshold {view['threshold']:.3g}")
    st.dataframe(stretches.round(3), hide_index=True, key=f"{key}_stretches")


if dataset is not None and mode == "Use a saved model":
    models = sensor_jobs.saved_series_models(ui.registry())
    if not models:
        st.info("No sensor model is saved yet: train one above and save it.")
    else:
        models = {model["reference"]: model for model in models}
        demo = next((name for name in models if name.startswith(f"{DEMO_RUL_MODEL}:")), None)
        reference = remembered_widget(
            st.selectbox, "Saved model", "sensor_monitor_saved", demo or next(iter(models)),
            options=list(models), format_func=lambda reference: models[reference]["label"],
        )  # fmt: skip
        task = models[reference]["task"]
        truth_source = sources.sample_truth(source, task)
        if truth_source is not None:
            st.caption(f"Compared with the bundled truth in {truth_source.name}.")
        else:
            truth_upload = uploader(f"{sources.truth_label(task)}, optional", TRUTH_UPLOAD)

        def score():
            truth = truth_source or (sources.upload_source(*truth_upload) if truth_upload else None)
            return sensor_jobs.score_saved_model(
                ui.series_predictor(reference), dataset, reference=reference, truth=truth,
                description=f"{reference} on {source.description}",
            )  # fmt: skip

        truth_key = truth_source.fingerprint if truth_source else hash(uploads.get(TRUTH_UPLOAD))
        key = (reference, source.fingerprint, repr(mapping), truth_key)
        with st.spinner("Scoring with the saved model..."):
            run = cached(SAVED_RUNS, key, score)
        if run is not None:
            st.header("3. Results")
            st.caption(run.description)
            show_run(run, f"sensor_monitor_saved_{abs(hash(key)) % 10**8}")
    st.stop()


def training_results(job):
    st.caption(job.result.description)
    show_run(job.result, f"sensor_monitor_run_{job.job_id}")
    ui.save_form(
        job, save_run, f"sensor_monitor_name_{job.job_id}", f"sensor_monitor_save_{job.job_id}",
        suggested=job.result.suggested_name,
        saved="Saved as **{reference}**: pick it under 'Use a saved model'.",
    )  # fmt: skip


def save_run(run, registry, name, owner):
    run.record = save_series_run(run.training, registry, name, owner=owner)


def live_curves(snapshot):
    return sensor_results.live_curves(snapshot) if snapshot["batch_points"] else None


ui.training_section(
    "sensor_monitor", sensor_jobs.series_jobs, training_results,
    has_model=lambda run: run.has_model, figure=live_curves, details=False,
)  # fmt: skip
