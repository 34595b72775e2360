"""Lease owner names, and which owners on this host are dead processes.

Leases carry `host:pid`. A process killed on this host (kill -9, OOM, power cut of a
container) leaves leases behind; instead of waiting for them to expire, a process on the same
host sees the pid is gone and takes the work over at once. Leases of other hosts still wait
for expiry (their liveness cannot be checked from here).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def dead_local_owners(owners: Iterable[str], host: str | None = None) -> set[str]:
    """The `host:pid` owners among `owners` whose process no longer exists on this host."""
    host = host or socket.gethostname()
    dead = set()
    for owner in owners:
        name, _, pid = owner.rpartition(":")
        if name != host or not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            dead.add(owner)
        except PermissionError:
            pass  # alive, another user's
    return dead
