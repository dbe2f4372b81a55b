"""Tests for core/access/policy.py: login configuration, user identity, ownership and upload
limits."""

import tomllib
from pathlib import Path

import pytest

from core.access import policy as access
from core.access.policy import MB
from core.registry import catalog as model_catalog
from core.registry.metadata import ModelRecord
from tests.conftest import REPOSITORY_ROOT

COMPLETE_AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "a-long-random-string",
    "client_id": "linesight",
    "client_secret": "secret",
    "server_metadata_url": "https://id.example.com/.well-known/openid-configuration",
}


def record(name="bearings", version=1, owner=None) -> ModelRecord:
    metadata = {"task": "series_rul"} | ({"owner": owner} if owner is not None else {})
    return ModelRecord(name, version, Path("/registry") / name / str(version), metadata)


# Login configuration.


def test_login_is_on_only_with_an_auth_section():
    assert not access.auth_configured({})
    assert not access.auth_configured({"database": {"url": "x"}})
    assert not access.auth_configured({"auth": "yes"})
    assert access.auth_configured({"auth": COMPLETE_AUTH})
    # Incomplete still means on: a typo locks the dashboard instead of opening it.
    assert access.auth_configured({"auth": {}})


def test_a_complete_default_provider_has_no_problems():
    secrets = {"auth": COMPLETE_AUTH}
    assert access.auth_problems(secrets) == []
    assert access.login_providers(secrets) == [None]
    assert access.auth_problems({}) == []
    assert access.login_providers({}) == []


def test_named_providers_are_listed_and_checked():
    shared = {key: COMPLETE_AUTH[key] for key in ("redirect_uri", "cookie_secret")}
    provider = {key: COMPLETE_AUTH[key] for key in access.PROVIDER_AUTH_KEYS}
    secrets = {"auth": shared | {"okta": provider, "microsoft": provider}}
    assert access.login_providers(secrets) == ["microsoft", "okta"]
    assert access.auth_problems(secrets) == []
    broken = {"auth": shared | {"okta": {"client_id": "x"}}}
    assert access.auth_problems(broken) == [
        "Expected `client_secret` in the [auth.okta] section. Received: no `client_secret`",
        "Expected `server_metadata_url` in the [auth.okta] section. "
        "Received: no `server_metadata_url`",
    ]


def test_missing_shared_settings_and_provider_are_reported():
    problems = access.auth_problems({"auth": {"redirect_uri": "http://x/oauth2callback"}})
    assert problems == [
        "Expected `cookie_secret` in the [auth] section of .streamlit/secrets.toml. "
        "Received: no `cookie_secret`",
        "Expected an OIDC provider: `client_id`, `client_secret` and `server_metadata_url` in "
        "[auth] or in an [auth.<name>] section. Received: sections []",
    ]


# Identity.


def test_user_identity_is_the_email_of_a_logged_in_user():
    assert access.user_identity({"is_logged_in": True, "email": "a@x.com", "sub": "1"}) == "a@x.com"
    assert access.user_identity({"is_logged_in": True, "sub": "google-123"}) == "google-123"
    assert access.user_identity({"is_logged_in": False, "email": "a@x.com"}) is None
    # Hosts may fill `email` without a login: only is_logged_in counts.
    assert access.user_identity({"email": "test@example.com"}) is None
    assert access.user_identity({"is_logged_in": True}) is None
    assert access.user_identity(None) is None


def test_an_unverified_email_is_not_trusted():
    claims = {"is_logged_in": True, "email": "boss@x.com", "email_verified": False, "sub": "42"}
    assert access.user_identity(claims) == "42"


# Ownership.


def test_without_login_everyone_deletes():
    assert access.can_delete(record(owner="alice@x.com"), None, login_enabled=False)
    assert access.can_delete(record(), None, login_enabled=False)
    assert (
        access.deletion_refusal([record(owner="alice@x.com")], "bob", login_enabled=False) is None
    )


def test_with_login_only_the_owner_deletes():
    owned = record(owner="alice@x.com")
    assert access.owner_of(owned) == "alice@x.com"
    assert access.can_delete(owned, "alice@x.com", login_enabled=True)
    assert not access.can_delete(owned, "bob@x.com", login_enabled=True)
    assert not access.can_delete(owned, None, login_enabled=True)


def test_with_login_a_model_without_owner_is_deleted_by_nobody():
    demo = record("demo-seed-cnn")
    assert access.owner_of(demo) is None
    assert not access.can_delete(demo, "alice@x.com", login_enabled=True)
    assert not access.can_delete(record(owner=""), "", login_enabled=True)


def test_the_refusal_names_each_version_owned_by_someone_else():
    records = [record(version=1, owner="alice@x.com"), record(version=2), record(version=3)]
    records[2] = record(version=3, owner="bob@x.com")
    message = access.deletion_refusal(records, "bob@x.com", login_enabled=True)
    assert message == (
        "Expected only models you trained: when login is on, only a model's owner deletes it "
        "(models without an owner are deleted on the server with `python -m core models delete`). "
        "Received: user='bob@x.com', bearings:1 owned by alice@x.com, "
        "bearings:2 owned by nobody (no owner recorded)"
    )
    assert access.deletion_refusal(records[2:], "bob@x.com", login_enabled=True) is None


