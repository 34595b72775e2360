"""RELIABILITY.md G7 at CI size: 100 watchlist writes (valid in place, invalid, valid by
rename, truncated) while 1,000 files are ingested. No invalid watchlist is ever applied, no
alert is lost or created twice, and the last valid edit is active within 2 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.e2e.test_daemon import wait_for

STABLE = '[[topics]]\nid = "putin"\ntitle = "Putin"\nany = ["普丁"]\n'
VALID_A = STABLE + '\n[[topics]]\nid = "kim"\nany = ["金正恩"]\n'
VALID_B = STABLE + '\n[[topics]]\nid = "pyongyang"\nany = ["平壤"]\n'
INVALID = STABLE + '\n[[topics]]\nid = "broken"\nall = ["flat", "list"]\n'
TRUNCATED = STABLE[: STABLE.index('["普丁"]') + 3]  # inside a string: never valid TOML
FILES, WRITES = 1000, 100


def test_reloads_while_ingesting_lose_nothing(workdir: Path) -> None:
    toml = workdir / "monitor.toml"
    toml.write_text(toml.read_text().replace('path = "inbox"', 'path = "inbox"\ninterval = "1s"'))
    watchlist = workdir / "watchlist.toml"
    watchlist.write_text(VALID_A, encoding="utf-8")
    log_path = workdir / "daemon.log"
    with log_path.open("w") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(toml), "run"],
            stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
    try:
        assert wait_for(lambda: "started" in log_path.read_text())
        dropped = 0
        for write in range(WRITES):
            variant = (VALID_A, INVALID, VALID_B, TRUNCATED)[write % 4]
            if write % 4 == 2:  # atomic rename, as editors save
                staging = workdir / ".watchlist.toml.tmp"
                staging.write_text(variant, encoding="utf-8")
                os.replace(staging, watchlist)
            else:
                watchlist.write_text(variant, encoding="utf-8")
            for _ in range(FILES // WRITES):
                staging = workdir / f".drop-{dropped}.tmp"
                staging.write_text(f"第{dropped}號：普丁今天發表談話。" * 3, encoding="utf-8")
                os.replace(staging, workdir / "inbox" / f"drop-{dropped:04d}.txt")
                dropped += 1
            time.sleep(0.45)  # past the reload debounce (0.3 s of quiet): each write counts
        final = STABLE + '\n[[topics]]\nid = "final"\nany = ["最後"]\n'
        log_size = len(log_path.read_text())
        watchlist.write_text(final, encoding="utf-8")
        changed = time.monotonic()
        assert wait_for(lambda: "reloaded" in log_path.read_text()[log_size:], timeout=10)
        reload_seconds = time.monotonic() - changed
        jsonl = workdir / "var" / "alerts.jsonl"

        def putin_alerts() -> list[dict[str, object]]:
            if not jsonl.exists():
                return []
            alerts = [json.loads(line) for line in jsonl.read_text().splitlines()]
            return [a for a in alerts if a["topic"]["id"] == "putin"]  # type: ignore[index]

        if not wait_for(lambda: len(putin_alerts()) >= FILES, timeout=60):
            got = {a["article"]["location"] for a in putin_alerts()}
            missing = sorted({f"drop-{n:04d}.txt" for n in range(FILES)} - got)
            raise AssertionError(f"{len(missing)} missing, e.g. {missing[:5]}")
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
    log = log_path.read_text()
    alerts = [json.loads(line) for line in jsonl.read_text().splitlines()]
    ids = Counter(a["id"] for a in alerts)
    putin = {a["article"]["location"] for a in alerts if a["topic"]["id"] == "putin"}
    assert putin == {f"drop-{n:04d}.txt" for n in range(FILES)}  # none lost
    assert max(ids.values()) == 1  # none twice
    assert "broken" not in {a["topic"]["id"] for a in alerts}  # no invalid version applied
    rejected = log.count("reload rejected")
    applied = log.count("reloaded")
    assert "watchlist.toml:" in log  # rejections name the file and line
    assert applied >= WRITES // 2 and rejected >= WRITES // 2  # every write was judged
    assert reload_seconds < 2.0, reload_seconds
    assert daemon.returncode == 0
    print(f"writes={WRITES} files={FILES} reloads_logged={log.count('reloaded')} "
          f"rejections_logged={rejected} last_reload={reload_seconds:.2f}s")  # fmt: skip
