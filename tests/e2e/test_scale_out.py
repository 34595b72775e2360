"""Several `monitor run` processes on one PostgreSQL database (RELIABILITY.md G9, CI size):
every feed polled about once per interval, every new item alerted exactly once per topic,
and the feeds of an instance killed with SIGKILL keep being polled.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import postgres_schema

FEEDS = 300
INTERVAL = 10  # seconds
WATCHLIST = '[[topics]]\nid = "putin"\ntitle = "Putin"\nany = ["普丁"]\n'


class Publisher:
    """300 feeds on loopback; `publish()` adds one new item to a random subset."""

    def __init__(self) -> None:
        self.items: dict[int, list[str]] = {n: [] for n in range(FEEDS)}
        self.requests: Counter[int] = Counter()
        self.lock = threading.Lock()
        self.rng = random.Random(7)
        self.published = 0
        publisher = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                n = int(self.path.rsplit("/", 1)[-1].split(".")[0])
                with publisher.lock:
                    publisher.requests[n] += 1
                    body = publisher.render(n)
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def render(self, n: int) -> bytes:
        items = "".join(
            f"<item><title>{guid}</title><guid>{guid}</guid><link>{self.base}/a/{guid}</link>"
            f"<description>第{guid}號：普丁今天發表談話。</description></item>"
            for guid in reversed(self.items[n])
        )
        return f"<rss version='2.0'><channel><title>f{n}</title>{items}</channel></rss>".encode()

    def publish(self, count: int) -> None:
        with self.lock:
            for n in self.rng.sample(range(FEEDS), count):
                self.items[n].append(f"f{n}-i{len(self.items[n])}")
                self.published += 1


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_schema("monitor_scale") as url:
        yield url


def test_three_instances_share_the_work(tmp_path: Path, pg_url: str) -> None:
    publisher = Publisher()
    publisher.publish(FEEDS)  # one item everywhere: the backlog (alerted: first_poll = "alert")
    feeds = "".join(
        f'[[feeds]]\nid = "f{n}"\nurl = "{publisher.base}/feed/{n}.xml"\n'
        f'interval = "{INTERVAL}s"\nfirst_poll = "alert"\nallow_private_network = true\n\n'
        for n in range(FEEDS)
    )
    (tmp_path / "watchlist.toml").write_text(WATCHLIST, encoding="utf-8")
    (tmp_path / "monitor.toml").write_text(
        'watchlist = "watchlist.toml"\nlog_level = "warning"\n\n'
        "[fetch]\nworkers = 1  # three instances on two cores: parse in-process\n\n"
        '[[notifiers]]\nname = "sink"\ntype = "jsonl"\npath = "alerts.jsonl"\n\n' + feeds,
        encoding="utf-8",
    )
    env = {**os.environ, "MONITOR_DATABASE_URL": pg_url}
    subprocess.run([sys.executable, "-m", "monitor", "--config", str(tmp_path / "monitor.toml"),
                    "db", "upgrade"], env=env, check=True, capture_output=True)  # fmt: skip

    def start(name: str) -> subprocess.Popen[bytes]:
        with (tmp_path / f"{name}.log").open("wb") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "monitor", "--config", str(tmp_path / "monitor.toml"),
                 "--instance", name, "run"],
                env=env, stdout=subprocess.DEVNULL, stderr=log,
            )  # fmt: skip

    processes = {name: start(name) for name in ("a", "b", "c")}
    started = time.monotonic()
    try:
        for round_ in range(4):
            time.sleep(5)
            publisher.publish(40)
            if round_ == 1:
                processes["c"].send_signal(signal.SIGKILL)  # mid-run, holding leases
                processes["c"].wait()
        sink = tmp_path / "alerts.jsonl"

        def delivered() -> list[str]:
            if not sink.exists():
                return []
            return [json.loads(line)["id"] for line in sink.read_text().splitlines()]

        deadline = time.monotonic() + 120
        while len(set(delivered())) < publisher.published and time.monotonic() < deadline:
            time.sleep(0.5)
        elapsed = time.monotonic() - started
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        for process in processes.values():
            process.wait(timeout=60)
        publisher.server.shutdown()
        publisher.server.server_close()

    ids = delivered()
    engine = sa.create_engine(pg_url)
    with engine.connect() as c:
        alerts = c.execute(sa.text("SELECT count(*) FROM alerts")).scalar_one()
        articles = c.execute(sa.text("SELECT count(*) FROM articles")).scalar_one()
    engine.dispose()
    assert articles == publisher.published == alerts  # one alert per item, none twice
    assert len(set(ids)) == publisher.published  # every alert reached the sink
    assert len(ids) - len(set(ids)) <= 5  # repeats only from the killed instance, same id
    polls = publisher.requests
    most = max(polls.values())
    assert min(polls[n] for n in range(FEEDS)) >= 2  # killed instance's feeds kept going
    assert most <= elapsed / INTERVAL + 2, (most, elapsed)  # never polled twice per interval
    for name in ("a", "b"):
        assert processes[name].returncode == 0, (tmp_path / f"{name}.log").read_text()[-2000:]
    print(f"published={publisher.published} polls={sum(polls.values())} max_per_feed={most} "
          f"elapsed={elapsed:.1f}s repeats={len(ids) - len(set(ids))}")  # fmt: skip
    shutil.rmtree(tmp_path, ignore_errors=True)