def test_delete_models_refuses_other_owners_and_deletes_only_checked_versions(tmp_path):
    pytest.importorskip("keras")
    from core.registry.store import ModelRegistry
    from tests.helpers.registry import make_metadata, make_model

    registry = ModelRegistry(tmp_path / "registry")
    model = make_model()
    registry.save(model, "line3", make_metadata(owner="alice@x.com"))
    registry.save(model, "line3", make_metadata(owner="alice@x.com"))
    registry.save(model, "shared", make_metadata(owner="alice@x.com"))
    registry.save(model, "shared", make_metadata(owner="bob@x.com"))

    with pytest.raises(ValueError, match=r"Received: user='bob@x.com', line3:1 owned by alice"):
        model_catalog.delete_models(registry, "line3", user="bob@x.com", login_enabled=True)
    with pytest.raises(ValueError, match=r"shared:1 owned by alice@x.com$"):
        model_catalog.delete_models(registry, "shared", user="bob@x.com", login_enabled=True)
    assert len(registry.list()) == 4, "a refused deletion deletes nothing"

    deleted = model_catalog.delete_models(
        registry, "shared:2", user="bob@x.com", login_enabled=True
    )
    assert [item.reference for item in deleted] == ["shared:2"]
    deleted = model_catalog.delete_models(registry, "line3", user="alice@x.com", login_enabled=True)
    assert [item.reference for item in deleted] == ["line3:1", "line3:2"]
    assert [item.reference for item in registry.list()] == ["shared:1"]
    assert not (tmp_path / "registry" / "line3").exists()
    # Without login, anyone deletes, as before.
    assert model_catalog.delete_models(registry, "shared", user=None)[0].reference == "shared:1"


# Upload limits.


def test_upload_kinds_follow_the_extension():
    assert access.upload_kind("Scan_01.TIFF") == "image"
    assert access.upload_kind("line3.zip") == "zip"
    assert access.upload_kind("train_FD001.txt") == "csv"
    assert access.upload_kind("fleet.pq") == "parquet"
    with pytest.raises(
        ValueError,
        match=r"Expected an image \(PNG, JPEG, BMP, TIFF\), zip, CSV or Parquet file\. "
        r"Received: name='run\.exe'",
    ):
        access.upload_kind("run.exe")


@pytest.mark.parametrize(
    ("name", "kind", "article"),
    [
        ("a.png", "image", "an"),
        ("b.zip", "zip", "a"),
        ("c.csv", "csv", "a"),
        ("d.parquet", "parquet", "a"),
    ],
)
def test_each_type_is_refused_one_byte_past_its_limit(name, kind, article):
    limit = access.UPLOAD_LIMITS[kind]
    access.check_upload(name, limit)  # Exactly the limit is fine.
    with pytest.raises(ValueError) as raised:
        access.check_upload(name, limit + MB // 2)
    assert str(raised.value) == (
        f"Expected {article} {kind} file of at most {limit // MB} MB. "
        f"Received: name='{name}' with {(limit + MB // 2) / MB:.1f} MB"
    )


def test_the_zip_message_matches_the_documented_form():
    with pytest.raises(ValueError) as raised:
        access.check_upload("x.zip", 250 * MB)
    assert str(raised.value) == (
        "Expected a zip file of at most 200 MB. Received: name='x.zip' with 250.0 MB"
    )


def test_a_refused_upload_does_not_stop_the_batch():
    small, big = b"\x89PNG" + b"\0" * 10, b"\0" * (access.UPLOAD_LIMITS["image"] + 1)
    accepted, rejected = access.accept_uploads(
        [("ok.png", small), ("big.png", big), ("t.csv", b"a")]
    )
    assert accepted == [("ok.png", small), ("t.csv", b"a")]
    assert [item.name for item in rejected] == ["big.png"]
    assert rejected[0].reason.startswith("Expected an image file of at most 32 MB.")


def test_widget_limits_are_the_largest_type_of_the_widget():
    assert access.widget_limit_mb(["png", "jpg"]) == 32
    assert access.widget_limit_mb([".zip"]) == 200
    assert access.widget_limit_mb(["csv", "txt", "parquet"]) == 100


def test_server_config_keeps_xsrf_on_and_caps_uploads_above_every_type_limit():
    config = tomllib.loads((REPOSITORY_ROOT / ".streamlit" / "config.toml").read_text())
    server = config["server"]
    assert server["enableXsrfProtection"] is True
    # XSRF protection needs CORS protection on; Streamlit disables XSRF otherwise.
    assert server.get("enableCORS", True) is True
    assert isinstance(server["maxUploadSize"], int)
    assert max(access.UPLOAD_LIMITS.values()) <= server["maxUploadSize"] * MB
    # No per-type limit is out of reach: the largest one is the server's cap.
    assert max(access.UPLOAD_LIMITS.values()) == server["maxUploadSize"] * MB


def test_the_browser_is_not_told_to_call_outside_servers():
    config = tomllib.loads((REPOSITORY_ROOT / ".streamlit" / "config.toml").read_text())
    assert config["browser"]["gatherUsageStats"] is False
    # A Material or emoji page icon is fetched from Google's font servers; ours is drawn locally.
    app_source = (REPOSITORY_ROOT / "app.py").read_text()
    assert "page_icon=ICON" in app_source
