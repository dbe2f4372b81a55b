"""Server memory across browser sessions that each spot-check one image (issue 8, item 3).

Starts `streamlit run app.py` on a free loopback port with a temporary LINESIGHT_REGISTRY
(headless, like tests/e2e/conftest.py), then for each session: a new Chromium context opens the
app, goes to the Spot check page, uploads one sample image (sample_data/spot_check, rotating),
waits for the verdict and closes the context. A moment later it records the server's resident
memory (VmRSS of the server process and its children, from /proc) and Streamlit's own
`cache_memory_bytes` metrics (uploaded files, media files, st.cache_data), which show what
closed sessions still hold.

Streamlit keeps a closed session for `server.disconnectedSessionTTL` seconds (default 120) so that
a reconnecting browser finds it again; `--session-ttl` passes another value to the server.

The helpers here (server start, memory, one spot check in the browser) are shared with
bench/load_spot_check.py.

With `--final-wait`, the server then idles that long and one more "probe" session runs: Streamlit
drops expired sessions only when it stores another, so the probe shows what is left once the
closed sessions are past their TTL.

Usage:
    python bench/session_memory.py [--sessions 30] [--settle 2] [--port PORT]
        [--session-ttl SECONDS] [--final-wait SECONDS] [--level-threshold 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
SPOT_CHECK_DIRECTORY = REPOSITORY_ROOT / "sample_data" / "spot_check"
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
METRIC_LINE = re.compile(r'^cache_memory_bytes\{cache_type="([^"]*)",cache="([^"]*)"\}\s+(\S+)')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_server(port: int | None = None, session_ttl: int | None = None) -> Iterator[dict]:
    """Runs `streamlit run app.py` on loopback with a temporary registry until the block exits.

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
                command, cwd=REPOSITORY_ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
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


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


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


def streamlit_memory(url: str) -> dict[str, int]:
    """Streamlit's `cache_memory_bytes` metrics summed by cache type (e.g. UploadedFileManager)."""
    try:
        with urllib.request.urlopen(
            f"{url}/_stcore/metrics?families=cache_memory_bytes", timeout=10
        ) as response:
            text = response.read().decode()
    except OSError:
        return {}
    totals: dict[str, int] = {}
    for line in text.splitlines():
        match = METRIC_LINE.match(line)
        if match:
            totals[match[1]] = totals.get(match[1], 0) + int(float(match[3]))
    return totals


def session_counts(url: str) -> dict[str, int]:
    """Streamlit's session counters: active sessions, connects and disconnects so far."""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/metrics", timeout=10) as response:
            text = response.read().decode()
    except OSError:
        return {}
    counts = {}
    for line in text.splitlines():
        for name, pattern in (
            ("active", r"^active_sessions (\S+)"),
            ("connects", r'^session_events_total\{type="connect"\} (\S+)'),
            ("disconnects", r'^session_events_total\{type="disconnect"\} (\S+)'),
        ):
            match = re.match(pattern, line)
            if match:
                counts[name] = int(float(match[1]))
    return counts


def sample_images() -> list[Path]:
    images = sorted(SPOT_CHECK_DIRECTORY.glob("*.png"))
    if not images:
        raise ValueError(f"Expected sample PNG images. Received: directory={SPOT_CHECK_DIRECTORY}")
    return images


def load_averages() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


