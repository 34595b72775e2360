"""Crash safety of delivery: `monitor run --once` killed with SIGKILL while it posts to a slow
webhook receiver, then rerun. No delivery id is lost; a repeat carries the same id (DL-1, DL-3).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.models import DeliveryStatus
from monitor.store import Store
from tests.notifiers.test_webhook import SECRET, Receiver, check

DELAY = 0.15  # seconds the receiver takes per request


@pytest.fixture
def slow_receiver() -> Iterator[Receiver]:
    """The webhook tests' receiver, taking DELAY per request: it applies, then answers."""
    r = Receiver(delay=DELAY)
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


def test_kill_9_during_delivery_loses_nothing(
    workdir: Path, slow_receiver: Receiver, copy_seeds: Callable[[Path], list[Path]]
) -> None:
    copy_seeds(workdir / "inbox")
    config = workdir / "monitor.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            'type = "jsonl"\npath = "var/alerts.jsonl"',
            f'type = "webhook"\nurl = "{slow_receiver.url}"\nsecret = {{ env = "HOOK_SECRET" }}',
        ),
        encoding="utf-8",
    )
    env = {**os.environ, "HOOK_SECRET": SECRET}
    command = [sys.executable, "-m", "monitor", "--config", str(config), "run", "--once"]
    kills = 0
    for kill_after in (2, 5, 8):  # kill -9 after the receiver saw this many requests in all
        process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while len(slow_receiver.requests) < kill_after and process.poll() is None:
            assert time.monotonic() < deadline, "receiver never got the requests"
            time.sleep(0.01)
        if process.poll() is None:
            time.sleep(DELAY / 2)  # mid-request: the receiver applies it, we never hear back
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait(timeout=30)
    final = subprocess.run(command, env=env, stderr=subprocess.PIPE, timeout=60, check=False)
    assert final.returncode == 0, final.stderr.decode()[-2000:]

    settings = load_config(config, env={"HOOK_SECRET": SECRET})
    store = Store.open(settings.database)
    try:
        sent = {d.id for d in store.list_deliveries([DeliveryStatus.SENT])}
        counts = store.delivery_counts()
    finally:
        store.close()
    print(
        f"deliveries={len(sent)} kills={kills} requests={len(slow_receiver.requests)} "
        f"duplicate_transmissions={len(slow_receiver.accepted) - len(sent)}"
    )
    assert kills >= 2 and counts == {"sent": len(sent)} and len(sent) > kill_after
    assert set(slow_receiver.accepted) == sent  # no delivery id lost, none invented
    repeats = {i: n for i, n in Counter(slow_receiver.accepted).items() if n > 1}
    assert sum(n - 1 for n in repeats.values()) <= kills  # duplicates only by re-sending an id
    for request in slow_receiver.requests:
        check(request)
