"""The apprise notifier against a real loopback HTTP server (Apprise's json:// and form://)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

from monitor.errors import NotifyError
from monitor.notifiers.apprise import AppriseNotifier
from tests.notifiers.conftest import NOW, free_port, make_delivery


class Server:
    def __init__(self) -> None:
        self.bodies: list[tuple[str, bytes]] = []
        self.status = 200
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                server.bodies.append((self.headers["Content-Type"], body))
                self.send_response(server.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.port = self.httpd.server_address[1]


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    thread = threading.Thread(target=s.httpd.serve_forever, daemon=True)
    thread.start()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def test_json_and_form_urls_receive_title_and_body(server: Server) -> None:
    urls = [f"json://127.0.0.1:{server.port}/j", f"form://127.0.0.1:{server.port}/f"]
    delivery = make_delivery(title="普丁訪問北韓")
    AppriseNotifier("chat", urls=urls).send([delivery], NOW)
    assert len(server.bodies) == 2
    by_type = {ctype.split(";")[0]: body for ctype, body in server.bodies}
    payload = json.loads(by_type["application/json"])
    assert payload["title"] == "[monitor] Putin: 普丁訪問北韓"
    assert delivery.alert.id in payload["message"]
    form = parse_qs(by_type["application/x-www-form-urlencoded"].decode())
    assert form["title"] == ["[monitor] Putin: 普丁訪問北韓"]


def test_failure_is_a_transient_notify_error_without_retries(server: Server) -> None:
    server.status = 500
    notifier = AppriseNotifier("chat", urls=[f"json://127.0.0.1:{server.port}/j?retry=3"])
    with pytest.raises(NotifyError, match="apprise reported a failure") as caught:
        notifier.send([make_delivery()], NOW)
    assert not caught.value.permanent
    assert len(server.bodies) == 1  # Apprise's own retries are off


def test_bad_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError, match=r"^urls: entry 2 \(foo://…\)") as caught:
        AppriseNotifier("chat", urls=["json://127.0.0.1/x", "foo://token-abc"])
    assert "token-abc" not in str(caught.value)


def test_missing_library_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "apprise", None)  # import apprise -> ImportError
    with pytest.raises(ValueError, match=r"pip install 'monitor\[apprise\]'"):
        AppriseNotifier("chat", urls=["json://127.0.0.1/x"])
