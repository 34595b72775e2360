"""Daemon poll rate: how many polls a second one `monitor run` sustains once every feed answers
304, with the CPU and the memory of its whole process tree (parse workers included, as
systemd's MemoryMax counts them).

bench/poll.py's loopback server serves N feeds over 50 addresses with validators; the daemon
polls each at `--interval` (N / interval polls a second are due). After the first round (every
feed fetched once with 200), the server's 304 count over `--seconds` gives the rate, and the
daemon's `monitor_poll_lateness_seconds` histogram (read from its /metrics at both ends of
the window: the daemon listens on `--port` + 1, which loads the web stack, ~5 MiB) how late
the polls of the window started: p50 and p99 as the upper bounds of their buckets.
The tree's RSS is sampled every second: its peak, and its growth (the last minute's mean
against the first minute's, extrapolated to an hour).

    .venv/bin/pip install -c constraints.txt -e '.[bench]'
    .venv/bin/python bench/rate.py --feeds 3000 --interval 10s --seconds 30
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import poll  # bench/poll.py: the server and the config writer

TICKS = os.sysconf("SC_CLK_TCK")


def tree(pid: int) -> list[int]:
    """`pid` and its descendants (the parse workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def cpu_seconds(pids: list[int]) -> float:
    """CPU of the tree whose root is `pids[0]`: the root's own and that of its children it
    has reaped (a parse worker stopped when idle), plus the live descendants'."""
    total = 0
    for index, pid in enumerate(pids):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
        if index == 0:
            total += int(fields[13]) + int(fields[14])  # cutime + cstime: reaped children
    return total / TICKS


def rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def lateness(port: int) -> dict[float, float]:
    """The daemon's lateness histogram: cumulative count per bucket upper bound."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    buckets = {}
    for line in text.splitlines():
        if line.startswith("monitor_poll_lateness_seconds_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[float(le)] = float(line.rsplit(" ", 1)[1])
    return buckets


def quantile(before: dict[float, float], after: dict[float, float], q: float) -> str:
    """The bucket bound under which `q` of the window's polls started (from the counts the
    window added)."""
    total = after[float("inf")] - before.get(float("inf"), 0.0)
    if not total:
        return "-"
    for le in sorted(after):
        if after[le] - before.get(le, 0.0) >= q * total:
            return f"≤ {le:g} s" if le != float("inf") else "> the largest bucket"
    return "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeds", type=int, default=3000)
    parser.add_argument("--interval", default="10s", help="each feed's interval")
    parser.add_argument("--seconds", type=float, default=30.0, help="measuring window")
    parser.add_argument("--settle", type=float, default=2.0, help="wait after the first round")
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--port", type=int, default=18110)
    parser.add_argument("--workers-idle", help="[fetch] workers_idle (default: monitor's)")
    args = parser.parse_args()
    server = poll.Server(args.feeds, args.hosts, args.port, False)
    try:
        urls = [poll.feed_url(i, args.hosts, args.port) for i in range(args.feeds)]
        with tempfile.TemporaryDirectory(prefix="monitor-bench-rate-") as tmp:
            config = poll.write_config(Path(tmp), urls, "skip", interval=args.interval)
            with config.open("a", encoding="utf-8") as f:
                f.write(f'\n[http]\nlisten = "127.0.0.1:{args.port + 1}"\n')
                if args.workers_idle:
                    f.write(f'\n[fetch]\nworkers_idle = "{args.workers_idle}"\n')
            server.control(mode="validators", reset="1")
            monitor = str(Path(sys.executable).parent / "monitor")
            started = time.monotonic()
            daemon = subprocess.Popen(
                [monitor, "--config", str(config), "run"],
                cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            try:
                while server.control()["statuses"].get("200", 0) < args.feeds:
                    if daemon.poll() is not None or time.monotonic() - started > 600:
                        raise SystemExit("the first round did not finish")
                    time.sleep(0.5)
                first_round = time.monotonic() - started
                time.sleep(args.settle)  # the first round's stragglers; idle workers stop
                pids = tree(daemon.pid)
                before = server.control()["statuses"].get("304", 0)
                cpu0, t0 = cpu_seconds(pids), time.monotonic()
                late0 = lateness(args.port + 1)
                samples: list[float] = []  # RSS of the tree, once a second
                while time.monotonic() - t0 < args.seconds:
                    time.sleep(1)
                    samples.append(rss_mib(tree(daemon.pid)))
                elapsed = time.monotonic() - t0
                polls = server.control()["statuses"].get("304", 0) - before
                cpu = cpu_seconds(tree(daemon.pid)) - cpu0
                late1 = lateness(args.port + 1)
            finally:
                daemon.terminate()
                daemon.wait(30)
    finally:
        server.close()
    due = args.feeds / poll_seconds(args.interval)
    rate = polls / elapsed
    # Growth: the window's last minute against its first (means, so a parse worker starting
    # or a collection is not read as a trend), extrapolated linearly to an hour.
    edge = max(1, min(60, len(samples) // 4))
    first, last = statistics.mean(samples[:edge]), statistics.mean(samples[-edge:])
    per_hour = (last - first) / max(elapsed - edge, 1) * 3600
    print(
        f"{args.feeds} feeds at {args.interval} ({due:.0f} polls/s due), over "
        f"{args.hosts} loopback hosts; {os.cpu_count()} CPUs\n"
        f"first round (start-up and {args.feeds} × 200): {first_round:.1f} s\n"
        f"304 polls: {rate:.0f}/s over {elapsed:.0f} s ({rate / due:.0%} of what is due); "
        f"CPU {cpu / elapsed:.2f} cores, {cpu / max(polls, 1) * 1000:.2f} ms per poll; "
        f"RSS of the process tree, peak: {max(samples):.0f} MiB; first minute {first:.1f} MiB, "
        f"last minute {last:.1f} MiB ({per_hour:+.1f} MiB per hour if linear)\n"
        f"poll lateness in the window (due → started): p50 {quantile(late0, late1, 0.5)}, "
        f"p99 {quantile(late0, late1, 0.99)}"
    )


def poll_seconds(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return float(text[:-1]) * units[text[-1]]


if __name__ == "__main__":
    main()
