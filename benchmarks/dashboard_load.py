"""The dashboard under K simultaneous users: a real browser (Debian's chromium driven by playwright) opens K
sessions against one local `streamlit run app/main.py`; each loads the Data & target page, trains on the
bundled table from the Train page, and opens the Modules page on its run.

Reported per K: time to first paint (the browser's first-contentful-paint) and to the Data page's content,
time from pressing "Start training" to the finished run, time to the Modules page's rankings, runs saved,
distinct run names, and failures (timeouts, exceptions on a page, a sidebar showing file names).

Loopback only (the server listens on 127.0.0.1, chromium makes no other request), bounded: K <= 16,
one server per K with its own temporary runs folder, every wait has a timeout. Figures depend on the
machine and its load: compare runs made at the same time.

    PYTHONPATH=. python benchmarks/dashboard_load.py                 # K = 1, 2, 4, 8
    PYTHONPATH=. python benchmarks/dashboard_load.py --sessions 1,2 --epochs 5 --training-jobs 1
    PYTHONPATH=. python benchmarks/dashboard_load.py --home 5 --out benchmarks/results/dashboard_load.md

``--home N`` measures only the home page, one session at a time: its first paint and the time to its
content, for the first visit right after the server answers its health check (the server's first script
run, imports included) and for N more new sessions; with ``--out`` it replaces that file's "Home page
first paint" section and keeps the rest.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MAX_SESSIONS = 16
#: The app's own sidebar labels (app/main.py); anything else there is Streamlit's file-name page list.
NAV_LABELS = {"AutoBuild Studio", "Home", "Learn", "Data & target", "Train", "Modules", "Compare runs", "Build",
              "Loop", "Inpainting"}
NAV_RECORDER = """
window.__abNavSeen = new Set();
new MutationObserver(() => {
    document.querySelectorAll("[data-testid='stSidebarNav'] a, [data-testid='stNavSectionHeader']").forEach(
        (e) => { const t = e.innerText.trim().split("\\n").pop().trim(); if (t) window.__abNavSeen.add(t); });
}).observe(document, {childList: true, subtree: true, characterData: true});
"""


@dataclass
class SessionResult:
    first_paint_s: float | None = None
    data_ready_s: float | None = None
    train_s: float | None = None
    modules_s: float | None = None
    queued: bool = False
    failure: str | None = None
    nav_extra: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_server(process: subprocess.Popen) -> None:
    """Stop a server started by :func:`start_server` (killed if it does not stop within 10 s)."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def start_server(runs: Path, training_jobs: int | None, log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = dict(os.environ, AUTOBUILD_RUNS_DIR=str(runs), PYTHONUNBUFFERED="1")
    if training_jobs:
        env["AUTOBUILD_TRAINING_JOBS"] = str(training_jobs)
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.3)
    process.kill()
    raise RuntimeError("streamlit did not start:\n" + log.read_text()[-2000:])


async def _idle(page, timeout_ms: float) -> None:
    await page.wait_for_function(
        "() => document.querySelector(\"[data-testid='stApp']\")?.dataset.testScriptState === 'notRunning'",
        timeout=timeout_ms)


async def _no_exception(page, where: str) -> None:
    if await page.locator("[data-testid='stException']").count():
        raise RuntimeError(f"exception on the {where} page")


