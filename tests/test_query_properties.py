"""The query evaluator agrees with a slow, obviously correct reference written here.

Random queries (every operator, NEAR over terms, OR-groups and NEARs, scopes, wildcards,
phrases, an alias class) over random titles and texts drawn from one small vocabulary of
English and Chinese words with their traps (Donato, unsanctioned, 中國/中国). The reference
finds every occurrence by brute force (`str.startswith` at each offset, the word rule by
hand), counts tokens character by character, and evaluates the tree by its definition.
Fixed seed (derandomize), 400 examples, no deadline.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from monitor.match import Matcher
from monitor.models import Topic, Watchlist
from monitor.query import holds_on_nothing, parse
from monitor.text import fold

PROPERTY = settings(
    max_examples=400,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

ALIASES = (("中國", "China"),)
TERMS = ("China", "中國", "Russia", "俄羅斯", "NATO", "F-16", "核武")
PHRASES = ("North Korea", "核武 試驗")
WILDCARDS = ("sanction", "missil")
# Repeats weight the draw: most words hit something, so that queries are often true.
WORDS = (
    *TERMS, *TERMS, *PHRASES, "中国", "俄罗斯", "sanctions", "sanction", "missiles", "missile",
    "unsanctioned", "Donato", "NATOs", "核武器", "North", "Korea", "G20", "的", "and", "F", "16",
)  # fmt: skip
SEPARATORS = (" ", " ", ", ", "", "-", "\n", "。", "'s ")


@dataclass(frozen=True)
class Q:
    """A query tree of the test's own, printed to a string and evaluated by the reference."""

    op: str  # term phrase wild AND OR NOT NEAR title text
    children: tuple[Q, ...] = ()
    text: str = ""
    n: int = 0

    def written(self) -> str:
        if self.op == "term":
            return self.text
        if self.op == "phrase":
            return f'"{self.text}"'
        if self.op == "wild":
            return f"{self.text}*"
        if self.op in ("AND", "OR"):
            return "(" + f" {self.op} ".join(c.written() for c in self.children) + ")"
        if self.op == "NOT":
            return f"(NOT {self.children[0].written()})"
        if self.op == "NEAR":
            a, b = self.children
            return f"({a.written()} NEAR/{self.n} {b.written()})"
        return f"{self.op}:({self.children[0].written()})"


leaf = st.one_of(
    st.sampled_from(TERMS).map(lambda t: Q("term", text=t)),
    st.sampled_from(PHRASES).map(lambda t: Q("phrase", text=t)),
    st.sampled_from(WILDCARDS).map(lambda t: Q("wild", text=t)),
)
near_operand = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map(lambda cs: Q("OR", tuple(cs))),
        st.tuples(inner, inner, st.integers(1, 4)).map(lambda x: Q("NEAR", x[:2], n=x[2])),
    ),
    max_leaves=4,
)
near = st.tuples(near_operand, near_operand, st.integers(1, 4)).map(
    lambda x: Q("NEAR", x[:2], n=x[2])
)
queries = st.recursive(
    st.one_of(leaf, near),
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map(lambda cs: Q("AND", tuple(cs))),
        st.lists(inner, min_size=2, max_size=3).map(lambda cs: Q("OR", tuple(cs))),
        inner.map(lambda c: Q("NOT", (c,))),
        st.tuples(st.sampled_from(("title", "text")), inner).map(lambda x: Q(x[0], (x[1],))),
    ),
    max_leaves=4,
)


def leaves(q: Q) -> list[Q]:
    return [q] if not q.children else [leaf for c in q.children for leaf in leaves(c)]


def texts(q: Q) -> st.SearchStrategy[str]:
    """Titles and texts made mostly of the query's own words (and their traps), so that its
    terms hit, miss and stand near or far from each other."""
    own = [leaf.text + ("es" if leaf.op == "wild" else "") for leaf in leaves(q)]
    words = st.sampled_from((*own, *own, *WORDS))
    return st.lists(st.tuples(words, st.sampled_from(SEPARATORS)), max_size=10).map(
        lambda parts: "".join(w + s for w, s in parts)
    )


# --- the reference ------------------------------------------------------------------------


