"""One article's hits, and the one evaluator of queries over them (for alerts and `explain`).

Pure. The matcher's scan fills a `Found` with every hit of every pattern, as offsets in the
normalized title and text; `Hit`s (original offsets and spellings) are built only for what
is shown. Token positions, which only NEAR needs, are counted on first use: a maximal run of
letters and digits of alphabetic scripts is one token (`G20` = 1, `F-16` = 2, `Putin's` = 2),
each Han, kana or Hangul character is one token, spaces and punctuation are none.

`holds` is the one definition of a query being true: `Matcher.match` asks it alone, and
`explain_query` asks it at every node (so `explain` cannot disagree with the alerts) and
adds the hits and NEAR distances.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.query import CJK, And, Near, Node, Not, Or, Scope, Term, terms
from monitor.text import MappedText


@functools.cache
def _token() -> re.Pattern[str]:
    """A token for NEAR distances; compiled on first use (its non-ASCII classes cost sre
    ~5 ms to compile, which a start that evaluates no NEAR should not pay)."""
    return re.compile(f"[{CJK}]|(?:[^\\W_{CJK}]|[\u0300-\u036f])+")


Spans = dict[int, list[tuple[int, int]]]  # pattern id → (start, end) in the normalized field


@dataclass(frozen=True)
class Hit:
    """One occurrence: in the title or the text, where, and how the article spells it."""

    field: str  # "title" | "text"
    start: int  # offset in the original title / text
    found: str  # the spelling as the article writes it


class Found:
    """Every hit of every pattern in one article, per field, in text order (the matcher's scan
    fills `in_title` / `in_text`). Built once per article, so a plain slotted class."""

    __slots__ = ("_present", "_tokens", "in_text", "in_title", "text", "title")

    def __init__(self, title: MappedText, text: MappedText) -> None:
        self.title = title
        self.text = text
        self.in_title: Spans = {}
        self.in_text: Spans = {}
        self._tokens: dict[str, tuple[list[int], list[int]]] = {}
        self._present: set[int] | None = None

    def spans(self, name: str) -> Spans:
        return self.in_title if name == "title" else self.in_text

    def mapped(self, name: str) -> MappedText:
        return self.title if name == "title" else self.text

    def present(self) -> set[int]:
        """Pattern ids with a hit in the title or the text."""
        if self._present is None:
            self._present = set(self.in_title)
            self._present.update(self.in_text)
        return self._present

    def hit(self, name: str, start: int, end: int) -> Hit:
        mapped = self.mapped(name)
        first = mapped.to_original(start)
        last = mapped.to_original(end - 1)
        return Hit(name, first, mapped.original[first : last + 1])

    def token_span(self, name: str, start: int, end: int) -> tuple[int, int]:
        """The first and last token a hit covers (a hit without a token: the next one)."""
        tokens = self._tokens.get(name)
        if tokens is None:
            starts, ends = [], []
            for m in _token().finditer(self.mapped(name).text):
                starts.append(m.start())
                ends.append(m.end())
            tokens = self._tokens[name] = (starts, ends)
        starts, ends = tokens
        first = bisect.bisect_right(ends, start)
        last = bisect.bisect_left(starts, end) - 1
        return first, max(first, last)


def distance(a: tuple[int, int], b: tuple[int, int]) -> int:
    """Tokens strictly between two token spans; 0 when they touch or overlap."""
    if a[1] < b[0]:
        return b[0] - a[1] - 1
    if b[1] < a[0]:
        return a[0] - b[1] - 1
    return 0


@dataclass(frozen=True)
class _Leaf:
    """One hit of one query term, with its place in tokens."""

    term: Term
    field: str
    start: int
    end: int


@dataclass(frozen=True)
class _Span:
    """What a NEAR operand offers: a token range, and the term hits that make it up."""

    first: int
    last: int
    leaves: tuple[_Leaf, ...]


@dataclass(frozen=True)
class QueryResult:
    """One node of a query as `explain` shows it: an operator with children, or a term."""

    matched: bool
    op: str | None = None  # AND, OR, NOT, NEAR/n, title:, text: (None: a term)
    term: str | None = None  # the term as written
    children: tuple[QueryResult, ...] = ()
    hits: tuple[Hit, ...] = ()
    distance: int | None = None  # NEAR: the closest pair (None: no pair in one field)
    pair: tuple[Hit, Hit] | None = None  # NEAR: that pair's first hits


class Evaluator:
    """Queries over one article: `pids` maps each query term (by `id`) to its pattern ids."""

    def __init__(self, found: Found, pids: Mapping[int, tuple[int, ...]]) -> None:
        self.found = found
        self.pids = pids

    # --- truth ----------------------------------------------------------------------------

    def holds(self, node: Node, fields: Sequence[str]) -> bool:
        """Is `node` true on the article, reading `fields`?"""
        if isinstance(node, Term):
            pids = self.pids[id(node)]
            for name in fields:
                spans = self.found.spans(name)
                if any(pid in spans for pid in pids):
                    return True
            return False
        if isinstance(node, And):
            return all(self.holds(child, fields) for child in node.children)
        if isinstance(node, Or):
            return any(self.holds(child, fields) for child in node.children)
        if isinstance(node, Not):
            return not self.holds(node.child, fields)
        if isinstance(node, Scope):
            return self.holds(node.child, (node.field,) if node.field in fields else ())
        return any(self._pairs(node, name, first=True) for name in fields)

    def _spans(self, node: Node, name: str) -> list[_Span]:
        """The token ranges a NEAR operand offers in one field."""
        if isinstance(node, Term):
            spans = self.found.spans(name)
            out = []
            for pid in self.pids[id(node)]:
                for start, end in spans.get(pid, ()):
                    first, last = self.found.token_span(name, start, end)
                    out.append(_Span(first, last, (_Leaf(node, name, start, end),)))
            return out
        if isinstance(node, Or):
            return [span for child in node.children for span in self._spans(child, name)]
        if isinstance(node, Near):
            return [
                _Span(min(a.first, b.first), max(a.last, b.last), a.leaves + b.leaves)
                for a, b in self._pairs(node, name)
            ]
        raise AssertionError(f"not a NEAR operand: {node!r}")  # the parser refuses them

    def _pairs(self, node: Near, name: str, *, first: bool = False) -> list[tuple[_Span, _Span]]:
        """The (left, right) hit pairs at most `distance` tokens apart (`first`: stop at one)."""
        left = self._spans(node.left, name)
        if not left:
            return []
        right = self._spans(node.right, name)
        out = []
        for a in left:
            for b in right:
                if distance((a.first, a.last), (b.first, b.last)) <= node.distance:
                    out.append((a, b))
                    if first:
                        return out
        return out

    # --- what fired ------------------------------------------------------------------------

    def satisfied(self, node: Node, fields: Sequence[str], want: bool = True) -> Iterator[_Leaf]:
        """The term hits that make `node` come out as `want`, in query order: for a query that
        holds, the positive terms inside its satisfied parts (within a NEAR only the hits of a
        pair close enough). `want=False` follows NOTs: `NOT (b OR NOT a)` holds through `a`."""
        if self.holds(node, fields) is not want:
            return
        if isinstance(node, Term):
            if want:
                for name in fields:
                    spans = self.found.spans(name)
                    for pid in self.pids[id(node)]:
                        for start, end in spans.get(pid, ())[:1]:
                            yield _Leaf(node, name, start, end)
        elif isinstance(node, And | Or):
            # A child with the other value cannot be part of the reason (`satisfied` skips it).
            for child in node.children:
                yield from self.satisfied(child, fields, want)
        elif isinstance(node, Not):
            yield from self.satisfied(node.child, fields, not want)
        elif isinstance(node, Scope):
            inner = (node.field,) if node.field in fields else ()
            yield from self.satisfied(node.child, inner, want)
        elif want:  # a NEAR that holds; one that does not has no hits to show for it
            leaves: dict[_Leaf, None] = {}
            for name in fields:
                for a, b in self._pairs(node, name):
                    leaves.update(dict.fromkeys((*a.leaves, *b.leaves)))
            order = [id(t) for t in terms(node)]
            yield from sorted(leaves, key=lambda leaf: (order.index(id(leaf.term)), leaf.start))

    # --- explain ---------------------------------------------------------------------------

    def _first_hit(self, span: _Span) -> Hit:
        leaf = span.leaves[0]
        return self.found.hit(leaf.field, leaf.start, leaf.end)

    def explain(self, node: Node, fields: Sequence[str]) -> QueryResult:
        """`node` as a tree of results; every `matched` is `holds` at that node."""
        matched = self.holds(node, fields)
        if isinstance(node, Term):
            hits = tuple(
                self.found.hit(name, start, end)
                for name in fields
                for pid in self.pids[id(node)]
                for start, end in self.found.spans(name).get(pid, ())
            )
            return QueryResult(matched, term=node.written, hits=hits)
        if isinstance(node, And | Or):
            op = "AND" if isinstance(node, And) else "OR"
            children = tuple(self.explain(child, fields) for child in node.children)
            return QueryResult(matched, op=op, children=children)
        if isinstance(node, Not):
            return QueryResult(matched, op="NOT", children=(self.explain(node.child, fields),))
        if isinstance(node, Scope):
            inner = (node.field,) if node.field in fields else ()
            return QueryResult(
                matched, op=f"{node.field}:", children=(self.explain(node.child, inner),)
            )
        children = (self.explain(node.left, fields), self.explain(node.right, fields))
        best: tuple[int, _Span, _Span] | None = None
        for name in fields:
            right = self._spans(node.right, name)
            for a in self._spans(node.left, name):
                for b in right:
                    d = distance((a.first, a.last), (b.first, b.last))
                    if best is None or d < best[0]:
                        best = (d, a, b)
        pair = None
        if best is not None:
            pair = (self._first_hit(best[1]), self._first_hit(best[2]))
        return QueryResult(
            matched,
            op=f"NEAR/{node.distance}",
            children=children,
            distance=None if best is None else best[0],
            pair=pair,
        )


def query_json(node: QueryResult) -> dict[str, Any]:
    """A query node as JSON (`explain --json`, the web API): `{op, matched, children}`
    (NEAR: `distance` of its closest pair, null without one) or `{term, hits}`."""
    if node.term is not None:
        return {
            "term": node.term,
            "hits": [{"field": h.field, "found": h.found, "offset": h.start} for h in node.hits],
        }
    out: dict[str, Any] = {
        "op": node.op,
        "matched": node.matched,
        "children": [query_json(child) for child in node.children],
    }
    if node.op is not None and node.op.startswith("NEAR/"):
        out["distance"] = node.distance
        out["pair"] = (
            None
            if node.pair is None
            else [{"field": h.field, "found": h.found, "offset": h.start} for h in node.pair]
        )
    return out
