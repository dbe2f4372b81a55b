"""Who may do what: optional OIDC login, model ownership and per-type upload limits.

Login is on when the Streamlit secrets hold an `[auth]` section (Streamlit's built-in OIDC
support, `st.login`); without one the dashboard is open as before. When login is on, a model
records who trained it (`metadata["owner"]`) and only that user may delete it. This module holds
the rules as plain functions of plain values; `core.ui` feeds them `st.secrets` and `st.user`.

Uploads reach the server whole (Streamlit's `server.maxUploadSize` caps every file first), and
`check_upload` then refuses a file beyond the limit of its type before anything parses it.

Example:

    auth_configured({"auth": {"redirect_uri": "...", "cookie_secret": "..."}})  # True
    user = user_identity({"is_logged_in": True, "email": "alice@example.com"})
    can_delete(record, user, login_enabled=True)
    check_upload("line3.zip", 250 * MB)  # ValueError: Expected a zip file of at most 200 MB...
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePath

from core.data.validation import RejectedFile, describe_value

MB = 1024**2  # Streamlit's `server.maxUploadSize` counts megabytes of 1024 * 1024 bytes.

# Per file. Images: a large line-scan TIFF, half the decoder's own 64 MB cap. Zip: a training set
# of class folders; the largest limit, equal to `server.maxUploadSize`. CSV (also C-MAPSS .txt):
# a fleet history as text. Parquet is compressed and grows 5-10x once loaded, so it gets less.
UPLOAD_LIMITS = {"image": 32 * MB, "zip": 200 * MB, "csv": 100 * MB, "parquet": 50 * MB}
UPLOAD_EXTENSIONS = {
    "image": (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"),
    "zip": (".zip",),
    "csv": (".csv", ".tsv", ".txt"),
    "parquet": (".parquet", ".pq"),
}
_KIND_BY_EXTENSION = {
    extension: kind for kind, extensions in UPLOAD_EXTENSIONS.items() for extension in extensions
}

# What an OIDC provider needs in `[auth]` (the default provider) or `[auth.<name>]`.
SHARED_AUTH_KEYS = ("redirect_uri", "cookie_secret")
PROVIDER_AUTH_KEYS = ("client_id", "client_secret", "server_metadata_url")


def auth_configured(secrets: Mapping) -> bool:
    """Whether login is on: the secrets hold an `[auth]` section, complete or not.

    An incomplete section still turns login on, so a typo locks the dashboard (the login page
    says what is missing) rather than opening it to everyone.

    Args:
        secrets: The app's secrets, e.g. `st.secrets.to_dict()`; {} when there are none.
    """
    return isinstance(secrets, Mapping) and isinstance(secrets.get("auth"), Mapping)


def login_providers(secrets: Mapping) -> list[str | None]:
    """The providers a user can log in with: None for the default `[auth]` provider, then names.

    A provider counts when it has a `client_id`; `auth_problems` reports what else it lacks.
    """
    if not auth_configured(secrets):
        return []
    section = secrets["auth"]
    providers: list[str | None] = [None] if "client_id" in section else []
    providers += sorted(
        name
        for name, value in section.items()
        if isinstance(value, Mapping) and "client_id" in value
    )
    return providers


def auth_problems(secrets: Mapping) -> list[str]:
    """What the `[auth]` section lacks for `st.login` to work, one sentence each; [] when complete.

    Args:
        secrets: The app's secrets; an absent `[auth]` section has no problems (login is off).
    """
    if not auth_configured(secrets):
        return []
    section = secrets["auth"]
    problems = [
        f"Expected `{key}` in the [auth] section of .streamlit/secrets.toml. Received: no `{key}`"
        for key in SHARED_AUTH_KEYS
        if not section.get(key)
    ]
    providers = login_providers(secrets)
    if not providers:
        problems.append(
            "Expected an OIDC provider: `client_id`, `client_secret` and `server_metadata_url` in "
            "[auth] or in an [auth.<name>] section. Received: sections "
            f"{sorted(name for name, value in section.items() if isinstance(value, Mapping))}"
        )
    for provider in providers:
        settings = section if provider is None else section[provider]
        table = "[auth]" if provider is None else f"[auth.{provider}]"
        problems += [
            f"Expected `{key}` in the {table} section. Received: no `{key}`"
            for key in PROVIDER_AUTH_KEYS
            if not settings.get(key)
        ]
    return problems


def user_identity(user_info: Mapping) -> str | None:
    """The logged-in user as recorded in `owner`: the email, else the OIDC subject (`sub`).

    An email the provider marks unverified (`email_verified` false) is not trusted, since anyone
    can claim one; the subject is used then.

    Args:
        user_info: The claims of `st.user` (`st.user.to_dict()`).

    Returns:
        The identity, or None when nobody is logged in.
    """
    if not isinstance(user_info, Mapping) or user_info.get("is_logged_in") is not True:
        return None
    email = user_info.get("email")
    if isinstance(email, str) and email and user_info.get("email_verified") is not False:
        return email
    subject = user_info.get("sub")
    return subject if isinstance(subject, str) and subject else None


def owner_of(record) -> str | None:
    """The user recorded as the trainer of a `ModelRecord`, or None (demo and older models)."""
    owner = record.metadata.get("owner")
    return owner if isinstance(owner, str) and owner else None


def can_delete(record, user: str | None, *, login_enabled: bool) -> bool:
    """Whether `user` may delete the model version `record`.

    Without login everyone may, as before. With login only the recorded owner may: a model
    without an owner (the bundled demo models, models saved while login was off) is deleted by
    nobody in the dashboard, because nothing says who may claim it; the operator deletes it on
    the server (`python -m core models delete NAME --yes`).

    Args:
        record: A `ModelRecord`.
        user: `user_identity` of the current user; None when nobody is logged in.
        login_enabled: `auth_configured` of the app's secrets.
    """
    if not login_enabled:
        return True
    owner = owner_of(record)
    return user is not None and owner is not None and owner == user


def deletion_refusal(records: Sequence, user: str | None, *, login_enabled: bool) -> str | None:
    """Why `user` may not delete these versions, as an error message; None when they may.

    Args:
        records: The `ModelRecord`s a deletion would remove.
        user: `user_identity` of the current user.
        login_enabled: `auth_configured` of the app's secrets.
    """
    if not login_enabled:
        return None
    refused = [record for record in records if not can_delete(record, user, login_enabled=True)]
    if not refused:
        return None
    owners = ", ".join(
        f"{record.reference} owned by {owner_of(record) or 'nobody (no owner recorded)'}"
        for record in refused
    )
    return (
        "Expected only models you trained: when login is on, only a model's owner deletes it "
        "(models without an owner are deleted on the server with `python -m core models delete`). "
        f"Received: user={describe_value(user)}, {owners}"
    )


def upload_kind(name: str) -> str:
    """The upload type of a file name: "image", "zip", "csv" (also .tsv, .txt) or "parquet".

    Raises:
        ValueError: If the extension belongs to none of them.
    """
    extension = PurePath(str(name)).suffix.lower()
    if extension not in _KIND_BY_EXTENSION:
        raise ValueError(
            "Expected an image (PNG, JPEG, BMP, TIFF), zip, CSV or Parquet file. "
            f"Received: name={describe_value(name)}"
        )
    return _KIND_BY_EXTENSION[extension]


def check_upload(name: str, size: int) -> None:
    """Refuses an uploaded file beyond the size limit of its type (`UPLOAD_LIMITS`).

    Args:
        name: The file name as uploaded; its extension gives the type.
        size: The file size in bytes.

    Raises:
        ValueError: If the type is unknown or the file is larger than its limit, e.g. "Expected
            a zip file of at most 200 MB. Received: name='x.zip' with 250.0 MB".
    """
    kind = upload_kind(name)
    limit = UPLOAD_LIMITS[kind]
    if size > limit:
        article = "an" if kind == "image" else "a"
        raise ValueError(
            f"Expected {article} {kind} file of at most {limit // MB} MB. "
            f"Received: name={describe_value(name)} with {size / MB:.1f} MB"
        )


def accept_uploads(files: Iterable[tuple[str, bytes]]) -> tuple[list, list[RejectedFile]]:
    """Splits `(name, bytes)` uploads into those within their limits and the refused ones.

    Returns:
        `(accepted, rejected)`: the accepted pairs in order, and a `RejectedFile` per refused file
        whose reason is the `check_upload` message. One refused file never stops the others.
    """
    accepted, rejected = [], []
    for name, data in files:
        try:
            check_upload(name, len(data))
        except ValueError as error:
            rejected.append(RejectedFile(name, str(error)))
        else:
            accepted.append((name, data))
    return accepted, rejected


def widget_limit_mb(types: Iterable[str]) -> int:
    """The browser-side size cap for an uploader of these extensions: its largest type's limit.

    The browser refuses a larger file before sending it; `check_upload` still decides on the
    server, per file type, since a client need not honour the cap.

    Args:
        types: Extensions as given to `st.file_uploader(type=...)`, with or without the dot.
    """
    kinds = {upload_kind(f"file.{str(extension).lstrip('.')}") for extension in types}
    return math.ceil(max(UPLOAD_LIMITS[kind] for kind in kinds) / MB)
