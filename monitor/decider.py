"""What a finished poll means for its source: the next poll time, backoff, holds, disabling,
and the operator notice to queue. Pure: values in, a decision out; no store, no clock.

In the manner of reader's update decider: the lifecycle (`monitor.polling`) records what this
module decides, so every source type, built-in or plugin, gets the same schedule and health.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor.models import Notice, Outcome, Poll, SourceHealth
from monitor.notifiers.payload import iso_utc

# ±10 % on a successful poll, so sources added together drift apart instead of polling in
# lockstep; ±20 % on a backoff, so sources failing together do not retry together.
SUCCESS_SPREAD = 0.1
BACKOFF_SPREAD = 0.2


@dataclass(frozen=True)
class Schedule:
    """A source's lifecycle settings that the decisions depend on."""

    interval: timedelta
    max_backoff: timedelta
    broken_after: timedelta


@dataclass(frozen=True)
class PollDecision:
    next_poll_at: datetime
    error: str | None = None  # None: the poll succeeded (OK or NOT_MODIFIED)
    hold_until: datetime | None = None  # Retry-After on 429/503: even `run --once` waits
    disable_reason: str | None = None  # GONE: inactive until `monitor feeds enable`
    notice: Notice | None = None  # source.failing / source.recovered, to queue with the poll


def decide(
    source_id: str,
    target: str | None,
    poll: Poll,
    row: SourceHealth,
    schedule: Schedule,
    now: datetime,
    rng: random.Random,
) -> PollDecision:
    """The decision for one poll of `source_id`, whose row (before this poll) is `row`."""
    interval = schedule.interval.total_seconds()
    error = hold_until = disable = None
    if poll.outcome in (Outcome.OK, Outcome.NOT_MODIFIED):
        delay = interval * rng.uniform(1 - SUCCESS_SPREAD, 1 + SUCCESS_SPREAD)
    else:
        error = poll.reason or poll.outcome.value
        failures = row.consecutive_failures + 1
        cap = max(schedule.max_backoff.total_seconds(), interval)
        delay = min(interval * 2 ** (failures - 1), cap)
        delay *= rng.uniform(1 - BACKOFF_SPREAD, 1 + BACKOFF_SPREAD)
        if poll.outcome is Outcome.GONE:
            disable = poll.reason or "gone"
        elif poll.not_before is not None and poll.status in (429, 503):
            hold_until = poll.not_before
    next_poll = now + timedelta(seconds=delay)
    if poll.not_before is not None and poll.not_before > next_poll:
        next_poll = poll.not_before
    notice = health_notice(
        source_id, target, row, error, gone=disable is not None, schedule=schedule, now=now
    )
    return PollDecision(next_poll, error, hold_until, disable, notice)


def health_notice(
    source_id: str,
    target: str | None,
    row: SourceHealth,
    error: str | None,
    *,
    gone: bool,
    schedule: Schedule,
    now: datetime,
) -> Notice | None:
    """One `source.failing` notice when a source has been failing for `broken_after` (at
    once when it is gone), one `source.recovered` when it works again by itself."""
    since = row.failing_since or now
    data: dict[str, Any]
    if error is not None:
        if row.failing_notified_at is not None or (
            not gone and now - since < schedule.broken_after
        ):
            return None
        event = "source.failing"
        data = {
            "since": iso_utc(since),
            "error": error,
            "consecutive_failures": row.consecutive_failures + 1,
            "disabled": gone,
        }
    elif row.failing_notified_at is not None:
        event = "source.recovered"
        data = {"since": iso_utc(since), "recovered_at": iso_utc(now)}
    else:
        return None
    # The id derives from what the notice is about, so a retried poll queues it once.
    key = f"{source_id}\n{event}\n{data['since']}"
    return Notice(
        id="notice_" + hashlib.sha256(key.encode()).hexdigest()[:32],
        event=event,
        source=source_id,
        created_at=now,
        data={"source": source_id, "url": target, **data},
    )


def alert_window(
    first_poll: str, max_age: timedelta | None, row: SourceHealth, now: datetime
) -> tuple[bool, datetime | None]:
    """(silent, alert_after) for the items of a poll: a new source's backlog is stored, not
    alerted, when `first_poll = "skip"`; items published before `max_age` never alert."""
    silent = first_poll == "skip" and row.last_success_at is None
    return silent, (now - max_age if max_age else None)
