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


class FeedServer:
    """A real HTTP server on loopback serving one RSS feed that tests can add items to."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.items: list[tuple[str, str, str]] = []
        self.requests = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                body = server.render()
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/feed.xml"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def render(self) -> bytes:
        items = "".join(
            f"<item><title>{t}</title><link>{link}</link><guid>{link}</guid>"
            f"<description>{text}</description></item>"
            for t, link, text in self.items
        )
        return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                f"<title>Local</title><link>http://127.0.0.1/</link>{items}</channel></rss>").encode()  # fmt: skip

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_daemon_polls_a_feed_and_alerts_on_a_new_item(workdir: Path) -> None:
    server = FeedServer()
    server.items.append(
        ("舊聞：普丁訪問北韓", "http://127.0.0.1/old", "普丁訪問北韓，與金正恩會談。" * 3)
    )
    toml = workdir / "monitor.toml"
    toml.write_text(
        toml.read_text()
        + f'\n[[feeds]]\nid = "local"\nurl = "{server.url}"\ninterval = "1s"\n'
        + "allow_private_network = true\n"
    )
    jsonl = workdir / "var" / "alerts.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(toml), "run"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert wait_for(lambda: server.requests >= 2)  # backlog polled (stored, not alerted)
        assert not jsonl.exists()
        server.items.insert(0, ("普丁再訪平壤", "http://127.0.0.1/new?utm_source=rss",
                                "俄羅斯總統普丁抵達平壤，金正恩到機場迎接。" * 3))  # fmt: skip
        assert wait_for(lambda: jsonl.exists() and len(jsonl.read_text().splitlines()) >= 2)
        alerts = [json.loads(line) for line in jsonl.read_text().splitlines()]
        assert {a["topic"]["id"] for a in alerts} == {"putin", "russia-north-korea"}
        assert {a["article"]["url"] for a in alerts} == {"http://127.0.0.1/new"}
        assert {a["article"]["source"] for a in alerts} == {"local"}
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=30)
        server.close()
    assert process.returncode == 0, err
    assert "polled source=local type=feed status=200" in err
    assert "stopped" in err


def test_daemon_speaks_sd_notify(workdir: Path, tmp_path: Path) -> None:
    import os
    import socket

    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(20)
    env = {**os.environ, "NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "1000000"}
    toml = workdir / "monitor.toml"
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(toml), "run"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    seen: list[str] = []

    def receive_until(marker: str) -> None:
        while not any(marker in message for message in seen):
            seen.append(sock.recv(4096).decode())

    try:
        receive_until("READY=1")
        ready = next(m for m in seen if "READY=1" in m)
        assert "STATUS=sources=1 pending=0" in ready
        receive_until("WATCHDOG=1")
        process.send_signal(signal.SIGHUP)
        receive_until("RELOADING=1")
        seen.clear()
        receive_until("READY=1")
        process.send_signal(signal.SIGTERM)
        receive_until("STOPPING=1")
    finally:
        try:
            _out, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            _out, err = process.communicate()
        sock.close()
    assert process.returncode == 0, err
    assert "reloaded" in err