async def one_session(browser, url: str, args: argparse.Namespace) -> SessionResult:
    """Data page -> train on the bundled table -> Modules page, timing each step."""
    result = SessionResult()
    context = await browser.new_context(viewport={"width": 1280, "height": 1600})
    await context.add_init_script(NAV_RECORDER)
    page = await context.new_page()
    page.set_default_timeout(args.step_timeout * 1000)
    try:
        start = time.perf_counter()
        await page.goto(f"{url}/data")
        await page.get_by_text("Per-column statistics", exact=True).wait_for()
        result.data_ready_s = time.perf_counter() - start
        paint = await page.evaluate(
            "() => performance.getEntriesByName('first-contentful-paint').map(e => e.startTime)")
        result.first_paint_s = paint[0] / 1000 if paint else None
        await _idle(page, args.step_timeout * 1000)
        await _no_exception(page, "Data")

        await page.locator("[data-testid='stSidebarNav']").get_by_role("link", name="Train", exact=True).click()
        await page.get_by_text("Start training").wait_for()
        for label, value in (("Width", "8"), ("Layers (hops)", "2"), ("Epochs", str(args.epochs)),
                             ("Min. optimiser steps", "0")):
            field_ = page.get_by_label(label, exact=True)
            await field_.fill(value)
            await field_.press("Tab")
        await _idle(page, args.step_timeout * 1000)
        start = time.perf_counter()
        await page.get_by_role("button", name="Start training").click()
        finished = page.get_by_text("Held-out Spearman", exact=True)
        queued = page.get_by_text("is queued", exact=False)
        deadline = start + args.train_timeout
        while time.perf_counter() < deadline:
            if await finished.count():
                break
            if not result.queued and await queued.count():
                result.queued = True
            if await page.locator("[data-testid='stAlertContentError']").count():
                raise RuntimeError("training error: " + (await page.locator(
                    "[data-testid='stAlertContentError']").first.inner_text())[:200])
            await page.wait_for_timeout(250)
        else:
            raise TimeoutError(f"no finished run within {args.train_timeout} s")
        result.train_s = time.perf_counter() - start
        await _idle(page, args.step_timeout * 1000)
        await _no_exception(page, "Train")

        start = time.perf_counter()
        await page.locator("[data-testid='stSidebarNav']").get_by_role("link", name="Modules", exact=True).click()
        await page.get_by_text("Module rankings", exact=True).wait_for()
        await _idle(page, args.step_timeout * 1000)
        result.modules_s = time.perf_counter() - start
        await _no_exception(page, "Modules")
        seen = set(await page.evaluate("() => [...(window.__abNavSeen || [])]"))
        result.nav_extra = sorted(seen - NAV_LABELS)
        if result.nav_extra:
            raise RuntimeError(f"sidebar showed {result.nav_extra}")
    except Exception as err:  # noqa: BLE001 - a failed session is a figure of the benchmark, not its end
        result.failure = f"{type(err).__name__}: {str(err).splitlines()[0][:160]}"
    finally:
        await context.close()
    return result


async def run_k(k: int, url: str, args: argparse.Namespace) -> list[SessionResult]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            # One unmeasured session pays the server's first run of the scripts (importing torch) for every K alike.
            warm = await browser.new_page()
            await warm.goto(f"{url}/data")
            await warm.get_by_text("Per-column statistics", exact=True).wait_for(timeout=args.step_timeout * 1000)
            await warm.close()
            return await asyncio.gather(*(one_session(browser, url, args) for _ in range(k)))
        finally:
            await browser.close()


def _cell(values: list[float | None]) -> str:
    """median (max) of the values present."""
    present = [v for v in values if v is not None]
    return f"{statistics.median(present):.1f} ({max(present):.1f})" if present else "n/a"


def measure(k: int, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"autobuild-load-{k}-") as tmp:
        runs = Path(tmp) / "runs"
        process, url = start_server(runs, args.training_jobs, Path(tmp) / "streamlit.log")
        try:
            results = asyncio.run(asyncio.wait_for(run_k(k, url, args), timeout=args.k_timeout))
        finally:
            stop_server(process)
        saved = [p.name for p in runs.iterdir() if (p / "model.pt").is_file()] if runs.is_dir() else []
    failures = [r.failure for r in results if r.failure]
    return {
        "K": k, "first paint s": _cell([r.first_paint_s for r in results]),
        "Data page s": _cell([r.data_ready_s for r in results]),
        "click to finished run s": _cell([r.train_s for r in results]),
        "Modules page s": _cell([r.modules_s for r in results]),
        "queued": sum(r.queued for r in results), "runs saved": len(saved), "distinct names": len(set(saved)),
        "failures": len(failures), "first failure": failures[0] if failures else "",
    }


HOME_SECTION = "## Home page first paint"


async def home_visits(url: str, n: int, timeout_s: float) -> list[tuple[float | None, float]]:
    """(first paint s, home content s) of 1 + ``n`` new sessions opening "/", one after the other."""
    from playwright.async_api import async_playwright

    visits = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            for _ in range(1 + n):
                context = await browser.new_context(viewport={"width": 1280, "height": 1600})
                page = await context.new_page()
                start = time.perf_counter()
                await page.goto(url)
                await page.get_by_text("Registered search spaces", exact=True).wait_for(timeout=timeout_s * 1000)
                content = time.perf_counter() - start
                paint = await page.evaluate(
                    "() => performance.getEntriesByName('first-contentful-paint').map(e => e.startTime)")
                await _no_exception(page, "home")
                visits.append((paint[0] / 1000 if paint else None, content))
                await context.close()
        finally:
            await browser.close()
    return visits


