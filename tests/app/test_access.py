"""AppTest for access control: the login gate, owner-only deletion and per-type upload limits.

No OIDC provider is reachable here: a logged-in user is simulated with `AppTest.user`, and
`st.login` is replaced where a test follows the click.
"""

import io
import json

import pandas as pd
import pytest
import streamlit
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.access import policy as access
from tests.conftest import REPOSITORY_ROOT

APP = str(REPOSITORY_ROOT / "app.py")
AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "a-long-random-string",
    "client_id": "linesight",
    "client_secret": "secret",
    "server_metadata_url": "https://id.example.com/.well-known/openid-configuration",
}
ALICE = {"is_logged_in": True, "email": "alice@example.com", "sub": "alice-1", "name": "Alice"}
BOB = {"is_logged_in": True, "email": "bob@example.com", "sub": "bob-2", "name": "Bob"}
OWNED = "demo-seed-cnn"


def app_with(secrets=None, user=None) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=120)
    if secrets is not None:
        app.secrets["auth"] = secrets
    if user is not None:
        app.user = dict(user)
    return app


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (8, 8), color=128).save(buffer, format="PNG")
    return buffer.getvalue()


def subheaders(app: AppTest) -> list[str]:
    return [element.value for element in app.subheader]


# The gate.


def test_without_secrets_the_app_works_without_login():
    app = app_with()
    app.run()
    assert not app.exception, app.exception
    assert "Surface images per class" in subheaders(app)
    assert not [button for button in app.button if button.key and "access_" in button.key]
    assert not app.sidebar.caption


def test_with_auth_secrets_a_logged_out_user_sees_only_the_login_page(monkeypatch):
    app = app_with(AUTH, {"is_logged_in": False})
    app.run()
    assert not app.exception, app.exception
    assert app.title[0].value == "LineSight"
    assert app.button(key="access_login_default").label == "Log in"
    assert "Surface images per class" not in subheaders(app)
    assert not app.get("plotly_chart")

    calls = []
    monkeypatch.setattr(streamlit, "login", lambda provider=None: calls.append(provider))
    app.button(key="access_login_default").click().run()
    assert not app.exception, app.exception
    assert calls == [None]
    assert "Surface images per class" not in subheaders(app)


def test_a_page_run_without_app_py_still_shows_only_the_login_page(isolated_registry):
    # Streamlit's legacy `pages/` mode can run a page file without app.py (the first request
    # for /models after a server start did); AppTest runs pages that way after its first run.
    app = app_with()
    app.run()
    app.secrets["auth"] = AUTH
    app.user = {"is_logged_in": False}
    app.switch_page("pages/models.py").run()
    assert not app.exception, app.exception
    assert app.title[0].value == "LineSight"
    assert app.button(key="access_login_default").label == "Log in"
    assert not app.dataframe
    assert "Delete" not in [element.value for element in app.header]


def test_the_legacy_pages_directory_mode_is_ended_by_importing_the_bridge():
    import inspect

    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import script_runner

    import core.ui

    # The private flag still decides whether a page file runs without app.py.
    assert "PagesManager.uses_pages_directory" in inspect.getsource(script_runner)
    saved = PagesManager.uses_pages_directory
    try:
        PagesManager.uses_pages_directory = True
        core.ui._end_legacy_pages_directory_mode()
        assert PagesManager.uses_pages_directory is False
    finally:
        PagesManager.uses_pages_directory = saved


def test_login_reports_a_missing_authlib_instead_of_crashing():
    try:
        import authlib  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("Authlib is installed: st.login would start a real redirect")
    app = app_with(AUTH, {"is_logged_in": False})
    app.run()
    app.button(key="access_login_default").click().run()
    assert not app.exception, app.exception
    assert app.error[0].value.startswith("Login failed: Authentication requires Authlib>=1.3.2")


def test_incomplete_auth_secrets_lock_the_app_and_say_what_is_missing():
    app = app_with({"redirect_uri": AUTH["redirect_uri"]}, {"is_logged_in": False})
    app.run()
    assert not app.exception, app.exception
    message = app.error[0].value
    assert "Login is on ([auth] in .streamlit/secrets.toml) but incomplete" in message
    assert "Expected `cookie_secret` in the [auth] section" in message
    assert "Expected an OIDC provider" in message
    assert not app.button
    assert "Surface images per class" not in subheaders(app)


def test_named_providers_get_one_login_button_each():
    provider = {key: AUTH[key] for key in access.PROVIDER_AUTH_KEYS}
    shared = {key: AUTH[key] for key in access.SHARED_AUTH_KEYS}
    app = app_with(shared | {"okta": provider, "microsoft": provider}, {"is_logged_in": False})
    app.run()
    labels = [button.label for button in app.button]
    assert labels == ["Log in with microsoft", "Log in with okta"]


def test_a_logged_in_user_uses_the_app_and_can_log_out():
    app = app_with(AUTH, ALICE)
    app.run()
    assert not app.exception, app.exception
    assert "Surface images per class" in subheaders(app)
    assert app.sidebar.caption[0].value == "Signed in as `alice@example.com`"

    app.sidebar.button(key="access_logout").click().run()
    assert not app.exception, app.exception
    assert app.user == {"is_logged_in": False}
    # In a browser, logout redirects and starts a new session: a new AppTest here.
    app = app_with(AUTH, app.user)
    app.run()
    assert app.button(key="access_login_default").label == "Log in"
    assert "Surface images per class" not in subheaders(app)


