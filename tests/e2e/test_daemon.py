"""The daemon as a user runs it: a real process, files dropped in, Ctrl-C to stop."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import SEEDS


def wait_for(predicate, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_daemon_alerts_on_new_files_and_stops_on_sigint(workdir: Path) -> None:
    toml = workdir / "monitor.toml"
    toml.write_text(toml.read_text().replace('path = "inbox"', 'path = "inbox"\ninterval = "1s"')
                    + '\n[[notifiers]]\nname = "console"\ntype = "console"\n')  # fmt: skip
    jsonl = workdir / "var" / "alerts.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(toml), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(lambda: (workdir / "var" / "monitor.db").exists())
        shutil.copy(SEEDS / "004_afff801dc2e45540.txt", workdir / "inbox" / "new.txt")
        assert wait_for(lambda: jsonl.exists() and len(jsonl.read_text().splitlines()) >= 4)
        topics = {json.loads(line)["topic"]["id"] for line in jsonl.read_text().splitlines()}
        assert {"putin", "russia-north-korea"} <= topics
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "== Putin [putin]" in out
    assert "stopped" in err
