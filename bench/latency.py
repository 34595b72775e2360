"""Drop-to-alert latency: files moved into a watched folder while `monitor run` is running.

For each of N files (default 200): write it outside the folder, `rename` it in (inotify
IN_MOVED_TO), and time until its alert line appears in the jsonl sink. Prints p50/p95/max.

    .venv/bin/python bench/latency.py [--files 200]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CONFIG = """\
database = "sqlite:///var/monitor.db"
watchlist = "watchlist.toml"
log_level = "warning"

[[folders]]
id = "inbox"
path = "inbox"

[[notifiers]]
name = "sink"
type = "jsonl"
path = "var/alerts.jsonl"
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "inbox").mkdir()
        (work / "monitor.toml").write_text(CONFIG)
        shutil.copy(ROOT / "config" / "watchlist.toml", work / "watchlist.toml")
        sink = work / "var" / "alerts.jsonl"
        daemon = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(work / "monitor.toml"), "run"],
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while not (work / "var" / "monitor.db").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(1.0)  # let the first scan and the watches settle
            latencies = []
            lines = 0
            for i in range(args.files):
                staging = work / f"staging-{i}.txt"
                # One topic per file (putin) so each drop produces exactly one alert line.
                staging.write_text(
                    f"第{i}號快訊：普丁今天發表談話，內容涉及能源與經濟。" * 3, "utf-8"
                )
                started = time.perf_counter()
                os.replace(staging, work / "inbox" / f"drop-{i:04d}.txt")
                while True:
                    if sink.exists():
                        count = sink.read_bytes().count(b"\n")
                        if count > lines:
                            lines = count
                            break
                    if time.perf_counter() - started > 10:
                        raise SystemExit(f"file {i}: no alert within 10 s")
                    time.sleep(0.001)
                latencies.append((time.perf_counter() - started) * 1000)
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    print(f"drop-to-alert latency over {len(latencies)} files (rename into a watched folder)")
    print(f"  p50 {statistics.median(latencies):7.1f} ms   (target < 250 ms)")
    print(f"  p95 {p95:7.1f} ms   (target < 1000 ms)")
    print(f"  max {latencies[-1]:7.1f} ms   min {latencies[0]:.1f} ms")


if __name__ == "__main__":
    main()
