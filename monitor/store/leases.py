"""Leases: the one claim-by-conditional-UPDATE that deliveries and sources are taken with.

A lease is (owner, expiry) on a row; it is free when unset, expired, or held by an owner known
to be dead. Only the UPDATE that still finds the row free wins, so two owners never share one.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor.store.base import StoreBase
from monitor.store.schema import deliveries, sources


def unleased(
    table: sa.Table, now: Any, dead_owners: Collection[str] | sa.BindParameter[Any]
) -> sa.ColumnElement[bool]:
    """Rows nobody holds: no lease, an expired one, or one of a dead owner (takeover).
    `now` and `dead_owners` may be bind parameters (a statement built once)."""
    dead = dead_owners if isinstance(dead_owners, sa.BindParameter) else list(dead_owners)
    return sa.or_(
        table.c.lease_until.is_(None),
        table.c.lease_until < now,
        table.c.lease_owner.in_(dead),
    )


def take_leases(
    connection: Connection,
    table: sa.Table,
    candidates: Sequence[Any],
    conditions: Sequence[sa.ColumnElement[bool]],
    *,
    owner: str,
    until: datetime,
    columns: Sequence[sa.ColumnElement[Any]] | None = None,
    params: dict[str, Any] | None = None,
) -> list[Any]:
    """Lease the candidates (by `id`) whose rows still meet `conditions`, in ONE statement;
    returns the rows won (`columns`, default the id), in the candidates' order.

    The UPDATE re-checks `conditions` row by row (PostgreSQL re-evaluates them on the newest
    row version after waiting for a concurrent writer; SQLite has one writer at a time), so a
    row another owner took since the caller's SELECT is skipped and the rest are claimed.
    A caller that keeps its `conditions` (with bind parameters, given in `params`) gets the
    statement built once: on the hot path building SQL costs more than running it.
    """
    if not candidates:
        return []
    returned = tuple(columns) if columns is not None else (table.c.id,)
    statement = _lease_update(table, tuple(conditions), returned)
    values = {"lease_candidates": list(candidates), "new_owner": owner, "new_until": until}
    rows = list(connection.execute(statement, {**values, **(params or {})}))
    position = {key: index for index, key in enumerate(candidates)}
    rows.sort(key=lambda row: position[row.id])
    return rows if columns is not None else [row.id for row in rows]


@functools.lru_cache(maxsize=32)
def _lease_update(
    table: sa.Table,
    conditions: tuple[sa.ColumnElement[bool], ...],
    columns: tuple[sa.ColumnElement[Any], ...],
) -> sa.Update:
    return (
        table.update()
        .where(table.c.id.in_(sa.bindparam("lease_candidates", expanding=True)), *conditions)
        .values(lease_owner=sa.bindparam("new_owner"), lease_until=sa.bindparam("new_until"))
        .returning(*columns)
    )


class Leases(StoreBase):
    """Who holds leases now, over both leased tables."""

    def lease_owners(self, now: datetime) -> set[str]:
        """Owners of unexpired leases on deliveries and sources (to spot dead local ones)."""
        with self._reading() as connection:
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
