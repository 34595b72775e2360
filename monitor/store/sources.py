"""Source rows: the schedule is data. Sync with the config, keep the feeds added to the
database (`monitor feeds add`), claim due sources with a lease, record each poll's state and
health; the decisions (backoff, notices) are made elsewhere.

Each row says where its source is defined (`origin`): "config" rows follow monitor.toml
(`sync_sources`), "database" rows follow `add_database_sources` / `remove_database_source`
and are never touched by a sync. One id is defined in one place only.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from monitor.models import SourceHealth
from monitor.store.base import StoreBase
from monitor.store.leases import take_leases, unleased
from monitor.store.rows import to_source
from monitor.store.schema import sources

CONFIG, DATABASE = "config", "database"  # the values of `sources.origin`
_REMOVED = "removed from config"
REMOVED_FROM_DATABASE = "removed from database"  # `monitor feeds remove`
_REMOVED_REASONS = (_REMOVED, REMOVED_FROM_DATABASE)
# What a source that starts afresh (a new URL for its id) forgets.
_FRESH: dict[str, Any] = {
    "active": True,
    "disabled_reason": None,
    "state": None,
    "hold_until": None,
    "last_result": None,
    "last_success_at": None,
    "last_error_at": None,
    "last_error": None,
    "consecutive_failures": 0,
}


class Sources(StoreBase):
    def sync_sources(
        self, configured: Sequence[tuple[str, str, str, str | None]], now: datetime
    ) -> list[str]:
        """Make the config's rows match the config: (id, kind, url or path, instance or None)
        rows; other config rows become inactive. Database feeds are left as they are.

        A source whose URL changed starts fresh (state and health reset); one that comes
        back to the config is active again, unless it was disabled for another reason (410).
        A changed instance alone is recorded as it is: the state stays valid. A removed
        database feed whose id the config now defines becomes the config's (its state kept
        when the URL is the same).

        Returns the configured ids that are active database feeds (defined in both places):
        then nothing is written, and the caller reports them.
        """
        with self._transaction() as connection:
            existing = {
                row.id: row
                for row in connection.execute(
                    sa.select(
                        sources.c.id,
                        sources.c.url,
                        sources.c.active,
                        sources.c.disabled_reason,
                        sources.c.instance,
                        sources.c.origin,
                    )
                )
            }
            conflicts = [
                source_id
                for source_id, *_ in configured
                if (row := existing.get(source_id)) is not None
                and row.origin == DATABASE
                and row.active
            ]
            if conflicts:
                return conflicts
            for source_id, kind, url, instance in configured:
                row = existing.get(source_id)
                if row is None:
                    connection.execute(
                        self._insert(sources)
                        .values(
                            id=source_id,
                            kind=kind,
                            url=url,
                            instance=instance,
                            active=True,
                            next_poll_at=now,
                            consecutive_failures=0,
                            updated_at=now,
                            origin=CONFIG,
                        )
                        .on_conflict_do_nothing(index_elements=["id"])
                    )
                    continue
                values: dict[str, Any] = {}
                if row.url != url and row.url is not None:
                    values = {
                        **_FRESH,
                        "kind": kind,
                        "url": url,
                        "instance": instance,
                        "next_poll_at": now,
                    }
                elif row.url is None or (
                    not row.active and row.disabled_reason in _REMOVED_REASONS
                ):
                    values = {
                        "kind": kind,
                        "url": url,
                        "instance": instance,
                        "active": True,
                        "disabled_reason": None,
                    }
                elif row.instance != instance:
                    values = {"instance": instance}
                if row.origin != CONFIG:
                    values.update(origin=CONFIG, options=None)
                if values:
                    connection.execute(
                        sources.update()
                        .where(sources.c.id == source_id)
                        .values(**values, updated_at=now)
                    )
            gone = {source_id for source_id, row in existing.items() if row.origin == CONFIG} - {
                source_id for source_id, *_ in configured
            }
            if gone:
                connection.execute(
                    sources.update()
                    .where(sources.c.id.in_(gone), sources.c.active.is_(True))
                    .values(active=False, disabled_reason=_REMOVED, updated_at=now)
                )
        return []

    # --- sources kept in the database (`monitor feeds add` / `remove`) ------------------

    def add_database_sources(
        self, added: Sequence[tuple[str, str, str, Mapping[str, Any]]], now: datetime
    ) -> dict[str, str]:
        """Add or update database sources, (id, kind, url, options) each, in one transaction;
        the caller has checked the options and that no id is the config's.

        Returns what happened to each id: "added" (a new row); "resumed" (a removed source
        of this id and URL is active again with its state, articles and alerts); "updated"
        (already active: new options); "reset" (the id's row was for another URL or type:
        it starts afresh); "disabled" (disabled for another reason, e.g. 410: options
        recorded, it stays disabled until `monitor feeds enable`).
        """
        result: dict[str, str] = {}
        with self._transaction() as connection:
            ids = [source_id for source_id, *_ in added]
            existing = {
                row.id: row
                for row in connection.execute(
                    sa.select(
                        sources.c.id,
                        sources.c.kind,
                        sources.c.url,
                        sources.c.active,
                        sources.c.disabled_reason,
                    ).where(sources.c.id.in_(ids))
                )
            }
            for source_id, kind, url, options in added:
                row = existing.get(source_id)
                values: dict[str, Any] = {
                    "kind": kind,
                    "url": url,
                    "instance": None,
                    "origin": DATABASE,
                    "options": dict(options),
                    "updated_at": now,
                }
                if row is None:
                    connection.execute(
                        self._insert(sources)
                        .values(
                            id=source_id,
                            active=True,
                            next_poll_at=now,
                            consecutive_failures=0,
                            **values,
                        )
                        .on_conflict_do_nothing(index_elements=["id"])
                    )
                    result[source_id] = "added"
                    continue
                if row.url != url or row.kind != kind:
                    values.update(_FRESH, next_poll_at=now)
                    result[source_id] = "reset"
                elif not row.active and row.disabled_reason in _REMOVED_REASONS:
                    values.update(active=True, disabled_reason=None, next_poll_at=now)
                    result[source_id] = "resumed"
                else:
                    result[source_id] = "updated" if row.active else "disabled"
                connection.execute(
                    sources.update().where(sources.c.id == source_id).values(**values)
                )
        return result

    def remove_database_source(self, source_id: str, now: datetime) -> str:
        """Make a database source inactive; its state, articles, alerts and pending
        deliveries stay, and `add_database_sources` with the id resumes it.

        Returns "removed"; "missing" (no such row, or one removed before); or "config"
        (the config defines it: nothing changed).
        """
        with self._transaction() as connection:
            row = connection.execute(
                sa.select(sources.c.origin, sources.c.active, sources.c.disabled_reason).where(
                    sources.c.id == source_id
                )
            ).first()
            if row is None or row.disabled_reason == REMOVED_FROM_DATABASE:
                return "missing"
            if row.origin != DATABASE:
                return "config"
            connection.execute(
                sources.update()
                .where(sources.c.id == source_id)
                .values(active=False, disabled_reason=REMOVED_FROM_DATABASE, updated_at=now)
            )
        return "removed"

    def database_sources(self) -> list[SourceHealth]:
        """The database sources not removed (active, or disabled by a 410 or the like)."""
        with self._transaction() as connection:
            rows = connection.execute(
                sa.select(sources)
                .where(
                    sources.c.origin == DATABASE,
                    sa.or_(
                        sources.c.disabled_reason.is_(None),
                        sources.c.disabled_reason != REMOVED_FROM_DATABASE,
                    ),
                )
                .order_by(sources.c.id)
            )
            return [to_source(row) for row in rows]

    def database_source_ids(self) -> frozenset[str]:
        """The ids of the active database sources; empty before migration 0009 (a config
        check reads them without migrating: no `origin` column means none exist yet)."""
        with self._transaction() as connection:
            inspector = sa.inspect(connection)
            if not inspector.has_table("sources") or "origin" not in {
                column["name"] for column in inspector.get_columns("sources")
            }:
                return frozenset()
            return frozenset(
                connection.execute(
                    sa.select(sources.c.id).where(
                        sources.c.origin == DATABASE, sources.c.active.is_(True)
                    )
                ).scalars()
            )

    def claim_sources(
        self,
        kind: str | None,
        owner: str,
        now: datetime,
        lease: timedelta,
        *,
        limit: int,
        ids: Sequence[str] | None = None,
        ignore_schedule: bool = False,
        dead_owners: Collection[str] = (),
        instance: str | None = None,
    ) -> list[SourceHealth]:
        """Lease due sources for `owner`: one conditional UPDATE, so only one owner wins a row.

        `kind=None` takes sources of every kind, due first. With `instance`, only sources
        bound to that instance or to none (a folder on another host's disk is not ours).
        `ignore_schedule` (`run --once`) takes sources before their next poll time, but never
        an inactive one or one under a Retry-After hold.
        """
        conditions = _claim_conditions(
            kind is not None, instance is not None, not ignore_schedule, ids is not None
        )
        params: dict[str, Any] = {
            "b_now": now, "b_dead": list(dead_owners), "b_kind": kind, "b_instance": instance,
            "b_ids": list(ids or ()),
        }  # fmt: skip
        with self._transaction() as connection:
            candidates = (
                connection.execute(_claim_select(conditions), {**params, "b_limit": limit})
                .scalars()
                .all()
            )
            won = take_leases(
                connection, sources, candidates, conditions, owner=owner,
                until=now + lease, columns=tuple(sources.c), params=params,
            )  # fmt: skip
        return [to_source(row) for row in won]

    def finish_poll(
        self,
        source_id: str,
        owner: str,
        now: datetime,
        *,
        state: Any,
        result: str,
        error: str | None,
        next_poll_at: datetime,
        hold_until: datetime | None = None,
        disable_reason: str | None = None,
    ) -> bool | None:
        """Record a poll of any kind of source and release its lease, in one UPDATE: the new
        state, the result, the error (None: success), the next poll, and the health counters.

        Only the lease holder may: False if `owner` no longer holds the row (its lease expired
        and another owner took it), and nothing is written. A poll that failed as a whole
        passes back the state the claim returned, so the next poll starts from it. Inside a
        group commit's `batch` the UPDATE runs at the batch's end, with the other polls' in
        one executemany (after every article of the batch, as it must), and None is returned.
        """
        params: dict[str, Any] = {
            "v_id": source_id, "v_owner": owner, "v_now": now, "v_state": state,
            "v_result": result, "v_next": next_poll_at, "v_hold": hold_until,
            "v_error": error[:2000] if error is not None else None,
            "v_disabled": disable_reason,
        }  # fmt: skip
        statement = _finish_statement(error is not None, bool(disable_reason))
        if self._at_batch_end(statement, params):
            return None
        with self._transaction() as connection:
            updated = connection.execute(statement, params).rowcount
        return updated == 1

    def enable_source(self, source_id: str, now: datetime) -> bool:
        """Re-enable a source disabled by a 410 (or any reason); False if there is no such row."""
        with self._transaction() as connection:
            return (
                connection.execute(
                    sources.update()
                    .where(sources.c.id == source_id)
                    .values(
                        active=True,
                        disabled_reason=None,
                        next_poll_at=now,
                        hold_until=None,
                        updated_at=now,
                    )
                ).rowcount
                == 1
            )

    def list_sources(self, *, skipped_at: datetime | None = None) -> list[SourceHealth]:
        """Every source, by kind and id; `skipped_at`: only those a poll at that time skips
        (inactive, or under a Retry-After still in force), which `run --once` logs: reading all
        10,000 rows to find none was a twentieth of an all-304 run."""
        query = sa.select(sources).order_by(sources.c.kind, sources.c.id)
        if skipped_at is not None:
            query = query.where(sa.or_(~sources.c.active, sources.c.hold_until > skipped_at))
        with self._reading() as connection:
            return [to_source(row) for row in connection.execute(query)]

    def load_state(self, source: str) -> Any:
        with self._transaction() as connection:
            row = connection.execute(
                sa.select(sources.c.state).where(sources.c.id == source)
            ).first()
        return row.state if row else None


@functools.cache
def _claim_conditions(
    kind: bool, instance: bool, schedule: bool, ids: bool
) -> tuple[sa.ColumnElement[bool], ...]:
    """The claim's WHERE clause, built once per shape with bind parameters (`b_now`, `b_dead`,
    `b_kind`, `b_instance`, `b_ids`): ticks claim every second, and building SQL costs more than
    running it."""
    now = sa.bindparam("b_now", type_=sources.c.next_poll_at.type)
    conditions = [
        sources.c.active.is_(True),
        sa.or_(sources.c.hold_until.is_(None), sources.c.hold_until <= now),
        unleased(sources, now, sa.bindparam("b_dead", expanding=True)),
    ]
    if kind:
        conditions.append(sources.c.kind == sa.bindparam("b_kind"))
    if instance:
        conditions.append(
            sa.or_(sources.c.instance.is_(None), sources.c.instance == sa.bindparam("b_instance"))
        )
    if schedule:
        conditions.append(sources.c.next_poll_at <= now)
    if ids:
        conditions.append(sources.c.id.in_(sa.bindparam("b_ids", expanding=True)))
    return tuple(conditions)


@functools.cache
def _claim_select(conditions: tuple[sa.ColumnElement[bool], ...]) -> sa.Select[Any]:
    return (
        sa.select(sources.c.id)
        .where(*conditions)
        .order_by(sources.c.next_poll_at)
        .limit(sa.bindparam("b_limit"))
    )


@functools.cache
def _finish_statement(failed: bool, disable: bool) -> sa.Update:
    """`finish_poll`'s UPDATE, built once per shape (a poll's hot path)."""

    def param(name: str, column: sa.Column[Any]) -> sa.BindParameter[Any]:
        return sa.bindparam(name, type_=column.type)

    now = param("v_now", sources.c.updated_at)
    values: dict[str, Any] = {
        "state": param("v_state", sources.c.state),
        "last_poll_at": now,
        "last_result": param("v_result", sources.c.last_result),
        "next_poll_at": param("v_next", sources.c.next_poll_at),
        "hold_until": param("v_hold", sources.c.hold_until),
        "lease_owner": None,
        "lease_until": None,
        "updated_at": now,
    }
    if not failed:
        values.update(last_success_at=now, consecutive_failures=0, failing_since=None)
    else:
        values.update(
            last_error_at=now,
            last_error=param("v_error", sources.c.last_error),
            consecutive_failures=sources.c.consecutive_failures + 1,
            failing_since=sa.func.coalesce(sources.c.failing_since, now),
        )
    if disable:
        values.update(active=False, disabled_reason=param("v_disabled", sources.c.disabled_reason))
    return (
        sources.update()
        .where(
            sources.c.id == sa.bindparam("v_id"), sources.c.lease_owner == sa.bindparam("v_owner")
        )
        .values(**values)
    )
