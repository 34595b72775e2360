"""bench/ingest.py's `--queries` workload is the one issue 14 describes (its target is
measured on it, so a drift in the workload would silently change what PASS means)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from monitor.query import And, Near, Not, Or, Term, parse


@pytest.fixture(scope="module")
def ingest() -> ModuleType:
    path = Path(__file__).resolve().parent.parent / "bench" / "ingest.py"
    spec = importlib.util.spec_from_file_location("bench_ingest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def group(node: object) -> list[str]:
    assert isinstance(node, Or) and all(isinstance(c, Term) for c in node.children)
    return [c.text for c in node.children if isinstance(c, Term)]


def test_queries_are_two_or_groups_of_five_and_every_tenth_vetoes_another_querys_term(
    ingest: ModuleType,
) -> None:
    queries, any_lists = ingest.generated_queries(())
    assert len(queries.topics) == len(any_lists.topics) == 1000
    owner = {term: i for i, topic in enumerate(any_lists.topics) for term in topic.any}
    assert len(owner) == 10_000  # the same 10,000 terms, 10 per `any` twin
    for index, (topic, twin) in enumerate(zip(queries.topics, any_lists.topics, strict=True)):
        assert topic.id == twin.id
        node = parse(topic.query)
        veto = None
        if index % 10 == 9:  # `… AND NOT t`: the last part of the top AND
            assert isinstance(node, And)
            *rest, negated = node.children
            assert isinstance(negated, Not) and isinstance(negated.child, Term)
            veto = negated.child.text
            node = rest[0] if len(rest) == 1 else And(tuple(rest))
        if index % 4 == 3:
            assert isinstance(node, Near) and node.distance == 10
            left, right = node.left, node.right
        else:
            assert isinstance(node, And)
            left, right = node.children
        first, second = group(left), group(right)
        assert len(first) == len(second) == 5
        assert [*first, *second] == list(twin.any)
        if veto is not None:
            assert owner[veto] != index  # a term of another query, not one of its own 10
    again, _ = ingest.generated_queries(())
    assert again == queries  # fixed seed
