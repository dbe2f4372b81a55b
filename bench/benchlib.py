"""What the scripts of bench/ share: paths, output, timing, memory, registry, server, browser.

Each script imports it as `import benchlib`: `python bench/NAME.py` puts bench/ first on the
module search path, so no path set-up is needed. It imports neither TensorFlow nor Playwright:
the browser helpers take the objects the script made.

Real data sets live in `../shared/data/<set>` next to the checkout (`shared_data`); a benchmark
asks for them only through a data argument (`add_data_argument`), checked when it runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

CHECKOUT = Path(__file__).resolve().parents[1]
SHARED_DATA = CHECKOUT.parent / "shared" / "data"
SAMPLE_DATA = CHECKOUT / "sample_data"


# Paths and the command line ---------------------------------------------------------------------


def shared_data(name: str) -> Path:
    """The default folder of a real data set: `../shared/data/<name>` beside the checkout."""
    return SHARED_DATA / name


def add_data_argument(parser: argparse.ArgumentParser, flag: str, default: Path, what: str) -> None:
    """Adds `flag PATH`, data the benchmark reads; a missing path stops it when parsed.

    The error names the expected path (the default) and the one received. `--help` does not look
    at the data, so it works without it.
    """

    def existing_path(text: str) -> Path:
        if not Path(text).exists():
            source = "the default" if text == str(default) else f"from {flag}"
            raise argparse.ArgumentTypeError(
                f"Expected {what} at {default} (the default) or at `{flag} PATH`. "
                f"Received: no such path {text} ({source})"
            )
        return Path(text)

    # A string default goes through `type` too, so the default path is checked as well.
    parser.add_argument(
        flag,
        type=existing_path,
        default=str(default),
        metavar="PATH",
        help=f"{what} (default: %(default)s)",
    )


def argument_parser(doc: str) -> argparse.ArgumentParser:
    """A parser described by the first line of the script's docstring."""
    return argparse.ArgumentParser(description=doc.splitlines()[0])


def parse_overrides(pairs: list[str]) -> dict:
    """The values of `--set KEY=JSON`: `['model="lstm"']` -> `{"model": "lstm"}`."""
    overrides = {}
    for pair in pairs:
        key, _, text = pair.partition("=")
        overrides[key] = json.loads(text)
    return overrides


def print_json(value: object) -> None:
    """Prints a result as one JSON line (flushed, so a log shows it at once)."""
    print(json.dumps(value), flush=True)


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


# Time, memory and child processes ---------------------------------------------------------------


class Stopwatch:
    """Wall time: `elapsed` since it was made (or entered); `seconds` of a finished `with` block."""

    def __init__(self):
        self.started = time.perf_counter()
        self.seconds = float("nan")

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def __enter__(self) -> Stopwatch:
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exception) -> None:
        self.seconds = self.elapsed


class EpochPrinter:
    """A core progress listener printing each epoch's logs and the time so far to stderr."""

    def __init__(self, digits: int = 3, label: str = "epoch"):
        self.digits = digits
        self.label = label
        self.clock = Stopwatch()

    def on_epoch_end(self, epoch, logs):
        shown = {key: round(value, self.digits) for key, value in logs.items()}
        shown.pop("learning_rate", None)
        self.say(f"{self.label} {epoch} {self.clock.elapsed:.0f}s {shown}")

    def say(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)


