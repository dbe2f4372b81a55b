"""Widgets shared by pages: remembered values, checked uploads, the image data source picker and
its summary, rows of metrics, the image model picker and the zip of a model's training images."""

from __future__ import annotations

import functools

import pandas as pd
import streamlit as st

from core.access import policy as access
from core.charts import common as charts
from core.data import image_sources
from core.demo.models import DEMO_IMAGE_MODEL
from core.registry import catalog as model_catalog
from core.ui.caches import registry


def remembered_widget(remembered: dict, factory, label: str, key: str, default, **options):
    """Draws a widget whose value survives page switches within this session.

    Streamlit forgets the state of widgets a run does not draw (another page, or a form hidden
    until data is chosen). The remembered value becomes the widget's own default rather than a
    Session State value: a browser re-mounting the widget then shows it, not the widget's minimum
    or first option.

    Args:
        remembered: This session's dict of remembered values (in `st.session_state`).
        factory: The Streamlit widget function (`st.radio`, `st.number_input`, ...).
        label: The widget label.
        key: The widget key, also the key in `remembered`.
        default: The value before the user chose one.
        **options: Further widget arguments (`options` for choice widgets).

    Returns:
        The widget's value.
    """
    value = remembered.get(key, default)
    if factory in (st.selectbox, st.radio):
        choices = list(options["options"])
        options["index"] = choices.index(value) if value in choices else 0
    elif factory is st.multiselect:
        options["default"] = [choice for choice in value if choice in options["options"]]
    else:
        options["value"] = value
    remembered[key] = factory(label, key=key, **options)
    return remembered[key]


def page_memory(values_key: str, uploads_key: str):
    """A page's remembered widget values and uploads in this session, and its `remembered_widget`.

    Streamlit forgets the state of widgets a run does not draw (another page, or a form hidden
    while no data is chosen); the two dicts, kept in Session State under `values_key` and
    `uploads_key`, restore them when the user comes back.

    Returns:
        `(values, uploads, remembered_widget)`: the two dicts and `remembered_widget` bound to
        `values` (`remembered_widget(factory, label, key, default, **options)`).
    """
    values = st.session_state.setdefault(values_key, {})
    uploads = st.session_state.setdefault(uploads_key, {})
    return values, uploads, functools.partial(remembered_widget, values)


def _checked(files) -> tuple[list[tuple[str, bytes]], list[str]]:
    # The size is known before the bytes are copied out of Streamlit's upload store.
    accepted, refusals = [], []
    for file in files:
        try:
            access.check_upload(file.name, file.size)
        except ValueError as error:
            refusals.append(f"Not used: {error}")
        else:
            accepted.append((file.name, file.getvalue()))
    return accepted, refusals


def checked_uploads(files) -> list[tuple[str, bytes]]:
    """The uploaded files within their per-type size limits, as `(name, bytes)` pairs.

    Each refused file is shown as an error (`core.access.policy.check_upload` message); the others
    go on.

    Args:
        files: `st.file_uploader` files (one `UploadedFile`, a list of them, or None).
    """
    files = files if isinstance(files, list) else [files] if files else []
    accepted, refusals = _checked(files)
    for refusal in refusals:
        st.error(refusal)
    return accepted


def _store_upload(uploads: dict, key: str) -> list[str]:
    value = st.session_state.get(key)
    files = value if isinstance(value, list) else [value] if value else []
    accepted, refusals = _checked(files)
    if accepted:
        uploads[key] = accepted
    else:
        uploads.pop(key, None)
    return refusals


def remembered_uploader(uploads: dict, label: str, key: str, types, multiple: bool = False):
    """A file uploader whose files outlive page switches.

    Streamlit drops a widget's files when a run does not draw it (another page was open); the
    files are copied into `uploads` (a dict kept in `st.session_state`) on every change and used
    again while the widget is empty. A file beyond its type's size limit is shown as an error
    and left out; the rest of the batch is kept.

    Returns:
        `[(name, bytes), ...]` of the current or remembered upload, or None.
    """
    st.file_uploader(
        label,
        type=types,
        accept_multiple_files=multiple,
        key=key,
        on_change=_store_upload,
        args=(uploads, key),
        max_upload_size=access.widget_limit_mb(types),
    )
    if st.session_state.get(key):
        for refusal in _store_upload(uploads, key):
            st.error(refusal)
    elif uploads.get(key):
        names = ", ".join(name for name, _ in uploads[key][:5])
        st.caption(f"Using your earlier upload: {names}")
    return uploads.get(key)


IMAGE_UPLOAD_TYPES = ["png", "jpg", "jpeg", "bmp", "tif", "tiff"]
IMAGE_SOURCE_CHOICES = {
    "Bundled sample": "sample",
    "Zip of class folders": "zip",
    "Images + CSV manifest": "manifest",
}