# Ownership.


def give_to_alice(isolated_registry) -> None:
    metadata_path = isolated_registry / OWNED / "1" / "metadata.json"
    metadata = json.loads(metadata_path.read_text())
    metadata["owner"] = ALICE["email"]
    metadata_path.write_text(json.dumps(metadata))


def models_page(user, secrets=AUTH) -> AppTest:
    app = app_with(secrets, user)
    app.run()
    app.switch_page("pages/models.py").run()
    assert not app.exception, app.exception
    return app


def choose_target(app: AppTest, target: str) -> None:
    app.selectbox(key="models_delete_target").set_value(f"{target} (all versions)").run()
    assert not app.exception, app.exception


def test_the_models_table_shows_the_owner(isolated_registry):
    models_page({}, secrets=None)  # Registers the demo models.
    give_to_alice(isolated_registry)
    app = models_page(ALICE)
    table = next(table.value for table in app.dataframe if "class_counts" in table.value.columns)
    owners = dict(zip(table["model"], table["owner"], strict=True))
    assert owners[f"{OWNED}:1"] == "alice@example.com"
    others = [owner for model, owner in owners.items() if model != f"{OWNED}:1"]
    assert others and all(pd.isna(owner) for owner in others)


def test_another_user_cannot_delete_the_owners_model(isolated_registry):
    models_page({}, secrets=None)
    give_to_alice(isolated_registry)
    app = models_page(BOB)
    choose_target(app, OWNED)
    warning = app.warning[0].value
    assert warning.startswith(f"You cannot delete {OWNED}. Expected only models you trained")
    assert f"Received: user='bob@example.com', {OWNED}:1 owned by alice@example.com" in warning
    assert app.button(key="models_delete").disabled
    assert (isolated_registry / OWNED / "1").is_dir()

    # Demo models have no owner: with login on, nobody deletes them in the dashboard.
    choose_target(app, "demo-defect-cnn")
    assert "owned by nobody (no owner recorded)" in app.warning[0].value
    assert app.button(key="models_delete").disabled


def test_the_owner_deletes_and_the_server_rechecks_a_forged_click(isolated_registry):
    models_page({}, secrets=None)
    give_to_alice(isolated_registry)
    app = models_page(ALICE)
    choose_target(app, OWNED)
    assert not app.warning
    app.button(key="models_delete").click().run()
    app.checkbox(key=f"models_delete_confirmed_{OWNED}").check().run()
    assert not app.button(key="models_delete_confirm").disabled

    # The confirm button was drawn for alice; bob's session sends the click.
    app.user = dict(BOB)
    app.button(key="models_delete_confirm").click().run()
    assert not app.exception, app.exception
    assert app.error[0].value.startswith("Expected only models you trained")
    assert (isolated_registry / OWNED / "1").is_dir()

    app = models_page(ALICE)
    choose_target(app, OWNED)
    app.button(key="models_delete").click().run()
    app.checkbox(key=f"models_delete_confirmed_{OWNED}").check().run()
    app.button(key="models_delete_confirm").click().run()
    assert not app.exception, app.exception
    assert app.success[0].value == f"Deleted {OWNED}:1."
    assert not (isolated_registry / OWNED).exists()


# Upload limits.


def test_an_oversized_image_is_refused_and_the_rest_of_the_batch_goes_on():
    app = app_with()
    app.run()
    app.switch_page("pages/train_images.py").run()
    app.radio(key="train_images_source").set_value("Images + CSV manifest").run()
    big = b"\0" * (access.UPLOAD_LIMITS["image"] + access.MB)
    app.file_uploader(key="train_images_manifest_images").set_value(
        [("ok.png", png_bytes(), "image/png"), ("huge.png", big, "image/png")]
    ).run()
    assert not app.exception, app.exception
    assert [element.value for element in app.error] == [
        "Not used: Expected an image file of at most 32 MB. Received: name='huge.png' with 33.0 MB"
    ]
    remembered = app.session_state["train_images_uploads"]["train_images_manifest_images"]
    assert [name for name, _ in remembered] == ["ok.png"]
    assert app.file_uploader(key="train_images_manifest_images").proto.max_upload_size_mb == 32


def test_check_data_lists_an_oversized_file_as_rejected_and_inspects_the_others():
    app = app_with()
    app.run()
    app.switch_page("pages/data_check.py").run()
    big = b"\0" * (access.UPLOAD_LIMITS["image"] + access.MB)
    app.file_uploader(key="data_check_upload").set_value(
        [("ok.png", png_bytes(), "image/png"), ("huge.png", big, "image/png")]
    ).run()
    assert not app.exception, app.exception
    rejected = next(table.value for table in app.dataframe if "reason" in table.value.columns)
    assert rejected.to_dict("records") == [
        {
            "name": "huge.png",
            "reason": "Expected an image file of at most 32 MB. "
            "Received: name='huge.png' with 33.0 MB",
        }
    ]
    assert app.metric[0].value == "1"  # ok.png was still read.
