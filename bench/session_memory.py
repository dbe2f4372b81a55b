"""Server memory across browser sessions that each spot-check one image (issue 8, item 3).

Starts `streamlit run app.py` on a free loopback port with a temporary LINESIGHT_REGISTRY
(headless, like tests/e2e/conftest.py), then for each session: a new Chromium context opens the
app, goes to the Spot check page, uploads one sample image (`--images`, by default
sample_data/spot_check, rotating), waits for the verdict and closes the context. A moment later
it records the server's resident memory (VmRSS of the server process and its children, from
/proc) and Streamlit's own `cache_memory_bytes` metrics (uploaded files, media files,
st.cache_data), which show what closed sessions still hold.

Streamlit keeps a closed session for `server.disconnectedSessionTTL` seconds (default 120) so that
a reconnecting browser finds it again; `--session-ttl` passes another value to the server.

The server start, the memory readings and the browser session come from bench/benchlib.py,
shared with bench/load_spot_check.py.

With `--final-wait`, the server then idles that long and one more "probe" session runs: Streamlit
drops expired sessions only when it stores another, so the probe shows what is left once the
closed sessions are past their TTL.

Usage:
    python bench/session_memory.py [--sessions 30] [--settle 2] [--port PORT]
        [--session-ttl SECONDS] [--final-wait SECONDS] [--level-threshold 20] [--images DIR]
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request

import benchlib

METRIC_LINE = re.compile(r'^cache_memory_bytes\{cache_type="([^"]*)",cache="([^"]*)"\}\s+(\S+)')


def metrics(url: str, query: str = "") -> list[str]:
    """The lines of Streamlit's metrics page (none when it does not answer)."""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/metrics{query}", timeout=10) as response:
            return response.read().decode().splitlines()
    except OSError:
        return []


def streamlit_memory(url: str) -> dict[str, int]:
    """Streamlit's `cache_memory_bytes` metrics summed by cache type (e.g. UploadedFileManager)."""
    totals: dict[str, int] = {}
    for line in metrics(url, "?families=cache_memory_bytes"):
        match = METRIC_LINE.match(line)
        if match:
            totals[match[1]] = totals.get(match[1], 0) + int(float(match[3]))
    return totals


def session_counts(url: str) -> dict[str, int]:
    """Streamlit's session counters: active sessions, connects and disconnects so far."""
    counts = {}
    for line in metrics(url):
        for name, pattern in (
            ("active", r"^active_sessions (\S+)"),
            ("connects", r'^session_events_total\{type="connect"\} (\S+)'),
            ("disconnects", r'^session_events_total\{type="disconnect"\} (\S+)'),
        ):
            match = re.match(pattern, line)
            if match:
                counts[name] = int(float(match[1]))
    return counts


def kilobytes(value: int) -> float:
    return round(value / 1e3, 1)


async def measured_session(browser, url, pid, number, image, errors, settle) -> dict:
    """One session, then (after `settle` seconds) the server's memory; prints a line."""
    watch = benchlib.PageWatch(number, errors, time.monotonic())
    result = await benchlib.one_session(browser, url, image, watch) or {}
    await asyncio.sleep(settle)
    record = {
        "session": number,
        "rss_mb": benchlib.rss_megabytes(pid),
        "image": image.name,
        "verdict": result.get("verdict", "(failed)"),
        "seconds": round(result.get("verdict_s", float("nan")), 2),
        "errors": sum(
            error["session"] == number and not benchlib.is_external(error) for error in errors
        ),
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

    images = benchlib.spot_check_images(arguments.images)
    load_start = benchlib.load_averages()
    records, errors, probe = [], [], None
    with benchlib.running_server(arguments.port, arguments.session_ttl) as server:
        url, pid = server["url"], server["pid"]
        baseline = benchlib.rss_megabytes(pid)
        print(f"server {url} pid {pid}: {baseline} MB before any session", flush=True)
        async with async_playwright() as playwright:
            browser = await benchlib.launch_chromium(playwright)
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
    errors, external = benchlib.split_errors(errors)
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
        "load_average_end": benchlib.load_averages(),
        "error_details": errors,
        "external_request_failures": external,
    }
    print()
    header = ["session", "RSS MB", "image -> verdict", "verdict s", "uploads kB", "media kB"]
    header += ["st.cache_data kB", "errors"]
    rows = [table_row(record["session"], record) for record in records]
    if probe:
        rows.append(table_row(f"probe after {arguments.final_wait:g} s idle", probe))
    print(benchlib.markdown_table(header, rows))
    print()
    header = ["before", *(f"after {number}" for number in milestones), "growth last 10"]
    header += ["per session", "slope last 20", "levels off", "load avg start", "load avg end"]
    row = [
        baseline, *(by_number[number] for number in milestones), growth_last_ten, per_session,
        slope, summary["levels_off"], summary["load_average_start"], summary["load_average_end"],
    ]  # fmt: skip
    print(benchlib.markdown_table(header, [row]))
    benchlib.print_errors(errors, external)
    benchlib.print_json(summary)
    return summary


def main() -> None:
    parser = benchlib.argument_parser(__doc__)
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
    benchlib.add_data_argument(
        parser, "--images", benchlib.SAMPLE_DATA / "spot_check", "PNG images to spot-check"
    )
    arguments = parser.parse_args()
    if arguments.sessions < 1:
        raise ValueError(f"Expected at least 1 session. Received: sessions={arguments.sessions}")
    asyncio.run(measure(arguments))


if __name__ == "__main__":
    main()
