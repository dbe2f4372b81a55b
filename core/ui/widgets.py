"""Widgets shared by pages: remembered values, checked uploads, the image data source picker."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.access import policy as access
from core.data import image_sources


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