def image_source_picker(remembered: dict, uploads: dict, prefix: str, label: str):
    """The data section of an image page: sample, zip or images + manifest, then its summary.

    Widgets are keyed `<prefix>_source`, `<prefix>_zip`, `<prefix>_manifest_images` and
    `<prefix>_manifest`; the summary of the chosen data is kept in `<prefix>_summaries` (one
    data set at a time). Errors are shown in the page.

    Returns:
        `(source, summary)`: the `ImageSource` and `image_sources.dataset_summary` of the chosen
        data, or `(None, None)` while there is none or it cannot be read.
    """
    choice = remembered_widget(
        remembered, st.radio, label, f"{prefix}_source", "Bundled sample",
        options=list(IMAGE_SOURCE_CHOICES), horizontal=True,
    )  # fmt: skip
    kind = IMAGE_SOURCE_CHOICES[choice]
    source = None
    try:
        if kind == image_sources.SAMPLE:
            source = image_sources.sample_image_source()
        elif kind == image_sources.ZIP:
            files = remembered_uploader(
                uploads, "Zip of class folders (one folder per class)", f"{prefix}_zip", ["zip"]
            )
            source = image_sources.zip_image_source(*files[0]) if files else None
        else:
            images = remembered_uploader(
                uploads, "Images", f"{prefix}_manifest_images", IMAGE_UPLOAD_TYPES, True
            )
            manifest = remembered_uploader(
                uploads, "Manifest CSV (columns filename,label)", f"{prefix}_manifest", ["csv"]
            )
            if images and manifest:
                source = image_sources.manifest_image_source(images + manifest, manifest[0][0])
    except ValueError as error:
        st.error(str(error))
    if source is None:
        if kind != image_sources.SAMPLE:
            st.info("Upload your data above, or choose the bundled sample.")
        return None, None
    cache = st.session_state.setdefault(f"{prefix}_summaries", {})
    if source.fingerprint not in cache:
        cache.clear()  # One data set at a time: uploads can be large.
        with st.spinner("Reading the images..."):
            try:
                cache[source.fingerprint] = image_sources.dataset_summary(source)
            except ValueError as error:
                cache[source.fingerprint] = {"error": str(error)}
    summary = cache[source.fingerprint]
    if "error" in summary:
        st.error(f"Could not read {source.description}: {summary['error']}")
        return None, None
    return source, summary


def rejected_files_expander(rejected: list) -> None:
    """Lists the files a loader could not use, with the reason of each."""
    if rejected:
        with st.expander(f"{len(rejected)} file(s) could not be used"):
            st.dataframe(pd.DataFrame(rejected), hide_index=True)


def metric_row(metrics: dict) -> None:
    """One row of `st.metric`s, one column each: `{label: value}`."""
    columns = st.columns(max(len(metrics), 1))
    for column, (label, value) in zip(columns, metrics.items(), strict=False):
        column.metric(label, value)


def image_counts(report: dict) -> None:
    """The images, classes and rejected files of an image set's report, as a row of metrics."""
    metric_row(
        {
            "Images": report["images"],
            "Classes": report["classes"],
            "Rejected files": len(report["rejected"]),
        }
    )


def image_dataset_overview(summary: dict, key: str, thumbnail_width: int) -> None:
    """The chosen training images (see `image_source_picker`): counts, the images per class
    (chart `<key>_class_counts`), a row of thumbnails per class, warnings and rejected files."""
    report = summary["report"]
    st.subheader(f"Dataset: {summary['description']}")
    image_counts(report)
    chart_column, thumbnail_column = st.columns([2, 3])
    chart_column.plotly_chart(
        charts.class_counts_bar(report["class_counts"], title="Images per class"),
        key=f"{key}_class_counts",
    )
    with thumbnail_column:
        for class_name, thumbnails in summary["thumbnails"].items():
            st.markdown(f"**{class_name}** ({report['class_counts'][class_name]})")
            st.image([image for _, image in thumbnails], width=thumbnail_width)
    for warning in report["warnings"]:
        st.warning(warning)
    rejected_files_expander(report["rejected"])


def image_model_picker(key: str, describe=None):
    """The "Model" select of the pages that use an image model; returns the chosen record.

    Lists the registered classifiers and anomaly models, newest version of each name first, and
    starts at the bundled demo model. Stops the page with a warning while there is none.

    Args:
        key: The select's key.
        describe: `describe(record)`: the text of an option; by default its reference.
    """
    records = model_catalog.inspection_models(registry().list())
    if not records:
        st.warning("No image model is registered yet: train one first.")
        st.stop()
    by_reference = {record.reference: record for record in records}
    default = next(
        (index for index, record in enumerate(records) if record.name == DEMO_IMAGE_MODEL), 0
    )
    reference = st.selectbox(
        "Model",
        list(by_reference),
        index=default,
        format_func=(lambda item: describe(by_reference[item])) if describe else str,
        key=key,
    )
    return by_reference[reference]


def zip_upload(label: str, key: str):
    """An uploader of one zip within its size limit; returns it as `(name, bytes)`, or None."""
    files = checked_uploads(
        st.file_uploader(
            label, type=["zip"], key=key, max_upload_size=access.widget_limit_mb(["zip"])
        )
    )
    return files[0] if files else None


def training_folder_note(folder, called: str = "the training folder") -> str:
    """Where a model's training images come from: its folder on this server (named `called`
    then its path), or else an upload."""
    if folder:
        return f"{called} `{folder}`, unless you upload a zip."
    return "the training folder is not on this server, so upload a zip of class folders."
