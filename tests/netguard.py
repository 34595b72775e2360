"""No test may open an INET socket to anything but loopback (RELIABILITY.md T-1).

`install()` patches `socket.socket.connect`, `connect_ex`, `sendto` and `sendmsg` (AF_INET and
AF_INET6 only: unix sockets pass), plus `socket.getaddrinfo`, `gethostbyname(_ex)` and
`create_connection` for host names other than `localhost` (a numeric host never touches DNS;
the connect guard decides on its address). A refused attempt raises `NetGuardError` and is
recorded in `violations`; the autouse fixture in conftest fails the test that made it.

Subprocesses started by tests (the daemon) get the same guard through
`tests/netguard_site/sitecustomize.py` on `PYTHONPATH`; they record violations in the file
named by `$MONITOR_TEST_NETGUARD_LOG`, which the fixture checks too.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any

ENV_LOG = "MONITOR_TEST_NETGUARD_LOG"
violations: list[str] = []
_installed = False
_log_to_file = False
_real = {
    "connect": socket.socket.connect,
    "connect_ex": socket.socket.connect_ex,
    "sendto": socket.socket.sendto,
    "sendmsg": socket.socket.sendmsg,
    "getaddrinfo": socket.getaddrinfo,
    "gethostbyname": socket.gethostbyname,
    "gethostbyname_ex": socket.gethostbyname_ex,
    "create_connection": socket.create_connection,
}


class NetGuardError(ConnectionRefusedError):
    """A test tried to reach a non-loopback address."""


def is_loopback_host(host: Any) -> bool:
    """True for loopback literals (127/8, ::1, ::ffff:127.x) and the name localhost."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").split("%")[0].rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _refuse(what: str) -> NetGuardError:
    message = f"netguard: non-loopback network access refused: {what}"
    violations.append(message)
    path = os.environ.get(ENV_LOG)
    if path and _log_to_file:
        try:
            with open(path, "a", encoding="utf-8") as log:
                log.write(message + "\n")
        except OSError:
            pass
    return NetGuardError(message)


def _check_address(sock: socket.socket, address: Any, call: str) -> None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return  # AF_UNIX and friends stay on this machine
    host = address[0] if isinstance(address, tuple) and address else address
    if not is_loopback_host(host):
        raise _refuse(f"{call}({address!r})")


def _numeric(host: str) -> bool:
    try:
        _real["getaddrinfo"](host, None, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return False
    return True


_OWN_NAME = socket.gethostname().lower()


def _check_name(host: Any, call: str) -> None:
    if host is None:
        return
    text = host.decode("ascii", "replace") if isinstance(host, bytes) else str(host)
    if is_loopback_host(text) or _numeric(text):
        return  # no DNS query: a numeric host is judged by the connect guard
    if text.rstrip(".").lower() == _OWN_NAME:
        return  # smtplib's EHLO name (getfqdn): /etc/hosts; any connect is still checked
    raise _refuse(f"{call}({text!r})")


def install(*, log_to_file: bool = False) -> None:
    """Patch the socket module; `log_to_file`: also append violations to $MONITOR_TEST_NETGUARD_LOG
    (subprocesses, whose exceptions the test cannot see)."""
    global _installed, _log_to_file
    _log_to_file = log_to_file
    if _installed:
        return
    _installed = True

    def connect(self: socket.socket, address: Any) -> None:
        _check_address(self, address, "connect")
        return _real["connect"](self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _check_address(self, address, "connect_ex")
        return _real["connect_ex"](self, address)

    def sendto(self: socket.socket, data: Any, *args: Any) -> int:
        _check_address(self, args[-1], "sendto")
        return _real["sendto"](self, data, *args)

    def sendmsg(self: socket.socket, buffers: Any, *args: Any) -> int:
        if len(args) >= 3 and args[2] is not None:
            _check_address(self, args[2], "sendmsg")
        return _real["sendmsg"](self, buffers, *args)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        flags = kwargs.get("flags", args[4] if len(args) > 4 else 0)
        if not flags & socket.AI_NUMERICHOST:  # numeric-only lookups never query DNS
            _check_name(host, "getaddrinfo")
        return _real["getaddrinfo"](host, *args, **kwargs)

    def gethostbyname(host: str) -> str:
        _check_name(host, "gethostbyname")
        return _real["gethostbyname"](host)

    def gethostbyname_ex(host: str) -> Any:
        _check_name(host, "gethostbyname_ex")
        return _real["gethostbyname_ex"](host)

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        _check_name(address[0], "create_connection")
        return _real["create_connection"](address, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.socket.sendto = sendto  # type: ignore[assignment]
    socket.socket.sendmsg = sendmsg  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo
    socket.gethostbyname = gethostbyname
    socket.gethostbyname_ex = gethostbyname_ex
    socket.create_connection = create_connection  # type: ignore[assignment]
