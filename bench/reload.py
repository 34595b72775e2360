"""Config load and hot reload at 10,000 and 100,000 feeds (issue 12): how long `monitor check`
takes, and the longest the daemon's event loop stalls while a reload runs.

For each size N a config of N feeds (bench/poll.py's `write_config`: loopback URLs, never
fetched here) and the default watchlist is written to a temporary folder, then:

    check     `monitor --config … check` as a whole process (wall s, CPU s of the process)
    start     `make_app` + `App.start` in this process, as the daemon starts: the first
              reconciliation of N sources into a new SQLite database (wall s)
    reload    `Daemon.reload()` on the running loop, --rounds times, each after one feed's
              interval changed in the file, while a probe task sleeps 5 ms at a time and
              records how late it wakes: the longest wake-up delay is the longest stall a
              poll, a delivery or a /healthz request would have seen (wall s per reload, max and
              p99 stall ms), and the longest delay of the same probe for as long again with
              no reload (idle max ms: what other processes on the machine cost the probe)

    .venv/bin/python bench/reload.py                         # 10,000 and 100,000 feeds
    .venv/bin/python bench/reload.py --feeds 10000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from poll import ROOT, write_config

PROBE_SLEEP = 0.005


def check(config: Path) -> tuple[float, float]:
    """`monitor check` as a process: (wall s, CPU s)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), "check"],
        capture_output=True, text=True, cwd=config.parent,
    )  # fmt: skip
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"monitor check failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, cpu


async def reloads(config: Path, rounds: int) -> tuple[float, list[float], list[float], list[float]]:
    """(start s, reload wall s each, every probe delay in s during the reloads, and during as
    long again with no reload: what the machine itself costs the probe)."""
    from monitor.app import make_app
    from monitor.config import load_config
    from monitor.daemon import Daemon
    from monitor.heap import building_heap

    started = time.perf_counter()
    with building_heap():  # as `Daemon.run` starts
        app = make_app(load_config(config))
        await asyncio.to_thread(app.start)
    start = time.perf_counter() - started
    daemon = Daemon(app, reload_config=lambda: load_config(config))
    delays: list[float] = []
    stop = asyncio.Event()

    async def probe() -> None:
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(PROBE_SLEEP)
            delays.append(time.perf_counter() - before - PROBE_SLEEP)

    task = asyncio.create_task(probe())
    text = config.read_text("utf-8")
    walls = []
    try:
        for round_ in range(rounds):
            interval = f'interval = "{11 + round_}m"'
            config.write_text(text.replace('interval = "10m"', interval, 1), "utf-8")
            begun = time.perf_counter()
            if not await daemon.reload():
                raise SystemExit(f"reload rejected: {daemon.reload_result}")
            walls.append(time.perf_counter() - begun)
        during = list(delays)
        delays.clear()
        await asyncio.sleep(sum(walls))
    finally:
        stop.set()
        await task
        await asyncio.to_thread(app.close)
    return start, walls, during, delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", default="10000,100000", help="comma-separated sizes")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"{'feeds':>7} {'check s':>8} {'check CPU':>9} {'start s':>8} {'reload s':>9} "
          f"{'max stall ms':>13} {'p99 stall ms':>13} {'idle max ms':>12}")  # fmt: skip
    for size in (int(n) for n in args.feeds.split(",")):
        with tempfile.TemporaryDirectory(prefix="monitor-reload-") as folder:
            workdir = Path(folder)
            urls = [f"http://127.0.0.{1 + i % 50}:9/feed/{i}.xml" for i in range(size)]
            config = write_config(workdir, urls, "skip")
            wall, cpu = check(config)
            start, walls, delays, idle = asyncio.run(reloads(config, args.rounds))
            delays.sort()
            p99 = delays[int(len(delays) * 0.99)] if delays else 0.0
            print(
                f"{size:>7} {wall:>8.2f} {cpu:>9.2f} {start:>8.2f} "
                f"{statistics.median(walls):>9.2f} {max(delays) * 1000:>13.1f} {p99 * 1000:>13.1f}"
                f" {max(idle, default=0) * 1000:>12.1f}"
            )
    print(f"(stall = how late a {PROBE_SLEEP * 1000:.0f} ms sleep on the daemon's loop woke up; "
          "idle = the same probe for as long again with no reload, what the machine costs it; "
          f"reload s = median of {args.rounds}; run from {ROOT.name}/)")  # fmt: skip


if __name__ == "__main__":
    main()
