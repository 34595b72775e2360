"""The HTTP `Retry-After` header (RFC 9110 §10.2.3), read the same way for feeds and webhooks.

Pure: the header value and `now` in, a delay out. Used by both sources and notifiers, so it
lives below them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Delay-seconds or an HTTP date, as a delay from `now`; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(when - now, timedelta(0))