def measure_home(n: int, args: argparse.Namespace) -> str:
    """The home page section: first paint and content of the first visit and of ``n`` later new sessions."""
    with tempfile.TemporaryDirectory(prefix="autobuild-home-") as tmp:
        process, url = start_server(Path(tmp) / "runs", args.training_jobs, Path(tmp) / "streamlit.log")
        try:
            visits = asyncio.run(home_visits(url, n, args.step_timeout))
        finally:
            stop_server(process)
    first, later = visits[0], visits[1:]
    fmt = (lambda v: "n/a" if v is None else f"{v:.2f}")
    rows = [f"| first visit after the server answers (1) | {fmt(first[0])} | {fmt(first[1])} |"]
    if later:
        rows.append(f"| later new sessions ({len(later)}) | {_cell([v[0] for v in later])} | "
                    f"{_cell([v[1] for v in later])} |")
    return (f"{HOME_SECTION}\n\n`PYTHONPATH=. python benchmarks/dashboard_load.py --home {n}`\n\n"
            "| visit | first paint s | home content s |\n|---|---|---|\n" + "\n".join(rows) + "\n\n"
            "One session at a time (K = 1), nothing training. First paint is the browser's first-contentful-paint "
            "from navigation start; home content is until \"Registered search spaces\" is drawn (the page's "
            f"script has run). The first visit starts right after the server answered its health check. "
            f"Later rows: median (max). {os.cpu_count()} CPU cores shared with other work: compare within this "
            "file only.\n")


def write_home_section(path: Path, section: str) -> None:
    """Replace (or append) the home page section of ``path``, keeping everything else."""
    text = path.read_text() if path.is_file() else "# Dashboard under load\n"
    if HOME_SECTION in text:
        before, _, after = text.partition(HOME_SECTION)
        rest = after.find("\n## ")
        text = before + section + (after[rest + 1:] if rest >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="1,2,4,8", help="comma-separated K values (each at most 16)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs of each training run (width 8, 2 layers)")
    parser.add_argument("--training-jobs", type=int, default=None,
                        help="the server's bound on concurrent training (default: its own, half the cores)")
    parser.add_argument("--step-timeout", type=float, default=120, help="seconds any page step may take")
    parser.add_argument("--train-timeout", type=float, default=600, help="seconds a session waits for its run")
    parser.add_argument("--k-timeout", type=float, default=1200, help="seconds all sessions of one K may take")
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this Markdown file")
    parser.add_argument("--home", type=int, default=None, metavar="N",
                        help="measure only the home page's first paint: the first visit and N more sessions")
    args = parser.parse_args()
    if args.home is not None:
        if not 0 <= args.home <= MAX_SESSIONS:
            parser.error(f"--home: N must be between 0 and {MAX_SESSIONS}")
        if not Path(CHROMIUM).is_file():
            parser.error(f"chromium not found at {CHROMIUM} (apt-get install chromium)")
        section = measure_home(args.home, args)
        print(section)
        if args.out:
            write_home_section(args.out, section)
        return 0
    ks = [int(k) for k in args.sessions.split(",") if k.strip()]
    if not ks or any(k < 1 or k > MAX_SESSIONS for k in ks):
        parser.error(f"--sessions: each K must be between 1 and {MAX_SESSIONS}")
    if not Path(CHROMIUM).is_file():
        parser.error(f"chromium not found at {CHROMIUM} (apt-get install chromium)")
    rows = []
    for k in ks:
        row = measure(k, args)
        rows.append(row)
        print(" · ".join(f"{key} {value}" for key, value in row.items() if value != ""), flush=True)
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(row[h]) for h in header) + " |" for row in rows]
    table = "\n".join(lines)
    note = (f"\nmedian (max) over the K sessions; {args.epochs} epochs per run, width 8, 2 layers, bundled "
            f"nasbench-graph_cora_300.csv; training bound {args.training_jobs or 'server default'}; "
            f"{os.cpu_count()} CPU cores.\n")
    print("\n" + table + note)
    if args.out:
        args.out.write_text(f"# Dashboard under load\n\n`PYTHONPATH=. python benchmarks/dashboard_load.py "
                            f"--sessions {args.sessions} --epochs {args.epochs}`\n\n{table}\n{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
