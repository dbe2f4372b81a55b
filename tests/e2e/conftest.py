"""End-to-end fixtures: a real `streamlit run` server and Debian's Chromium through Playwright.

Chromium cannot be downloaded by `playwright install` here, so the tests launch the system browser.
When it is missing, the tests skip with the reason; with LINESIGHT_REQUIRE_E2E=1 (set by .ci/run)
a missing browser fails the run instead.

Screenshots go to a temporary folder, so a test run leaves the checkout as it was. To refresh the
pictures in docs/, name the folder in LINESIGHT_SCREENSHOT_DIRECTORY (a relative path is taken
from the repository root):

    LINESIGHT_SCREENSHOT_DIRECTORY=docs pytest -m e2e
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
SCREENSHOT_DIRECTORY_VARIABLE = "LINESIGHT_SCREENSHOT_DIRECTORY"
SCREENSHOT_DIRECTORY_KEY = pytest.StashKey[Path]()


def resolve_screenshot_directory(configured: str | None, default: Path) -> Path:
    """Returns where the e2e screenshots go.

    Args:
        configured: The value of LINESIGHT_SCREENSHOT_DIRECTORY, or None when it is not set.
        default: The temporary folder used when `configured` is None or empty.

    Returns:
        `default` when nothing is configured, else the configured folder (a relative path is
        taken from the repository root, so `docs` means the repository's docs/ folder).
    """
    if not configured:
        return default
    directory = Path(configured).expanduser()
    return directory if directory.is_absolute() else REPOSITORY_ROOT / directory


@pytest.fixture(scope="session")
def screenshot_directory(tmp_path_factory, pytestconfig) -> Path:
    """The folder of the e2e screenshots: temporary unless LINESIGHT_SCREENSHOT_DIRECTORY is set."""
    configured = os.environ.get(SCREENSHOT_DIRECTORY_VARIABLE)
    directory = resolve_screenshot_directory(
        configured, tmp_path_factory.getbasetemp() / "screenshots"
    )
    directory.mkdir(parents=True, exist_ok=True)
    pytestconfig.stash[SCREENSHOT_DIRECTORY_KEY] = directory
    return directory


@pytest.fixture
def screenshot_path(screenshot_directory):
    """`screenshot_path(name)`: the path for the screenshot `name` (e.g. "home.png")."""

    def path_for(name: str) -> Path:
        if Path(name).name != name:
            raise ValueError(f"Expected a bare file name like 'home.png'. Received: {name!r}")
        return screenshot_directory / name

    return path_for


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    directory = config.stash.get(SCREENSHOT_DIRECTORY_KEY, None)
    if directory is not None:
        terminalreporter.write_line(f"e2e screenshots: {directory}")


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
