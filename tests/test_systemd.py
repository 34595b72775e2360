"""monitor.systemd against a real AF_UNIX datagram socket standing in for systemd's $NOTIFY_SOCKET."""

from __future__ import annotations

import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from monitor.systemd import SystemdNotifier, WatchdogGate


@dataclass
class Listener:
    """The receiving end: what systemd would read from its notification socket."""

    sock: socket.socket
    env_value: str  # what NOTIFY_SOCKET holds

    def received(self) -> list[bytes]:
        # sendto() on a local datagram socket queues the datagram before it returns, so a
        # non-blocking read sees everything that was sent: no sleeps, no timeouts.
        datagrams = []
        while True:
            try:
                datagrams.append(self.sock.recv(4096))
            except BlockingIOError:
                return datagrams


@pytest.fixture(params=["path", "abstract"])
def listener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Listener]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if request.param == "path":
        path = tmp_path / "notify"  # sun_path holds 108 bytes; pytest's tmp paths fit
        sock.bind(str(path))
        env_value = str(path)
    else:
        name = f"monitor-test-{uuid.uuid4().hex}"
        sock.bind("\0" + name)
        env_value = "@" + name
    sock.setblocking(False)
    with sock:
        yield Listener(sock, env_value)


def notifier_for(listener: Listener, **env: str) -> SystemdNotifier:
    return SystemdNotifier({"NOTIFY_SOCKET": listener.env_value, **env})


def test_ready_sends_exactly_ready(listener: Listener) -> None:
    assert notifier_for(listener).ready() is True
    assert listener.received() == [b"READY=1"]


def test_ready_with_status_is_one_datagram(listener: Listener) -> None:
    notifier_for(listener).ready(status="folders=1 notifiers=2 topics=17")
    assert listener.received() == [b"READY=1\nSTATUS=folders=1 notifiers=2 topics=17"]


def test_status_stopping_watchdog_extend_timeout(listener: Listener) -> None:
    notifier = notifier_for(listener)
    notifier.status("pending=3 dead=0")
    notifier.stopping()
    notifier.watchdog()
    notifier.extend_timeout(1.5)
    assert listener.received() == [
        b"STATUS=pending=3 dead=0",
        b"STOPPING=1",
        b"WATCHDOG=1",
        b"EXTEND_TIMEOUT_USEC=1500000",
    ]


def test_status_is_one_line_so_it_cannot_inject_fields(listener: Listener) -> None:
    notifier_for(listener).status("reload failed: bad.toml\nREADY=1\r\n  x")
    assert listener.received() == [b"STATUS=reload failed: bad.toml READY=1 x"]


def test_status_is_utf8(listener: Listener) -> None:
    notifier_for(listener).status("topic=普京")
    assert listener.received() == ["STATUS=topic=普京".encode()]


def test_reloading_carries_the_monotonic_clock(listener: Listener) -> None:
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier_for(listener).reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    [datagram] = listener.received()
    found = re.fullmatch(rb"RELOADING=1\nMONOTONIC_USEC=(\d+)", datagram)
    assert found, datagram
    assert before <= int(found.group(1)) <= after


def test_reads_os_environ_by_default(listener: Listener, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", listener.env_value)
    SystemdNotifier().ready()
    assert listener.received() == [b"READY=1"]


def test_no_op_without_notify_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_socket(*args: object) -> None:
        raise AssertionError("opened a socket outside systemd")

    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setattr(socket, "socket", no_socket)
    notifier = SystemdNotifier()
    assert notifier.enabled is False
    results = [notifier.ready(), notifier.status("x"), notifier.reloading(), notifier.stopping()]
    assert results == [False, False, False, False]
    assert notifier.watchdog() is False
    assert notifier.watchdog_interval() is None


@pytest.mark.parametrize("value", ["", "@", "relative/notify", "vsock:2:1234"])
def test_unusable_notify_socket_disables(value: str) -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": value, "WATCHDOG_USEC": "30000000"})
    assert notifier.enabled is False
    assert notifier.ready() is False
    assert notifier.watchdog_interval() is None


def test_send_failure_never_raises_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="monitor.systemd")
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert notifier.enabled is True
    assert notifier.ready() is False
    assert notifier.watchdog() is False
    failures = [r for r in caplog.records if r.name == "monitor.systemd"]
    assert len(failures) == 1
    assert failures[0].levelno == logging.DEBUG
    assert failures[0].getMessage().startswith("sd_notify failed")


