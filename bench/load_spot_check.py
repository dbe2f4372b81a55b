"""Load: concurrent browser sessions spot-checking for a while on loopback (issue 8, item 4).

Starts `streamlit run app.py` on a free loopback port with a temporary LINESIGHT_REGISTRY (like
tests/e2e/conftest.py), warms the server up with one spot check (TensorFlow and the demo model
load on the first), opens `--sessions` Chromium contexts on the Spot check page, then each
session loops for `--seconds`: clear the previous upload, upload the next sample image
(`--images`, by default sample_data/spot_check, rotating, each session starting at another
image), and time the upload until its verdict is visible in the grid. Each page is watched for
uncaught page errors (`pageerror`), failed requests, HTTP responses >= 400 and Streamlit error
elements, and every timeout is an error too. The server's resident memory (VmRSS with children) is
sampled every 2 s and the CPU time of the server and of the clients (Chromium, the Playwright
driver and this script) read before and after: on one machine they share the cores.

Prints a markdown table and one JSON line: spot checks, p50/p95/max latency to the verdict and to
the complete page (run ended, images loaded), throughput per minute, errors (each listed; failed
requests to other hosts, which fail offline, are listed apart), server RSS at the start, peak and
end, the CPU use of server and clients in cores, stale media 404s (see `is_stale_media`) and
load averages.

Usage:
    python bench/load_spot_check.py [--sessions 10] [--seconds 120] [--port PORT] [--images DIR]
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

import benchlib

RSS_SAMPLE_SECONDS = 2.0


class StartLine:
    """Holds the sessions until all have arrived (their page is open), then lets them go."""

    def __init__(self, count: int):
        self.missing = count
        self.all_arrived = asyncio.Event()
        self.go = asyncio.Event()

    async def arrive(self) -> None:
        self.missing -= 1
        if self.missing == 0:
            self.all_arrived.set()
        await self.go.wait()


async def session_loop(index, browser, url, images, start, deadline, latencies, errors):
    """One browser session: spot-checks images one after another until the deadline."""
    context = await browser.new_context(viewport=benchlib.VIEWPORT)
    watch = benchlib.PageWatch(index, errors, time.monotonic())
    checks = 0
    try:
        page = await context.new_page()
        watch.attach(page)
        try:
            await benchlib.open_spot_check(page, url)
        finally:
            await start.arrive()  # Also when the page failed to open: the others must not wait.
        while time.monotonic() < deadline[0]:
            image = images[(index + checks) % len(images)]
            try:
                if checks:
                    watch.phase = "clear"
                    await benchlib.clear_uploads(page)
                watch.phase = f"check {image.name}"
                result = await benchlib.spot_check(page, image)
                watch.phase = "checked"
                await benchlib.check_page(page, watch, result)
                latencies.append({"session": index, "image": image.name, **result})
            except Exception as error:  # A timeout or a broken page: count it, start afresh.
                watch.record(type(error).__name__, str(error).splitlines()[0])
                watch.phase = "reopen"
                await benchlib.open_spot_check(page, url)
            checks += 1
    finally:
        watch.active = False
        await context.close()


async def sample_rss(pid: int, samples: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.append(benchlib.rss_megabytes(pid))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RSS_SAMPLE_SECONDS)


async def measure(arguments) -> dict:
    from playwright.async_api import async_playwright

    images = benchlib.spot_check_images(arguments.images)
    load_start = benchlib.load_averages()
    latencies: list[dict] = []
    errors: list[dict] = []
    samples: list[float] = []
    with benchlib.running_server(arguments.port) as server:
        url, pid = server["url"], server["pid"]
        async with async_playwright() as playwright:
            browser = await benchlib.launch_chromium(playwright)
            try:
                warm_up_watch = benchlib.PageWatch(-1, errors, time.monotonic())
                warm_up = await benchlib.one_session(browser, url, images[0], warm_up_watch)
                warm_up = warm_up["verdict_s"] if warm_up else float("nan")
                print(f"server {url} pid {pid}; warm-up spot check {warm_up:.2f} s", flush=True)
                start = StartLine(arguments.sessions)
                deadline = [float("inf")]
                tasks = [
                    asyncio.create_task(
                        session_loop(
                            index, browser, url, images, start, deadline, latencies, errors
                        )
                    )
                    for index in range(arguments.sessions)
                ]
                # The clock starts once every session shows the Spot check page.
                await start.all_arrived.wait()
                rss_start = benchlib.rss_megabytes(pid)
                cpu_start = benchlib.cpu_seconds(pid)
                # This process's tree holds the server, the Playwright driver and Chromium.
                everything_start = benchlib.cpu_seconds(os.getpid())
                load_window = benchlib.load_averages()
                stop = asyncio.Event()
                sampler = asyncio.create_task(sample_rss(pid, samples, stop))
                began = time.monotonic()
                deadline[0] = began + arguments.seconds
                start.go.set()
                print(
                    f"{arguments.sessions} sessions running for {arguments.seconds} s", flush=True
                )
                results = await asyncio.gather(*tasks, return_exceptions=True)
                elapsed = time.monotonic() - began
                server_cores = (benchlib.cpu_seconds(pid) - cpu_start) / elapsed
                client_cores = (
                    benchlib.cpu_seconds(os.getpid()) - everything_start
                ) / elapsed - server_cores
                stop.set()
                await sampler
                for index, result in enumerate(results):
                    if isinstance(result, BaseException):
                        errors.append({"session": index, "kind": "session", "detail": repr(result)})
            finally:
                await browser.close()
        rss_end = benchlib.rss_megabytes(pid)
    return summarize(
        arguments, warm_up, latencies, errors, elapsed, (server_cores, client_cores),
        {"start": rss_start, "peak": max([*samples, rss_end]), "end": rss_end},
        [load_start, load_window, benchlib.load_averages()],
    )  # fmt: skip


def percentiles(values: list[float]) -> dict[str, float]:
    return {**benchlib.percentiles(values), "max": round(max(values, default=float("nan")), 2)}


def is_stale_media(error: dict) -> bool:
    """A 404 for a file of the previous run, seen once the session had started the next one.

    Streamlit frees a run's media (images, the CSV behind the download button, which the browser
    checks when the button renders) once the session's next run starts; a request still in
    flight then gets a 404 for an element about to be replaced. Nothing on the page breaks.
    """
    return (
        error["kind"] == "http"
        and error["phase"] == "clear"
        and error["detail"].startswith("404 ")
        and "/media/" in error["detail"]
    )


def summarize(arguments, warm_up, latencies, errors, elapsed, cores, rss, loads) -> dict:
    verdict = percentiles([entry["verdict_s"] for entry in latencies])
    complete = percentiles([entry["complete_s"] for entry in latencies])
    correct = sum(entry["image"].startswith(entry["verdict"] + "_") for entry in latencies)
    # Requests to other hosts are listed apart: they fail because this machine is offline.
    errors, external = benchlib.split_errors(errors)
    stale = [error for error in errors if is_stale_media(error)]
    summary = {
        "benchmark": "load_spot_check",
        "sessions": arguments.sessions,
        "seconds": round(elapsed, 1),
        "spot_checks": len(latencies),
        **{f"verdict_{name}_s": value for name, value in verdict.items()},
        **{f"complete_{name}_s": value for name, value in complete.items()},
        "per_minute": round(len(latencies) / elapsed * 60, 1),
        "server_cpu_cores": round(cores[0], 2),
        "client_cpu_cores": round(cores[1], 2),
        "cpu_cores": os.cpu_count(),
        "errors": len(errors),
        "stale_media_404s": len(stale),
        "user_visible_errors": len(errors) - len(stale),
        "verdicts_matching_file_name": correct,
        "warm_up_s": round(warm_up, 2),
        "rss_mb_start": rss["start"],
        "rss_mb_peak": rss["peak"],
        "rss_mb_end": rss["end"],
        "load_average_start": loads[0],
        "load_average_window_start": loads[1],
        "load_average_end": loads[2],
        "error_details": errors,
        "external_request_failures": external,
    }
    print()
    header = ["sessions", "seconds", "spot checks", "verdict p50/p95/max s"]
    header += ["page complete p50/p95/max s", "per minute", "errors (stale media 404s)"]
    header += ["RSS MB start/peak/end"]
    header += ["CPU cores server / clients", "load avg start/end"]
    row = [
        arguments.sessions, summary["seconds"], summary["spot_checks"],
        " / ".join(str(value) for value in verdict.values()),
        " / ".join(str(value) for value in complete.values()),
        summary["per_minute"], f"{len(errors)} ({len(stale)})",
        f"{rss['start']} / {rss['peak']} / {rss['end']}",
        f"{summary['server_cpu_cores']} / {summary['client_cpu_cores']} of {os.cpu_count()}",
        f"{loads[0]} / {loads[2]}",
    ]  # fmt: skip
    print(benchlib.markdown_table(header, [row]))
    benchlib.print_errors(errors, external, time_header="t s")
    benchlib.print_json(summary)
    return summary


def main() -> None:
    parser = benchlib.argument_parser(__doc__)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--port", type=int, default=None)
    benchlib.add_data_argument(
        parser, "--images", benchlib.SAMPLE_DATA / "spot_check", "PNG images to spot-check"
    )
    arguments = parser.parse_args()
    if arguments.sessions < 1 or arguments.seconds <= 0:
        raise ValueError(
            "Expected at least 1 session and a positive duration. "
            f"Received: sessions={arguments.sessions}, seconds={arguments.seconds}"
        )
    asyncio.run(measure(arguments))


if __name__ == "__main__":
    main()
