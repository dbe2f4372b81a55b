"""Per-session identity and the login gate, and two fixes to Streamlit's run loop.

Per user (`st.session_state`): the session token that owns uploads and jobs. Access
(`core.access.policy`): the login gate when `[auth]` is in the secrets and the current user.
"""

from __future__ import annotations

import uuid

import streamlit as st
from streamlit.errors import StreamlitAuthError, StreamlitSecretNotFoundError
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import script_runner

from core.access import policy as access

SESSION_TOKEN_KEY = "linesight_session_token"
LOGOUT_KEY = "access_logout"


def _keep_keras_state_between_runs() -> None:
    """Stops Streamlit from clearing the Keras session after every script run.

    Streamlit calls `keras.backend.clear_session()` after each run, fragment polls included.
    In Keras 3 that replaces the global state of every thread, so a model that a job thread is
    building at that moment gets duplicate layer names ("The name 'dropout' is used 2 times")
    and its training fails; about 1 GAN training in 3 failed so in the browser. Jobs build
    their models from scratch and pages hold none, so nothing needs the clearing. The hook is
    private to Streamlit: `tests/unit/ui/test_session.py` fails if an upgrade moves it.
    """
    if hasattr(script_runner, "_clean_problem_modules"):
        script_runner._clean_problem_modules = _no_cleanup


def _no_cleanup() -> None:
    """Replaces Streamlit's per-run module cleanup (see `_keep_keras_state_between_runs`)."""


_keep_keras_state_between_runs()


def _end_legacy_pages_directory_mode() -> None:
    """Stops Streamlit from running a `pages/` file without app.py, for the rest of the process.

    Until some run has called `st.navigation`, Streamlit serves a folder named `pages` the legacy
    way: the first request for `/models` after the server starts ran pages/models.py directly,
    skipping app.py and its login gate, and so did every request until someone opened `/`.
    Every page imports this module, so the first such run ends the mode (pages calling
    `require_login` are covered during that run too). The flag is private to Streamlit:
    `tests/app/test_access.py` fails if an upgrade moves it.
    """
    if hasattr(PagesManager, "uses_pages_directory"):
        PagesManager.uses_pages_directory = False


_end_legacy_pages_directory_mode()


def session_token() -> str:
    """This browser session's private token: the owner of its uploads and jobs."""
    if SESSION_TOKEN_KEY not in st.session_state:
        st.session_state[SESSION_TOKEN_KEY] = uuid.uuid4().hex
    return st.session_state[SESSION_TOKEN_KEY]


def _secrets() -> dict:
    """The app's secrets as a plain dict; {} when there is no secrets file.

    Raises:
        StreamlitSecretNotFoundError: A secrets file exists but cannot be parsed.
    """
    try:
        return st.secrets.to_dict()
    except StreamlitSecretNotFoundError as error:
        if getattr(error, "error_id", None) == "no-secrets-found":
            return {}
        raise


def login_enabled() -> bool:
    """Whether login is on: the secrets hold an `[auth]` section."""
    return access.auth_configured(_secrets())


def current_user_id() -> str | None:
    """The logged-in user (email, else OIDC subject), recorded as a model's owner; None when
    login is off or nobody is logged in."""
    if not login_enabled():
        return None
    return access.user_identity(st.user.to_dict())


def access_allowed() -> bool:
    """Whether this session may use the dashboard: login is off, or a user is logged in.

    False also when the secrets cannot be read (`login_page` then says why).
    """
    try:
        return not login_enabled() or current_user_id() is not None
    except StreamlitSecretNotFoundError:
        return False


def account_sidebar() -> None:
    """Who is logged in, and a logout button, in the sidebar (nothing while login is off)."""
    user = current_user_id()
    if user is not None:
        st.sidebar.caption(f"Signed in as `{user}`")
        st.sidebar.button("Log out", key=LOGOUT_KEY, icon=":material/logout:", on_click=st.logout)


def require_login() -> None:
    """Shows the login page and stops the page's run unless `access_allowed`.

    app.py routes a session that is not logged in to the login page alone; a page calls this
    first all the same, because Streamlit can run a page file without app.py (see
    `_end_legacy_pages_directory_mode`).
    """
    if not access_allowed():
        login_page()
        st.stop()


def login_page() -> None:
    """The only page while login is on and nobody is logged in: one button per OIDC provider."""
    st.title("LineSight")
    try:
        secrets = _secrets()
    except StreamlitSecretNotFoundError as error:
        st.error(f"Nobody can log in: the secrets file cannot be read. {error}")
        return
    problems = access.auth_problems(secrets)
    if problems:
        st.error(
            "Login is on ([auth] in .streamlit/secrets.toml) but incomplete, so nobody can log "
            "in:\n\n" + "\n".join(f"- {problem}" for problem in problems)
        )
        return
    st.markdown("Log in to inspect images, train models and manage the model registry.")
    for provider in access.login_providers(secrets):
        label = "Log in" if provider is None else f"Log in with {provider}"
        if st.button(label, key=f"access_login_{provider or 'default'}", icon=":material/login:"):
            try:
                st.login(provider)
            except StreamlitAuthError as error:  # Authlib missing, or Streamlit reads no [auth].
                st.error(f"Login failed: {error}")