async def launch_chromium(playwright):
    return await playwright.chromium.launch(
        executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGUMENTS, headless=True
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
    started = time.perf_counter()
    await page.locator(UPLOADER).set_input_files(str(image))
    # The grid cell reads "**<class>** 97.3%" above the file name in code style.
    cell = page.locator("[data-testid='stMarkdownContainer']").filter(
        has=page.locator("code", has_text=image.name)
    )
    await cell.first.wait_for(state="visible", timeout=TIMEOUT_MILLISECONDS)
    verdict_seconds = time.perf_counter() - started
    verdict = await cell.first.locator("strong").first.inner_text()
    await wait_for_app_idle(page)
    await wait_for_images(page)
    complete_seconds = time.perf_counter() - started
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


def is_external(error: dict) -> bool:
    """A failed request to another host than the loopback server (there is no internet here)."""
    return error["kind"] == "requestfailed" and "//127.0.0.1:" not in error["detail"]


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def kilobytes(value: int) -> float:
    return round(value / 1e3, 1)


async def measured_session(browser, url, pid, number, image, errors, settle) -> dict:
    """One session, then (after `settle` seconds) the server's memory; prints a line."""
    watch = PageWatch(number, errors, time.monotonic())
    result = await one_session(browser, url, image, watch) or {}
    await asyncio.sleep(settle)
    record = {
        "session": number,
        "rss_mb": rss_megabytes(pid),
        "image": image.name,
        "verdict": result.get("verdict", "(failed)"),
        "seconds": round(result.get("verdict_s", float("nan")), 2),
        "errors": sum(error["session"] == number and not is_external(error) for error in errors),
        "streamlit": streamlit_memory(url),
        **session_counts(url),
    }
    print(
        f"session {number:2d}: {record['rss_mb']} MB, {image.name} -> {record['verdict']} in "
        f"{record['seconds']} s, streamlit {record['streamlit']}",
        flush=True,
    )
    return record


def table_row(label, record: dict) -> list:
    stored = record["streamlit"]
    return [
        label, record["rss_mb"], f"{record['image']} -> {record['verdict']}", record["seconds"],
        kilobytes(stored.get("UploadedFileManager", 0)),
        kilobytes(stored.get("st_memory_media_file_storage", 0)),
        kilobytes(stored.get("st_cache_data", 0)), record["errors"],
    ]  # fmt: skip


async def measure(arguments) -> dict:
    from playwright.async_api import async_playwright

    images = sample_images()
    load_start = load_averages()
    records, errors, probe = [], [], None
    with running_server(arguments.port, arguments.session_ttl) as server:
        url, pid = server["url"], server["pid"]
        baseline = rss_megabytes(pid)
        print(f"server {url} pid {pid}: {baseline} MB before any session", flush=True)
        async with async_playwright() as playwright:
            browser = await launch_chromium(playwright)
            try:
                for number in range(1, arguments.sessions + 1):
                    image = images[(number - 1) % len(images)]
                    records.append(
                        await measured_session(
                            browser, url, pid, number, image, errors, arguments.settle
                        )
                    )
                if arguments.final_wait > 0:
                    # Streamlit drops expired sessions only when it stores another one: one more
                    # session after the wait shows what the closed sessions still hold.
                    print(f"idle for {arguments.final_wait} s, then one probe session", flush=True)
                    await asyncio.sleep(arguments.final_wait)
                    probe = await measured_session(
                        browser, url, pid, arguments.sessions + 1, images[0], errors,
                        arguments.settle,
                    )  # fmt: skip
            finally:
                await browser.close()
        final_counts = session_counts(url)
    return summarize(arguments, baseline, records, probe, load_start, final_counts, errors)


def least_squares_slope(points: list[tuple[float, float]]) -> float:
    """The slope of the least-squares line through `points` (0 for fewer than two)."""
    if len(points) < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return round(sum((x - mean_x) * (y - mean_y) for x, y in points) / spread, 2)


def summarize(arguments, baseline, records, probe, load_start, final_counts, errors) -> dict:
    external = sorted({error["detail"] for error in errors if is_external(error)})
    errors = [error for error in errors if not is_external(error)]
    by_number = {record["session"]: record["rss_mb"] for record in records}
    last = len(records)
    milestones = sorted({1, *range(10, last + 1, 10), last})
    tail_start = max(1, last - 10)
    growth_last_ten = round(by_number[last] - by_number[tail_start], 1)
    per_session = round(growth_last_ten / max(1, last - tail_start), 2)
    # RSS saw-tooths by 10-15 MB as Streamlit drops expired sessions: the slope over the last
    # 20 sessions says more than the difference of two points.
    slope = least_squares_slope([(record["session"], record["rss_mb"]) for record in records[-20:]])
    summary = {
        "benchmark": "session_memory",
        "sessions": last,
        "session_ttl_s": arguments.session_ttl if arguments.session_ttl is not None else 120,
        "rss_mb_before": baseline,
        **{f"rss_mb_after_{number}": by_number[number] for number in milestones},
        "growth_mb_last_10": growth_last_ten,
        "growth_mb_per_session_last_10": per_session,
        "slope_mb_per_session_last_20": slope,
        "levels_off": growth_last_ten < arguments.level_threshold,
        "level_threshold_mb": arguments.level_threshold,
        "errors": len(errors),
        "streamlit_bytes_end": records[-1]["streamlit"],
        "probe_after_idle_s": arguments.final_wait if probe else None,
        "probe_rss_mb": probe["rss_mb"] if probe else None,
        "probe_streamlit_bytes": probe["streamlit"] if probe else None,
        "sessions_end": final_counts,
        "load_average_start": load_start,
        "load_average_end": load_averages(),
        "error_details": errors,
        "external_request_failures": external,
    }
    print()
    header = ["session", "RSS MB", "image -> verdict", "verdict s", "uploads kB", "media kB"]
    header += ["st.cache_data kB", "errors"]
    rows = [table_row(record["session"], record) for record in records]
    if probe:
        rows.append(table_row(f"probe after {arguments.final_wait:g} s idle", probe))
    print(markdown_table(header, rows))
    print()
    header = ["before", *(f"after {number}" for number in milestones), "growth last 10"]
    header += ["per session", "slope last 20", "levels off", "load avg start", "load avg end"]
    row = [
        baseline, *(by_number[number] for number in milestones), growth_last_ten, per_session,
        slope, summary["levels_off"], summary["load_average_start"], summary["load_average_end"],
    ]  # fmt: skip
    print(markdown_table(header, [row]))
    if errors:
        print()
        columns = ["session", "t_s", "phase", "kind", "detail"]
        print(markdown_table(columns, [[error[key] for key in columns] for error in errors]))
    if external:
        print(f"\nExternal requests that failed (offline machine): {external}")
    print(json.dumps(summary))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--settle", type=float, default=2.0, help="seconds after each close")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument(
        "--final-wait", type=float, default=0.0, help="idle seconds before one probe session"
    )
    parser.add_argument(
        "--session-ttl", type=int, default=None, help="server.disconnectedSessionTTL (s)"
    )
    parser.add_argument(
        "--level-threshold", type=float, default=20.0, help="MB over the last 10 sessions"
    )
    arguments = parser.parse_args()
    if arguments.sessions < 1:
        raise ValueError(f"Expected at least 1 session. Received: sessions={arguments.sessions}")
    asyncio.run(measure(arguments))


if __name__ == "__main__":
    main()
