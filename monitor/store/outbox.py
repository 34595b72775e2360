"""The outbox: deliveries (claim, send results, retries, dead letters), operator notices
queued through it, and the notifiers disabled because their destination is gone.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from monitor.models import Delivery, DeliveryStatus, Notice
from monitor.store.base import StoreBase
from monitor.store.leases import take_leases, unleased
from monitor.store.rows import NewDelivery, delivery_query, delivery_values, to_delivery
from monitor.store.schema import alerts, deliveries, notices, notifier_state, sources

_PENDING = deliveries.c.status == DeliveryStatus.PENDING.value


@dataclass(frozen=True)
class DisabledNotifier:
    """A notifier whose destination is gone; delivery waits for `monitor notifiers enable`."""

    name: str
    disabled_at: datetime
    reason: str


class Outbox(StoreBase):
    def due_deliveries(
        self,
        now: datetime,
        *,
        include_waiting: bool = False,
        limit: int = 100,
        exclude_notifiers: Sequence[str] = (),
        owner: str | None = None,
        lease: timedelta = timedelta(minutes=10),
        dead_owners: Collection[str] = (),
    ) -> list[Delivery]:
        """Pending deliveries due at `now`; with `include_waiting`, every pending one.

        With `owner`, the deliveries are also claimed: each gets a lease (a conditional
        UPDATE that only one process can win), so instances sharing a database never send
        the same delivery at once; a dead instance's leases expire and others take over.
        """
        free = unleased(deliveries, now, dead_owners)
        query = delivery_query().where(_PENDING, free)
        if exclude_notifiers:
            query = query.where(deliveries.c.notifier.not_in(list(exclude_notifiers)))
        if not include_waiting:
            query = query.where(deliveries.c.next_attempt_at <= now)
        # Oldest first, then in the order articles arrived (seq), so people read alerts in
        # order. Only deliveries' own columns: the index ix_deliveries_due serves the sort,
        # so a large backlog costs a LIMIT, not a join and sort of every pending row.
        query = query.order_by(
            deliveries.c.next_attempt_at, deliveries.c.seq, deliveries.c.id
        ).limit(limit)
        with self._transaction() as connection:
            found = [to_delivery(row) for row in connection.execute(query)]
            if owner is None:
                return found
            won = set(
                take_leases(
                    connection,
                    deliveries,
                    [d.id for d in found],
                    [_PENDING, free],
                    owner=owner,
                    until=now + lease,
                )
            )
            return [d for d in found if d.id in won]

    def release(self, delivery_ids: Collection[str], owner: str) -> None:
        """Give back `owner`'s leases on deliveries it will not send now."""
        if delivery_ids:
            with self._transaction() as connection:
                connection.execute(
                    deliveries.update()
                    .where(deliveries.c.id.in_(list(delivery_ids)))
                    .where(deliveries.c.lease_owner == owner)
                    .values(lease_owner=None, lease_until=None)
                )

    def mark_sent_many(self, delivery_ids: Sequence[str], now: datetime) -> None:
        """Record deliveries as sent, in one transaction."""
        with self._transaction() as connection:
            connection.execute(
                deliveries.update()
                .where(deliveries.c.id.in_(list(delivery_ids)))
                .values(
                    status=DeliveryStatus.SENT.value,
                    attempts=deliveries.c.attempts + 1,
                    last_error=None,
                    updated_at=now,
                    lease_owner=None,
                    lease_until=None,
                )
            )

    def mark_failed(
        self, delivery_id: str, now: datetime, error: str, next_attempt_at: datetime | None
    ) -> None:
        """Record a failed attempt; `next_attempt_at=None` makes the delivery dead."""
        values: dict[str, Any] = {
            "attempts": deliveries.c.attempts + 1,
            "last_error": error[:2000],
            "updated_at": now,
            "lease_owner": None,
            "lease_until": None,
        }
        if next_attempt_at is None:
            values["status"] = DeliveryStatus.DEAD.value
        else:
            values["next_attempt_at"] = next_attempt_at
        with self._transaction() as connection:
            connection.execute(
                deliveries.update().where(deliveries.c.id == delivery_id).values(**values)
            )

    def postpone(self, delivery_ids: Sequence[str], until: datetime, now: datetime) -> None:
        """Move pending deliveries to `until` without counting an attempt (digest periods)."""
        if not delivery_ids:
            return
        with self._transaction() as connection:
            connection.execute(
                deliveries.update()
                .where(deliveries.c.id.in_(list(delivery_ids)))
                .where(_PENDING)
                .values(next_attempt_at=until, updated_at=now, lease_owner=None, lease_until=None)
            )

    def list_deliveries(
        self, statuses: Sequence[DeliveryStatus], *, limit: int = 1000
    ) -> list[Delivery]:
        """Deliveries in `statuses`, oldest first (`monitor alerts list`)."""
        query = (
            delivery_query()
            .where(deliveries.c.status.in_([s.value for s in statuses]))
            .order_by(alerts.c.created_at, deliveries.c.id)
            .limit(limit)
        )
        with self._reading() as connection:
            return [to_delivery(row) for row in connection.execute(query)]

    def requeue(
        self, now: datetime, *, ids: Sequence[str] = (), all_dead: bool = False
    ) -> list[str]:
        """Dead deliveries back to pending, due `now`, attempts kept; returns their ids.

        `ids` may name deliveries (`msg_…`) or alerts (`alert_…`: all their dead deliveries).
        """
        dead = deliveries.c.status == DeliveryStatus.DEAD.value
        if all_dead:
            condition = dead
        else:
            wanted = list(ids)
            condition = dead & (deliveries.c.id.in_(wanted) | deliveries.c.alert_id.in_(wanted))
        with self._transaction() as connection:
            found = [
                row.id for row in connection.execute(sa.select(deliveries.c.id).where(condition))
            ]
            if found:
                connection.execute(
                    deliveries.update()
                    .where(deliveries.c.id.in_(found))
                    .values(
                        status=DeliveryStatus.PENDING.value, next_attempt_at=now, updated_at=now
                    )
                )
        return found

    def add_notice(
        self,
        notice: Notice,
        new_deliveries: Sequence[NewDelivery],
        now: datetime,
        *,
        failing: bool,
    ) -> bool:
        """Queue an operator notice (deliveries whose `alert_id` is the notice id) and mark
        the source as notified (or not), in one transaction; False if it already exists."""
        with self._transaction() as connection:
            inserted = connection.execute(
                self._insert(notices)
                .values(
                    id=notice.id,
                    event=notice.event,
                    source=notice.source,
                    created_at=notice.created_at,
                    data=dict(notice.data),
                )
                .on_conflict_do_nothing(index_elements=["id"])
                .returning(notices.c.id)
            ).first()
            connection.execute(
                sources.update()
                .where(sources.c.id == notice.source)
                .values(failing_notified_at=now if failing else None)
            )
            if inserted is None:
                return False
            if new_deliveries:
                connection.execute(
                    self._insert(deliveries).on_conflict_do_nothing(),
                    [
                        {**delivery_values(d, now), "alert_id": None, "notice_id": notice.id}
                        for d in new_deliveries
                    ],
                )
            return True

    def delivery_counts(self) -> dict[str, int]:
        """Deliveries by status, for `status` output and tests."""
        query = sa.select(deliveries.c.status, sa.func.count()).group_by(deliveries.c.status)
        with self._reading() as connection:
            return {status: count for status, count in connection.execute(query)}

    def queue_summary(self, now: datetime) -> dict[str, int]:
        """For `monitor status` and the dashboard: pending, failing (pending after a failure),
        dead, sent in 24 h. Four counts, each over a range of the covering index
        `ix_deliveries_status_updated` (status, updated_at, attempts): one pass with FILTERs
        would read every delivery ever sent."""
        d = deliveries.c

        def count(*where: sa.ColumnElement[bool]) -> sa.ScalarSelect[int]:
            counted = sa.select(sa.func.count()).select_from(deliveries)
            return counted.where(*where).scalar_subquery()

        is_pending = d.status == DeliveryStatus.PENDING.value
        query = sa.select(
            count(is_pending),
            count(is_pending, d.attempts > 0),
            count(d.status == DeliveryStatus.DEAD.value),
            count(d.status == DeliveryStatus.SENT.value, d.updated_at >= now - timedelta(days=1)),
        )
        with self._reading() as connection:
            pending, failing, dead, sent = connection.execute(query).one()
        return {"pending": pending, "failing": failing, "dead": dead, "sent_24h": sent}

    # --- notifier state -----------------------------------------------------------------

    def disable_notifier(self, name: str, now: datetime, reason: str) -> None:
        statement = self._insert(notifier_state).values(
            name=name, disabled_at=now, reason=reason[:2000]
        )
        statement = statement.on_conflict_do_nothing(index_elements=["name"])
        with self._transaction() as connection:
            connection.execute(statement)

    def enable_notifier(self, name: str) -> bool:
        """Re-enable a disabled notifier; False if it was not disabled."""
        with self._transaction() as connection:
            result = connection.execute(
                notifier_state.delete().where(notifier_state.c.name == name)
            )
        return bool(result.rowcount)

    def disabled_notifiers(self) -> dict[str, DisabledNotifier]:
        with self._reading() as connection:
            rows = connection.execute(sa.select(notifier_state)).all()
        return {r.name: DisabledNotifier(r.name, r.disabled_at, r.reason) for r in rows}
