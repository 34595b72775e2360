"""Loopback HTTP servers for hostile-input tests: a route table of canned or misbehaving
responses, and an out-of-band listener that only counts hits (XXE/DTD targets must get none).

Responses are close-delimited (HTTP/1.0 style) unless a route sets Content-Length itself, so a
route can trickle, lie about its size or stream forever; every route stops after `max_seconds`
or when the client goes away, so a test never waits on a handler thread.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass
class Route:
    """What one path answers: status, headers, and the body as an iterable of chunks with an
    optional pause before each (`delay`)."""

    body: bytes | Callable[[], Iterable[bytes]] = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # pause before each chunk
    header_delay: float = 0.0  # pause before the status line
    max_seconds: float = 15.0


class HostileServer:
    """A threaded HTTP server on 127.0.0.1; `routes[path] = Route(...)`; counts hits per path."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: dict[str, int] = {}
        self.headers: list[dict[str, str]] = []  # request headers, in order of arrival
        self.lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                with server.lock:
                    server.hits[path] = server.hits.get(path, 0) + 1
                    server.headers.append(dict(self.headers.items()))
                route = server.routes.get(path, Route(b"not found", status=404))
                started = time.monotonic()
                try:
                    if route.header_delay:
                        time.sleep(route.header_delay)
                    self.send_response(route.status)
                    for name, value in route.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    chunks = route.body() if callable(route.body) else [route.body]
                    for chunk in chunks:
                        if time.monotonic() - started > route.max_seconds:
                            break
                        if route.delay:
                            time.sleep(route.delay)
                        self.wfile.write(chunk)
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return self.base + path

    def total_hits(self) -> int:
        with self.lock:
            return sum(self.hits.values())

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
