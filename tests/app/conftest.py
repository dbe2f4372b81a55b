"""AppTest fixtures shared by the page tests."""

import pytest
from streamlit.testing.v1 import AppTest

from core import ui
from tests.conftest import REPOSITORY_ROOT
from tests.helpers.jobs import JOB_TIMEOUT_SECONDS, finish_jobs

APP = str(REPOSITORY_ROOT / "app.py")


@pytest.fixture
def open_session(isolated_registry):
    """`open_session(page=None, timeout=120)` opens the app in a fresh session (and switches to
    `page`); every job those sessions started is cancelled and awaited afterwards."""
    apps = []

    def open_new(page: str | None = None, timeout: float = 120) -> AppTest:
        app = AppTest.from_file(APP, default_timeout=timeout)
        app.run()
        if page is not None:
            app.switch_page(page).run()
        assert not app.exception, app.exception
        apps.append(app)
        return app

    yield open_new
    tokens = [app.session_state["linesight_session_token"] for app in apps]
    finish_jobs(ui.job_manager(), tokens, timeout=JOB_TIMEOUT_SECONDS)
