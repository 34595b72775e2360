"""The suite-wide socket guard (RELIABILITY.md T-1) refuses non-loopback traffic, in this
process and in subprocesses, and lets loopback and unix sockets through."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests import netguard


@pytest.mark.parametrize(
    "address",
    [("192.0.2.1", 80), ("10.0.0.1", 80), ("169.254.169.254", 80), ("8.8.8.8", 53)],
)
def test_inet_connect_to_a_non_loopback_address_is_refused(address: tuple[str, int]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, pytest.raises(OSError):
        sock.connect(address)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock, pytest.raises(OSError):
        sock.sendto(b"x", address)
    assert len(netguard.violations) == 2
    netguard.violations.clear()


def test_ipv6_and_mapped_forms_are_refused() -> None:
    for host in ("2001:db8::1", "::ffff:10.0.0.1", "fe80::1"):
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock, pytest.raises(OSError):
            sock.connect_ex((host, 80, 0, 0))
    assert len(netguard.violations) == 3
    netguard.violations.clear()


def test_dns_names_other_than_localhost_are_refused() -> None:
    for call in (
        lambda: socket.getaddrinfo("example.com", 80),
        lambda: socket.gethostbyname("example.com"),
        lambda: socket.create_connection(("example.com", 80), timeout=1),
    ):
        with pytest.raises(OSError):
            call()
    assert len(netguard.violations) == 3
    netguard.violations.clear()
    assert socket.getaddrinfo("127.0.0.1", 80)  # numeric: no DNS, allowed
    assert socket.getaddrinfo("2130706433", 80)[0][4][0] == "127.0.0.1"
    assert not netguard.violations


def test_loopback_and_unix_sockets_work(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=2):
            pass
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
        receiver.bind(path)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"ok", path)
        assert receiver.recv(10) == b"ok"
    assert not netguard.violations


def test_subprocesses_are_guarded_too() -> None:
    code = (
        "import socket\n"
        "s = socket.socket()\n"
        "try:\n"
        "    s.connect(('192.0.2.1', 80))\n"
        "except OSError as e:\n"
        "    print(type(e).__name__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert out.strip() == "NetGuardError"
    log = Path(os.environ[netguard.ENV_LOG])
    assert "192.0.2.1" in log.read_text(encoding="utf-8")
    log.write_text("", encoding="utf-8")
