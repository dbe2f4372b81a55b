"""End-to-end fixtures: a real `streamlit run` server and Debian's Chromium through Playwright.

Chromium cannot be downloaded by `playwright install` here, so the tests launch the system browser.
When it is missing, the tests skip with the reason; with LINESIGHT_REQUIRE_E2E=1 (set by .ci/run)
a missing browser fails the run instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPOSITORY_ROOT

REQUIRE_E2E_VARIABLE = "LINESIGHT_REQUIRE_E2E"
CHROMIUM_PATH = os.environ.get("LINESIGHT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGUMENTS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT_DIRECTORY = REPOSITORY_ROOT / "docs"


def chromium_available() -> bool:
    return Path(CHROMIUM_PATH).exists() or shutil.which(CHROMIUM_PATH) is not None


def pytest_collection_modifyitems(config, items):
    if chromium_available():
        return
    if os.environ.get(REQUIRE_E2E_VARIABLE) == "1":
        raise pytest.UsageError(
            f"{REQUIRE_E2E_VARIABLE}=1 requires Chromium for the end-to-end tests. "
            f"Received: no browser at {CHROMIUM_PATH} (install Debian's `chromium`)."
        )
    skip = pytest.mark.skip(
        reason=f"Chromium not found at {CHROMIUM_PATH}; install Debian's `chromium` "
        f"(or set LINESIGHT_CHROMIUM) to run end-to-end tests."
    )
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM_PATH,
        "args": CHROMIUM_ARGUMENTS,
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    # A tall viewport: full-page screenshots stop at Streamlit's inner scroll area.
    return {**browser_context_args, "viewport": {"width": 1400, "height": 1800}}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    """Starts `streamlit run app.py` on a free loopback port and yields its URL."""
    port = free_port()
    registry = tmp_path_factory.mktemp("e2e-registry")
    log_path = tmp_path_factory.mktemp("e2e-logs") / "streamlit.log"
    environment = {**os.environ, "LINESIGHT_REGISTRY": str(registry), "TF_CPP_MIN_LOG_LEVEL": "2"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "streamlit", "run", "app.py",
                "--server.headless", "true",
                # A file changed during a run would otherwise hold the page at "Rerun?".
                "--server.fileWatcherType", "none",
                "--server.address", "127.0.0.1",
                "--server.port", str(port),
                "--browser.gatherUsageStats", "false",
            ],
            cwd=REPOSITORY_ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"Streamlit did not start: {log_path.read_text()[-2000:]}")
        time.sleep(0.3)
    yield url
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def wait_for_app_idle(page, timeout: float = 60_000) -> None:
    """Waits until Streamlit has finished the current run (no status widget)."""
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout)
    page.wait_for_function(
        "() => !document.querySelector(\"[data-testid='stStatusWidget']\")", timeout=timeout
    )
