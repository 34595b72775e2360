"""Instances: each daemon's start, heartbeat and last reload result, for `monitor status`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from monitor.store.base import StoreBase
from monitor.store.schema import instances


class Instances(StoreBase):
    def record_instance(
        self,
        name: str,
        now: datetime,
        *,
        started: bool = False,
        reload_result: str | None = None,
    ) -> None:
        """A daemon's heartbeat (and start, and last reload result) for `monitor status`."""
        values: dict[str, Any] = {"heartbeat_at": now}
        if started:
            values.update(started_at=now, reload_at=None, reload_result=None)
        if reload_result is not None:
            values.update(reload_at=now, reload_result=reload_result)
        statement = self._insert(instances).values({"name": name, "started_at": now, **values})
        statement = statement.on_conflict_do_update(index_elements=["name"], set_=values)
        with self._transaction() as connection:
            connection.execute(statement)

    def list_instances(self) -> list[dict[str, Any]]:
        with self._reading() as connection:
            rows = connection.execute(sa.select(instances).order_by(instances.c.name))
            return [dict(row._mapping) for row in rows]
