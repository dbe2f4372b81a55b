"""AppTest fixtures shared by the page tests."""

import pytest
from streamlit.testing.v1 import AppTest

from core import ui
from tests.conftest import REPOSITORY_ROOT

APP = str(REPOSITORY_ROOT / "app.py")
# Long enough for a GAN epoch on this 2-core machine; jobs are cancelled first, so it is rare.
JOB_TIMEOUT_SECONDS = 600


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
    manager = ui.job_manager()
    for app in apps:
        token = app.session_state["linesight_session_token"]
        for job in manager.jobs_for(token):
            manager.cancel(token, job.job_id)
            manager.wait(token, job.job_id, timeout=JOB_TIMEOUT_SECONDS)