def test_a_socket_that_comes_back_works_again(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(path)})
    assert notifier.watchdog() is False  # not there yet (systemd re-executing, say)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        assert notifier.watchdog() is True
        assert sock.recv(64) == b"WATCHDOG=1"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid())}, 0.5),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "not-a-pid"}, None),
        ({}, None),
        ({"WATCHDOG_USEC": ""}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({"WATCHDOG_USEC": "30s"}, None),
    ],
)
def test_watchdog_interval(listener: Listener, env: dict[str, str], expected: float | None) -> None:
    assert notifier_for(listener, **env).watchdog_interval() == expected


def test_watchdog_pid_is_compared_with_the_given_pid(listener: Listener) -> None:
    env = {"NOTIFY_SOCKET": listener.env_value, "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "42"}
    assert SystemdNotifier(env, pid=42).watchdog_interval() == 2.0
    assert SystemdNotifier(env, pid=43).watchdog_interval() is None


def gate_for(listener: Listener) -> WatchdogGate:
    return WatchdogGate(notifier_for(listener, WATCHDOG_USEC="30000000"))


def test_gate_interval_is_the_notifiers(listener: Listener) -> None:
    assert gate_for(listener).interval == 15.0
    assert WatchdogGate(notifier_for(listener)).interval is None


def test_gate_pings_only_after_progress_and_db_ok(listener: Listener) -> None:
    gate = gate_for(listener)
    assert gate.maybe_ping() is False
    gate.progress()
    assert gate.maybe_ping() is False
    gate.db_ok()
    assert gate.maybe_ping() is False
    assert listener.received() == []

    gate.progress()
    gate.db_ok()
    assert gate.maybe_ping() is True
    assert listener.received() == [b"WATCHDOG=1"]


def test_gate_needs_both_again_after_each_ping(listener: Listener) -> None:
    gate = gate_for(listener)
    gate.db_ok()
    gate.progress()
    gate.progress()
    assert gate.maybe_ping() is True
    assert gate.maybe_ping() is False  # the old progress does not count twice
    gate.db_ok()
    assert gate.maybe_ping() is False
    assert listener.received() == [b"WATCHDOG=1"]


def test_a_wedged_loop_stops_the_pings(listener: Listener) -> None:
    gate = gate_for(listener)
    for _ in range(3):  # healthy: the loop ticks, the database answers
        gate.progress()
        gate.db_ok()
        gate.maybe_ping()
    for _ in range(3):  # the loop hangs, the database-ping job still runs
        gate.db_ok()
        gate.maybe_ping()
    assert listener.received() == [b"WATCHDOG=1"] * 3


def test_a_dead_database_stops_the_pings(listener: Listener) -> None:
    gate = gate_for(listener)
    for _ in range(3):
        gate.progress()
        assert gate.maybe_ping() is False
    assert listener.received() == []


def test_gate_logs_once_per_unhealthy_streak(
    listener: Listener, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="monitor.systemd")
    gate = gate_for(listener)
    gate.progress()
    gate.maybe_ping()
    gate.maybe_ping()
    gate.progress()
    gate.db_ok()
    gate.maybe_ping()  # healthy again
    gate.maybe_ping()
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "watchdog ping withheld progress=True db_ok=False",
        "watchdog ping withheld progress=False db_ok=False",
    ]