def is_cjk(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff"


def is_word(char: str) -> bool:
    return char.isascii() and char.isalnum()


def normalized(text: str) -> str:
    return _collapse(fold(text))


def _collapse(text: str) -> str:
    """White space runs → one space (not trimmed, as the matcher's text)."""
    out: list[str] = []
    for char in text:
        if char.isspace():
            if not out or out[-1] != " ":
                out.append(" ")
        else:
            out.append(char)
    return "".join(out)


def token_of(text: str) -> list[int | None]:
    """Each character's token number (None: a space or punctuation)."""
    out: list[int | None] = []
    count = -1
    for i, char in enumerate(text):
        if is_cjk(char):
            count += 1
            out.append(count)
        elif is_word(char):
            if i == 0 or not is_word(text[i - 1]):
                count += 1
            out.append(count)
        else:
            out.append(None)
    return out


def spellings(term: str) -> list[str]:
    for members in ALIASES:
        if fold(term) in (fold(m) for m in members):
            return [fold(m) for m in members]
    return [_collapse(fold(term))]


def occurrences(q: Q, text: str) -> list[tuple[int, int]]:
    """Every hit of a term as (first token, last token), by brute force."""
    tokens = token_of(text)
    found = []
    for spelling in [fold(q.text)] if q.op == "wild" else spellings(q.text):
        for i in range(len(text)):
            if not text.startswith(spelling, i):
                continue
            end = i + len(spelling)
            if is_word(spelling[0]) and i > 0 and is_word(text[i - 1]):
                continue
            if q.op != "wild" and is_word(spelling[-1]) and end < len(text) and is_word(text[end]):
                continue
            inside = [t for t in tokens[i:end] if t is not None]
            found.append((min(inside), max(inside)))
    return found


def apart(a: tuple[int, int], b: tuple[int, int]) -> int:
    if a[1] < b[0]:
        return b[0] - a[1] - 1
    if b[1] < a[0]:
        return a[0] - b[1] - 1
    return 0


def spans(q: Q, text: str) -> list[tuple[int, int]]:
    if q.op in ("term", "phrase", "wild"):
        return occurrences(q, text)
    if q.op == "OR":
        return [s for c in q.children for s in spans(c, text)]
    a, b = q.children
    return [
        (min(x[0], y[0]), max(x[1], y[1]))
        for x in spans(a, text)
        for y in spans(b, text)
        if apart(x, y) <= q.n
    ]


def reference(q: Q, fields: dict[str, str]) -> bool:
    if q.op in ("term", "phrase", "wild", "NEAR"):
        return any(spans(q, text) for text in fields.values())
    if q.op == "AND":
        return all(reference(c, fields) for c in q.children)
    if q.op == "OR":
        return any(reference(c, fields) for c in q.children)
    if q.op == "NOT":
        return not reference(q.children[0], fields)
    return reference(q.children[0], {k: v for k, v in fields.items() if k == q.op})


@PROPERTY
@given(queries, st.data(), st.booleans())
def test_evaluator_agrees_with_the_reference(q: Q, data: st.DataObject, title_only: bool) -> None:
    title, text = data.draw(texts(q)), data.draw(texts(q))
    query = q.written()
    tree = parse(query)
    assume(not holds_on_nothing(tree))
    assume(not (title_only and "text:(" in query))
    fields = ("title",) if title_only else ("title", "text")
    topic = Topic("t", "T", query=query, fields=fields)
    matcher = Matcher(Watchlist(aliases=ALIASES, topics=(topic,)))
    expected = reference(
        q, {f: normalized(v) for f, v in (("title", title), ("text", text)) if f in fields}
    )
    event(f"fires: {expected}; NEAR: {'NEAR' in query}")
    matches = matcher.match(title, text)
    assert bool(matches) is expected, (query, title, text)
    # An alert always names at least one term (the alert contract's `matched`, minItems 1).
    assert all(m.matched and m.found for m in matches)
    (verdict,) = matcher.explain(title, text)
    assert verdict.query is not None and verdict.query.matched is expected


@PROPERTY
@given(near, st.data())
def test_near_agrees_with_the_reference(q: Q, data: st.DataObject) -> None:
    """NEAR alone, often at its boundary: distances of n and n + 1 tokens both occur."""
    text = data.draw(texts(q))
    matcher = Matcher(Watchlist(aliases=ALIASES, topics=(Topic("t", "T", query=q.written()),)))
    expected = reference(q, {"text": normalized(text)})
    event(f"fires: {expected}")
    assert bool(matcher.match("", text)) is expected, (q.written(), text)
