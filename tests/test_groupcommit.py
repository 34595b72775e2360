"""Group commit: writes that arrive together share one transaction, see each other's effects,
and commit whole or not at all (a real SQLite file, and PostgreSQL when configured)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.app import App, make_app
from monitor.config import load_config
from monitor.errors import StoreError
from monitor.groupcommit import GroupCommit
from monitor.models import RawItem
from tests.conftest import Clock

PUTIN = "普丁週二表示，俄羅斯將加強東翼防務。"


@pytest.fixture
def app(workdir: Path, clock: Clock, database_env: dict[str, str]) -> Iterator[App]:
    built = make_app(load_config(workdir / "monitor.toml", env=database_env), now=clock)
    built.start()
    yield built
    built.close()


def item(location: str, text: str, clock: Clock) -> RawItem:
    return RawItem("inbox", location, text.encode(), "text/plain", clock())


def test_writes_that_arrive_together_share_a_transaction_and_see_each_other(
    app: App, clock: Clock
) -> None:
    writer = GroupCommit(app.store)
    copies = [item(f"{n}.txt", PUTIN, clock) for n in range(5)]  # one story, five files

    async def scenario() -> list[object]:
        return list(
            await asyncio.gather(
                *(writer.write(lambda i=i: app.pipeline.ingest_items([i], clock())) for i in copies)
            )
        )

    reports = asyncio.run(scenario())
    assert writer.writes == 5 and writer.batches < 5  # grouped
    assert [r.new for r in reports] == [1, 0, 0, 0, 0]  # insert-if-new saw the batch's first
    assert sum(r.alerts for r in reports) == 1 and app.store.article_count() == 1


def test_a_database_error_rolls_back_the_whole_batch(app: App, clock: Clock) -> None:
    writer = GroupCommit(app.store)

    def fail() -> None:
        raise StoreError("database unavailable: connection refused")

    async def scenario() -> list[object]:
        first = writer.write(
            lambda: app.pipeline.ingest_items([item("a.txt", PUTIN, clock)], clock())
        )
        second = writer.write(fail)
        third = writer.write(
            lambda: app.pipeline.ingest_items([item("b.txt", PUTIN + "又一則。", clock)], clock())
        )
        return list(await asyncio.gather(first, second, third, return_exceptions=True))

    results = asyncio.run(scenario())
    assert writer.batches == 0  # all three were queued together: one batch, rolled back
    assert all(isinstance(r, StoreError) for r in results)
    assert app.store.article_count() == 0  # not even the write before the failure

    async def later() -> object:
        return await writer.write(
            lambda: app.pipeline.ingest_items([item("c.txt", "普丁再訪平壤。", clock)], clock())
        )

    assert asyncio.run(later()).new == 1  # type: ignore[attr-defined]


def test_a_bug_in_one_write_fails_that_write_only(app: App, clock: Clock) -> None:
    writer = GroupCommit(app.store)

    def bug() -> None:
        raise ValueError("a bug in one source's write")

    async def scenario() -> list[object]:
        return list(
            await asyncio.gather(
                writer.write(
                    lambda: app.pipeline.ingest_items([item("a.txt", PUTIN, clock)], clock())
                ),
                writer.write(bug),
                writer.write(
                    lambda: app.pipeline.ingest_items(
                        [item("b.txt", "普丁再訪平壤。", clock)], clock()
                    )
                ),
                return_exceptions=True,
            )
        )

    first, broken, third = asyncio.run(scenario())
    assert isinstance(broken, ValueError)
    assert first.new == 1 and third.new == 1  # type: ignore[attr-defined]
    assert app.store.article_count() == 2
