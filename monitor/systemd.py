"""sd_notify(3) in a few lines of stdlib: readiness, status, reload, stop, a health-gated watchdog.

A no-op outside systemd (no $NOTIFY_SOCKET); a failed send is logged once at debug level and
never raised. Imports nothing of monitor: the daemon decides when each message is true.

Where the daemon (monitor/daemon.py) calls each method
-------------------------------------------------------
notifier = SystemdNotifier()
    Once, in the main process, before anything else (it reads the environment). Every call
    below must come from the main process (the unit says NotifyAccess=main); threads are fine.
notifier.extend_timeout(seconds)
    Optional, before a start-up step that may outlast TimeoutStartSec= (a long migration).
notifier.ready(status=…)
    Once at start, only after: the config and watchlist are validated, the database is open,
    migrations are applied, the scheduler runs its jobs, and the signal handlers are in place.
    systemd starts units ordered After=monitor.service at this moment, and `systemctl start`
    returns. Never call it "early" to speed up start.
notifier.status(text)
    After each poll pass or delivery tick that changes the figures, one line of counts, shown
    by `systemctl status monitor`: "folders=2 feeds=14 pending=3 dead=0 last_poll=16:48:47Z".
notifier.reloading() … notifier.ready(status=…)
    Around a reload. The SIGHUP handler (from ExecReload=kill -HUP $MAINPID) only enqueues; the
    job that handles it sends reloading() first, then validates and swaps the config, then
    ready() whether the new config was applied or rejected (the old one keeps running; say
    which in status=). READY=1 is what ends the reload in systemd ≥ 253.
notifier.stopping()
    The SIGTERM/SIGINT handler only sets the stop flag; the loop's shutdown path sends
    stopping() first, then stops polling and finishes or abandons sends within its
    shutdown_timeout (20 s, inside the unit's TimeoutStopSec=30s).
gate = WatchdogGate(notifier)
    If gate.interval is not None (WatchdogSec= is set for this process):
    - gate.progress() on every tick of the scheduler / event loop;
    - a job every gate.interval seconds: ping the database (SELECT 1); on success
      gate.db_ok(); then gate.maybe_ping(). Do not call notifier.watchdog() directly: a loop
      that is wedged, or a database that stopped answering, must stop the pings so that
      systemd restarts the service after WatchdogSec= (RELIABILITY.md SD-3).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


class SystemdNotifier:
    """Sends sd_notify datagrams to $NOTIFY_SOCKET (a path, or `@name` for an abstract socket)."""

    def __init__(self, environ: Mapping[str, str] | None = None, pid: int | None = None) -> None:
        env = os.environ if environ is None else environ
        self.pid = os.getpid() if pid is None else pid
        self.address = _socket_address(env.get("NOTIFY_SOCKET", ""))
        self._watchdog_usec = _watchdog_usec(env, self.pid)
        self._failed = False

    @property
    def enabled(self) -> bool:
        """True when running under systemd with a usable notification socket."""
        return self.address is not None

    def notify(self, *fields: str) -> bool:
        """Send `fields` ("KEY=value") in one datagram; True if it was handed to the socket."""
        if self.address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto("\n".join(fields).encode("utf-8"), self.address)
        except OSError:
            # Once: a missing socket fails every call, and the watchdog calls often.
            if not self._failed:
                self._failed = True
                log.debug("sd_notify failed socket=%r", self.address, exc_info=True)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1", *([_status(status)] if status is not None else []))

    def status(self, text: str) -> bool:
        return self.notify(_status(text))

    def reloading(self) -> bool:
        # systemd ≥ 253 compares this timestamp with the time of the reload request, to tell a
        # reload started for it from an older one (sd_notify(3), MONOTONIC_USEC=); older
        # versions ignore the field.
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for `seconds` more before the start (or stop) timeout fires."""
        return self.notify(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")

    def watchdog_interval(self) -> float | None:
        """Seconds between watchdog pings: half of WatchdogSec= as sd_watchdog_enabled(3)
        advises; None without a watchdog, or when WATCHDOG_PID names another process."""
        if self._watchdog_usec is None or self.address is None:
            return None
        return self._watchdog_usec / 2 / 1_000_000


class WatchdogGate:
    """WATCHDOG=1 only while the daemon is healthy: its loop ticked and a database ping
    succeeded since the last ping. A wedged loop or a dead database stops the pings, and
    systemd restarts the service after WatchdogSec= (Miniflux pings only after store.Ping())."""

    def __init__(self, notifier: SystemdNotifier) -> None:
        self.notifier = notifier
        self.interval = notifier.watchdog_interval()
        self._lock = threading.Lock()
        self._progress = False
        self._db_ok = False
        self._withheld = False

    def progress(self) -> None:
        """The event loop / scheduler made a tick."""
        with self._lock:
            self._progress = True

    def db_ok(self) -> None:
        """A database ping succeeded."""
        with self._lock:
            self._db_ok = True

    def maybe_ping(self) -> bool:
        """Send WATCHDOG=1 if both happened since the last ping, then start over; True if sent."""
        with self._lock:
            progress, db_ok = self._progress, self._db_ok
            self._progress = self._db_ok = False
            healthy = progress and db_ok
            first_withheld = not healthy and not self._withheld
            self._withheld = not healthy
        if first_withheld:  # one line per unhealthy streak, not one per interval
            log.warning("watchdog ping withheld progress=%s db_ok=%s", progress, db_ok)
        if not healthy:
            return False
        return self.notifier.watchdog()


def _socket_address(value: str) -> str | None:
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]  # Linux abstract namespace
    if value.startswith("/"):
        return value
    if value:  # e.g. vsock:… (systemd ≥ 254 in VMs): not used by a service on the host
        log.debug("sd_notify disabled: unsupported NOTIFY_SOCKET=%r", value)
    return None


def _watchdog_usec(env: Mapping[str, str], pid: int) -> int | None:
    watchdog_pid = env.get("WATCHDOG_PID")
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
        if watchdog_pid is not None and int(watchdog_pid) != pid:
            return None  # meant for another process (we were forked or exec'd by the main one)
    except ValueError:
        return None
    return usec if usec > 0 else None


def _status(text: str) -> str:
    # One line: a newline would start a new field (a STATUS text could otherwise send READY=1).
    return "STATUS=" + " ".join(text.split())
