"""Models: the registry as a table, side-by-side comparison, export downloads and deletion.

With login on (`[auth]` in the secrets), only a model's owner may delete it (`core.access.policy`).
"""

import streamlit as st

from core import ui
from core.access import policy as access
from core.charts import common as charts
from core.demo.models import bundled_demo_models
from core.deploy.export import MAX_REPRESENTATIVE_ITEMS
from core.registry import catalog as model_catalog
from core.registry import catalog_exports

COMPARISON_COLUMNS = 3
PENDING_DELETE_KEY = "models_pending_delete"
PREPARED_EXPORT_KEY = "models_prepared_export"
DELETED_MESSAGE_KEY = "models_deleted_message"

ui.require_login()
registry = ui.registry()


def delete_confirmed(target: str) -> None:
    # A callback runs before the next script run, so the table below is drawn without the model.
    # Checked again here, on the server: a disabled button in the browser proves nothing.
    try:
        deleted = model_catalog.delete_models(
            registry, target, user=ui.current_user_id(), login_enabled=ui.login_enabled()
        )
    except ValueError as error:  # Deleted meanwhile, from another session, or not the owner.
        st.session_state[DELETED_MESSAGE_KEY] = ("error", str(error))
    else:
        references = ", ".join(record.reference for record in deleted)
        st.session_state[DELETED_MESSAGE_KEY] = ("success", f"Deleted {references}.")
    st.session_state.pop(PENDING_DELETE_KEY, None)
    st.session_state.pop(f"models_delete_confirmed_{target}", None)


st.title("Models")
st.markdown(
    "Every model version in the registry, with its test metrics and the data it learned from. "
    "Compare versions side by side, download one for deployment, or delete it."
)
if DELETED_MESSAGE_KEY in st.session_state:
    kind, message = st.session_state.pop(DELETED_MESSAGE_KEY)
    (st.success if kind == "success" else st.error)(message)

records = registry.list()
demo_names = list(bundled_demo_models())
problems = registry.problems()
if problems:
    with st.expander(f"{len(problems)} registry entries could not be read"):
        st.dataframe([problem.as_dict() for problem in problems], hide_index=True)
if not records:
    st.info(
        "The registry is empty: train a model on the 'Train image model' or 'Sensor monitor' page."
    )
    st.stop()

table = model_catalog.registry_table(records, demo_names)
table.insert(
    table.columns.get_loc("created"), "owner", [access.owner_of(record) for record in records]
)
st.dataframe(
    table,
    hide_index=True,
    key="models_table",
    column_config={
        "accuracy": st.column_config.NumberColumn("accuracy", format="percent"),
        "macro_f1": st.column_config.NumberColumn("macro-F1", format="%.3f"),
        "rmse": st.column_config.NumberColumn("RUL RMSE", format="%.2f"),
        "created": st.column_config.DatetimeColumn("created (UTC)", format="YYYY-MM-DD HH:mm"),
        "demo": st.column_config.CheckboxColumn("demo"),
        "name": None,
        "version": None,
    },
)
references = [record.reference for record in records]
by_reference = {record.reference: record for record in records}

st.header("Compare")
# Preselect the newest version of two image classifiers, the demo models when present.
newest = {}
for record in model_catalog.image_classifiers(records):
    newest.setdefault(record.name, record.reference)
demos = [reference for name, reference in newest.items() if name in demo_names]
defaults = (demos if len(demos) >= 2 else list(newest.values()))[:2]
selected = st.multiselect("Models to compare", references, default=defaults, key="models_compare")
if selected:
    chosen = [by_reference[reference] for reference in selected]
    st.dataframe(
        model_catalog.comparison_table(chosen),
        key="models_comparison",
        column_config={
            "accuracy": st.column_config.NumberColumn("accuracy", format="percent"),
            "macro_f1": st.column_config.NumberColumn("macro-F1", format="%.3f"),
        },
    )
    st.subheader("Confusion matrices (test set)")
    for start in range(0, len(chosen), COMPARISON_COLUMNS):
        cells = st.columns(COMPARISON_COLUMNS)
        for cell, record in zip(cells, chosen[start : start + COMPARISON_COLUMNS], strict=False):
            matrix = model_catalog.confusion_matrix_of(record)
            if matrix is None:
                cell.caption(f"{record.reference}: no stored confusion matrix.")
                continue
            cell.plotly_chart(
                charts.confusion_matrix_heatmap(*matrix, title=record.reference),
                key=f"models_confusion_{record.reference}",
            )
    st.subheader("Training curves")
    for start in range(0, len(chosen), 2):
        cells = st.columns(2)
        for cell, record in zip(cells, chosen[start : start + 2], strict=False):
            history = model_catalog.training_history(record)
            if not history:
                cell.caption(f"{record.reference}: no training history stored.")
                continue
            cell.plotly_chart(
                charts.training_curves(history, title=record.reference),
                key=f"models_curves_{record.reference}",
            )