def percentiles(
    values: Sequence[float], points: Sequence[int] = (50, 95), scale: float = 1.0, suffix: str = ""
) -> dict[str, float]:
    """`{"p50<suffix>": ..., "p95<suffix>": ...}` of `values * scale`, 2 digits (NaN if empty)."""
    array = np.array(values, dtype=np.float64) * scale if len(values) else np.array([np.nan])
    return {f"p{point}{suffix}": round(float(np.percentile(array, point)), 2) for point in points}


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB (`ru_maxrss` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_averages() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def run_child(script: str, arguments: list[str], what: str) -> dict:
    """Runs `python <script> <arguments>` in a fresh process; returns its last stdout line as JSON.

    Raises:
        RuntimeError: When the child fails, with `what` and the end of its stderr.
    """
    command = [sys.executable, script, *arguments]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def temporary_registry(directory: Path | None = None, demo_models: bool = False) -> Iterator:
    """Yields a `ModelRegistry` at `directory`, else in a temporary folder removed afterwards.

    With `demo_models`, the bundled demo models are registered in it first.
    """
    from core.registry.store import ModelRegistry

    with tempfile.TemporaryDirectory(prefix="linesight-bench-") as scratch:
        registry = ModelRegistry(directory or Path(scratch) / "registry")
        if demo_models:
            from core.demo.models import ensure_demo_models

            ensure_demo_models(registry)
        yield registry


# The app server and its processes ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def running_server(port: int | None = None, session_ttl: int | None = None) -> Iterator[dict]:
    """Runs `streamlit run app.py` on loopback with a temporary registry until the block exits.

    Headless like tests/e2e/conftest.py; `session_ttl` sets `server.disconnectedSessionTTL`.

    Yields:
        `{"url", "pid", "log"}` of the running server.

    Raises:
        RuntimeError: When the server does not answer its health check within 90 s.
    """
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="linesight-bench-") as scratch:
        log_path = Path(scratch) / "streamlit.log"
        environment = {
            **os.environ,
            "LINESIGHT_REGISTRY": str(Path(scratch) / "registry"),
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
        command = [
            sys.executable, "-m", "streamlit", "run", "app.py",
            "--server.headless", "true",
            "--server.address", "127.0.0.1",
            "--server.port", str(port),
            "--browser.gatherUsageStats", "false",
            # An edit to the checkout during a run (other work goes on in it) would otherwise
            # put "File change. Rerun" in the status widget until the next run: no idle page.
            "--server.fileWatcherType", "none",
        ]  # fmt: skip
        if session_ttl is not None:
            command += ["--server.disconnectedSessionTTL", str(session_ttl)]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                command, cwd=CHECKOUT, env=environment, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 90
            while not healthy(url):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"Streamlit did not start on port {port}: {log_path.read_text()[-2000:]}"
                    )
                time.sleep(0.3)
            yield {"url": url, "pid": process.pid, "log": log_path}
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants (from /proc/<pid>/task/*/children)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                pending += [int(child) for child in (task / "children").read_text().split()]
    return found


def rss_megabytes(pid: int) -> float:
    """Resident memory (VmRSS) of a process and its children, in MB (10^6 bytes)."""
    total_kilobytes = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kilobytes += int(line.split()[1])
    return round(total_kilobytes * 1024 / 1e6, 1)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process and its descendants have used so far, in seconds.

    Processes that have ended count through their parent's cutime and cstime (a browser's
    renderers end with their page).
    """
    ticks = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            # Fields after the parenthesised command name: utime, stime, cutime and cstime are
            # fields 14 to 17 of /proc/<pid>/stat.
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += sum(int(value) for value in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


# The browser: one spot check on the app's Spot check page ---------------------------------------

CHROMIUM_PATH = os.environ.get("LINESIGHT_CHROMIUM", "/usr/bin/chromium")
# The flags of tests/e2e/conftest.py: Debian's Chromium, no sandbox, no background traffic.
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
VIEWPORT = {"width": 1400, "height": 1800}
TIMEOUT_MILLISECONDS = 90_000
UPLOADER = "[data-testid='stFileUploader'] input[type='file']"
DELETE_UPLOAD = "[data-testid='stFileChipDeleteBtn'] button, [data-testid='stFileChipDeleteBtn']"
EMPTY_PAGE_TEXT = "Upload images above"
SCRIPT_ERRORS = "[data-testid='stException'], [data-testid='stAlertContentError']"


def spot_check_images(directory: Path) -> list[Path]:
    images = sorted(directory.glob("*.png"))
    if not images:
        raise ValueError(f"Expected sample PNG images. Received: directory={directory}")
    return images


async def launch_chromium(playwright):
    return await playwright.chromium.launch(
        executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGUMENTS, headless=True
    )


def is_external(error: dict) -> bool:
    """A failed request to another host than the loopback server (there is no internet here)."""
    return error["kind"] == "requestfailed" and "//127.0.0.1:" not in error["detail"]


def split_errors(errors: list[dict]) -> tuple[list[dict], list[str]]:
    """`(errors of the app, the sorted details of failed requests to other hosts)`."""
    external = sorted({error["detail"] for error in errors if is_external(error)})
    return [error for error in errors if not is_external(error)], external


def print_errors(errors: list[dict], external: list[str], time_header: str = "t_s") -> None:
    """Prints the app's errors as a table and the failed external requests on one line."""
    if errors:
        columns = ["session", "t_s", "phase", "kind", "detail"]
        header = [time_header if column == "t_s" else column for column in columns]
        print()
        print(markdown_table(header, [[error[key] for key in columns] for error in errors]))
    if external:
        print(f"\nExternal requests that failed (offline machine): {external}")


class PageWatch:
    """Collects the errors one page reports while `active` (not while it is being closed)."""

    def __init__(self, session: int, errors: list[dict], began: float):
        self.session = session
        self.errors = errors
        self.began = began
        self.active = True
        self.phase = "open"

    def record(self, kind: str, detail: str) -> None:
        if self.active:
            error = {
                "session": self.session,
                "t_s": round(time.monotonic() - self.began, 1),
                "phase": self.phase,
                "kind": kind,
                "detail": detail[:300],
            }
            self.errors.append(error)
            if not is_external(error):
                print(f"  error: {error}", flush=True)

    def attach(self, page) -> None:
        page.on("pageerror", lambda error: self.record("pageerror", str(error)))
        page.on(
            "requestfailed",
            lambda request: self.record(
                "requestfailed", f"{request.method} {request.url} {request.failure}"
            ),
        )
        page.on(
            "response",
            lambda response: (
                self.record("http", f"{response.status} {response.url}")
                if response.status >= 400
                else None
            ),
        )


async def wait_for_app_idle(page) -> None:
    """Waits until Streamlit has finished the current run (no status widget).

    Raises:
        TimeoutError: After 90 s, with the text of the status widget.
    """
    await page.wait_for_selector("[data-testid='stApp']", timeout=TIMEOUT_MILLISECONDS)
    try:
        await page.wait_for_function(
            "() => !document.querySelector(\"[data-testid='stStatusWidget']\")",
            timeout=TIMEOUT_MILLISECONDS,
        )
    except Exception as error:
        status = await page.locator("[data-testid='stStatusWidget']").all_inner_texts()
        raise TimeoutError(
            f"Expected the app to finish its run. Received: status widget {status}"
        ) from error


async def wait_for_images(page, minimum: int = 0) -> None:
    """Waits until the page has `minimum` images and all have loaded (or failed to)."""
    await page.wait_for_function(
        """(minimum) => {
            const images = [...document.querySelectorAll('img')];
            return images.length >= minimum && images.every((image) => image.complete);
        }""",
        arg=minimum,
        timeout=TIMEOUT_MILLISECONDS,
    )


async def open_spot_check(page, url: str) -> None:
    """Opens the app and goes to the Spot check page through the sidebar."""
    await page.goto(url, timeout=TIMEOUT_MILLISECONDS)
    # Leaving Home before its sample images have loaded makes their requests fail with 404 (the
    # next run frees them): wait for its last element (the sensor chart), then its images, as
    # a reader would. The status widget alone is not enough: it shows only once a run is slow.
    await page.locator("[data-testid='stPlotlyChart']").first.wait_for(timeout=TIMEOUT_MILLISECONDS)
    await wait_for_app_idle(page)
    await wait_for_images(page, minimum=1)
    await page.get_by_role("link", name="Spot check").click(timeout=TIMEOUT_MILLISECONDS)
    await page.get_by_role("heading", name="Spot check", level=1).wait_for(
        timeout=TIMEOUT_MILLISECONDS
    )
    await page.get_by_text(EMPTY_PAGE_TEXT).wait_for(timeout=TIMEOUT_MILLISECONDS)
    await wait_for_app_idle(page)


async def spot_check(page, image: Path) -> dict:
    """Uploads one image, waits for its verdict in the grid, then for the whole page.

    Returns:
        `{"verdict_s": seconds from upload to the verdict visible, "verdict": predicted class,
        "complete_s": seconds until the run ended and every image loaded, "broken_images":
        images that finished loading without pixels}`.
    """
    clock = Stopwatch()
    await page.locator(UPLOADER).set_input_files(str(image))
    # The grid cell reads "**<class>** 97.3%" above the file name in code style.
    cell = page.locator("[data-testid='stMarkdownContainer']").filter(
        has=page.locator("code", has_text=image.name)
    )
    await cell.first.wait_for(state="visible", timeout=TIMEOUT_MILLISECONDS)
    verdict_seconds = clock.elapsed
    verdict = await cell.first.locator("strong").first.inner_text()
    await wait_for_app_idle(page)
    await wait_for_images(page)
    complete_seconds = clock.elapsed
    broken = await page.evaluate(
        "() => [...document.querySelectorAll('img')]"
        ".filter((image) => image.naturalWidth === 0).map((image) => image.src)"
    )
    return {
        "verdict_s": verdict_seconds,
        "verdict": verdict,
        "complete_s": complete_seconds,
        "broken_images": broken,
    }


async def clear_uploads(page) -> None:
    """Removes the uploaded files and waits for the empty page."""
    delete = page.locator(DELETE_UPLOAD).first
    while await delete.count():
        await delete.click(timeout=TIMEOUT_MILLISECONDS)
        await page.wait_for_timeout(100)
    await page.get_by_text(EMPTY_PAGE_TEXT).wait_for(timeout=TIMEOUT_MILLISECONDS)
    await wait_for_app_idle(page)


async def check_page(page, watch: PageWatch, result: dict) -> None:
    """Records Streamlit error elements and broken images after a spot check."""
    if await page.locator(SCRIPT_ERRORS).count():
        watch.record("script", "an error element on the page")
    for source in result["broken_images"]:
        watch.record("broken image", source)


async def one_session(browser, url: str, image: Path, watch: PageWatch) -> dict | None:
    """A whole browser session: open, spot-check one image, close.

    Returns:
        The result of `spot_check`, or None when it failed (the failure is in `watch`).
    """
    context = await browser.new_context(viewport=VIEWPORT)
    try:
        page = await context.new_page()
        watch.attach(page)
        watch.phase = "open"
        await open_spot_check(page, url)
        watch.phase = f"check {image.name}"
        result = await spot_check(page, image)
        watch.phase = "checked"
        await check_page(page, watch, result)
        return result
    except Exception as error:  # A timeout or a broken page: recorded, the benchmark goes on.
        watch.record(type(error).__name__, str(error).splitlines()[0])
        return None
    finally:
        watch.active = False
        await context.close()
