"""Leases: the one claim-by-conditional-UPDATE that deliveries and sources are taken with.

A lease is (owner, expiry) on a row; it is free when unset, expired, or held by an owner known
to be dead. Only the UPDATE that still finds the row free wins, so two owners never share one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor.store.base import StoreBase
from monitor.store.schema import deliveries, sources


def unleased(
    table: sa.Table, now: datetime, dead_owners: Collection[str]
) -> sa.ColumnElement[bool]:
    """Rows nobody holds: no lease, an expired one, or one of a dead owner (takeover)."""
    return sa.or_(
        table.c.lease_until.is_(None),
        table.c.lease_until < now,
        table.c.lease_owner.in_(list(dead_owners)),
    )


def take_leases(
    connection: Connection,
    table: sa.Table,
    candidates: Iterable[Any],
    conditions: Sequence[sa.ColumnElement[bool]],
    *,
    owner: str,
    until: datetime,
) -> list[Any]:
    """Lease each candidate (by `id`) whose row still meets `conditions`; returns those won,
    in their order.

    One conditional UPDATE per row rather than one for all: a row another owner took between
    the caller's SELECT and here is simply skipped, and the rest are still claimed.
    """
    won = []
    for key in candidates:
        rowcount = connection.execute(
            table.update()
            .where(table.c.id == key, *conditions)
            .values(lease_owner=owner, lease_until=until)
        ).rowcount
        if rowcount == 1:
            won.append(key)
    return won


class Leases(StoreBase):
    """Who holds leases now, over both leased tables."""

    def lease_owners(self, now: datetime) -> set[str]:
        """Owners of unexpired leases on deliveries and sources (to spot dead local ones)."""
        with self._transaction() as connection:
            owners = set(
                connection.execute(
                    sa.select(deliveries.c.lease_owner).where(deliveries.c.lease_until >= now)
                ).scalars()
            )
            owners |= set(
                connection.execute(
                    sa.select(sources.c.lease_owner).where(sources.c.lease_until >= now)
                ).scalars()
            )
        return {owner for owner in owners if owner}