else:
    st.info("Choose two or more models to compare them.")

st.header("Export")
# The first compared model is the one the engineer is looking at.
export_reference = st.selectbox(
    "Model to export",
    references,
    index=references.index(selected[0]) if selected else 0,
    key="models_export_model",
)
export_record = by_reference[export_reference]
st.caption(
    "SavedModel and TensorFlow Lite files are converted when you click Prepare (a few "
    "seconds). " + catalog_exports.export_input_note(export_record)
)
# Files are made on the server before the download button is drawn: a button whose file is made
# on click (a callable) sometimes never started its download in Chromium.
prepared = st.session_state.setdefault(PREPARED_EXPORT_KEY, {})
calibration_upload = None
if export_record.metadata.get("task") == model_catalog.IMAGE_TASK:
    with st.expander("int8 calibration images"):
        folder = model_catalog.calibration_source(export_record)
        st.caption(
            f"int8 quantization is calibrated on up to {MAX_REPRESENTATIVE_ITEMS} training-like "
            "images: " + ui.training_folder_note(folder, "the model's training folder")
        )
        calibration_upload = ui.zip_upload("Zip of training images", "models_calibration_zip")
calibration_key = calibration_upload[0] if calibration_upload else None
choices = catalog_exports.EXPORT_CHOICES
for row_start in range(0, len(choices), 3):
    row = choices[row_start : row_start + 3]
    for cell, choice in zip(st.columns(3), row, strict=False):
        wanted = (
            export_reference,
            choice.format,
            export_record.model_path.stat().st_mtime,
            calibration_key if choice.format == "tflite-int8" else None,
        )
        if choice.format != "keras" and prepared.get("key") != wanted:
            if cell.button(f"Prepare {choice.label}", key=f"models_prepare_{choice.format}"):
                try:
                    with st.spinner(f"Converting {export_reference}..."):
                        calibration = (
                            catalog_exports.calibration_images(export_record, calibration_upload)
                            if choice.format == "tflite-int8"
                            else None
                        )
                        data = catalog_exports.export_bytes(
                            registry,
                            export_reference,
                            choice.format,
                            representative_data=calibration,
                        )[1]
                    prepared.clear()  # One converted file per session: they can be large.
                    prepared.update(key=wanted, data=data)
                except ValueError as error:
                    cell.error(f"Not exported: {error}")
            if prepared.get("key") != wanted:
                continue
        data = (
            prepared["data"]
            if choice.format != "keras"
            else catalog_exports.export_bytes(registry, export_reference, choice.format)[1]
        )
        cell.download_button(
            choice.label,
            data=data,
            file_name=catalog_exports.export_file_name(export_record, choice.format),
            mime=choice.mime,
            key=f"models_export_{choice.format}",
            icon=":material/download:",
        )

st.header("Delete")
targets = references + [f"{name} (all versions)" for name in sorted({r.name for r in records})]
target_label = st.selectbox("Model or version to delete", targets, key="models_delete_target")
target = target_label.removesuffix(" (all versions)")
targeted = [record for record in records if target in (record.reference, record.name)]
refusal = access.deletion_refusal(targeted, ui.current_user_id(), login_enabled=ui.login_enabled())
if refusal is not None:
    st.warning(f"You cannot delete {target}. {refusal}")
if st.button("Delete...", key="models_delete", icon=":material/delete:", disabled=bool(refusal)):
    st.session_state[PENDING_DELETE_KEY] = target
if st.session_state.get(PENDING_DELETE_KEY) == target and refusal is None:
    doomed = model_catalog.deletion_preview(registry, target)
    st.warning(
        "This permanently deletes the versions below (model file and metadata). "
        + (
            "Bundled demo models are registered again only when LineSight next starts."
            if any(record.name in demo_names for record in doomed)
            else ""
        )
    )
    st.dataframe(
        model_catalog.registry_table(doomed, demo_names)[["model", "task", "accuracy", "created"]],
        hide_index=True,
        key="models_delete_preview",
    )
    confirmed = st.checkbox(
        f"Yes, delete {len(doomed)} version(s) of {target}",
        key=f"models_delete_confirmed_{target}",
    )
    st.button(
        "Delete permanently",
        type="primary",
        disabled=not confirmed,
        on_click=delete_confirmed,
        args=(target,),
        key="models_delete_confirm",
    )
