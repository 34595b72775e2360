"""The topic query language: a string → a tree of `Term`, `And`, `Or`, `Not`, `Near`, `Scope`.

Pure and hand-written (no parser library): the errors are the point, and each names the
offset in the query, what was expected and after what (`expected a term or '(' after AND`),
which a generated LALR parser reports only as a set of token names. The loader turns the
offset into file:line:column; the matcher compiles the terms into its one automaton.

Grammar, tightest first: `NEAR/n`, `NOT`, AND (explicit or by adjacency), `OR`:

    query   := or
    or      := and ("OR" and)*
    and     := not (["AND"] not)*
    not     := "NOT" not | near
    near    := primary ["NEAR/n" primary]          chaining is an error
    primary := TERM | PHRASE | "(" or ")" | ("title:" | "text:") (primary)
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from monitor.models import Topic

KEYWORDS = ("AND", "OR", "NOT")
SCOPES = ("title", "text")
WILDCARD_MIN_LETTERS = 3

# Han (with extensions and compatibility forms), kana, Hangul: one token per character, and
# matched as substrings, so a wildcard on them means nothing.
CJK = (
    "\u1100-\u11ff\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3040-\u30ff\u3130-\u318f"
    "\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff"
    "\uff66-\uff9f\U00020000-\U0003ffff"
)
_NEAR = re.compile(r"NEAR(?:/(.*))?\Z", re.IGNORECASE)


class QueryError(ValueError):
    """A query that cannot be parsed: what was expected, and where (offset in the query)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


# --- the tree -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """A bare term, a quoted phrase or a prefix wildcard (`text` without the `*`)."""

    text: str
    offset: int  # where it starts in the query
    quoted: bool = False
    wildcard: bool = False

    @property
    def written(self) -> str:
        """The term as the query writes it: `sanction*`, `"North Korea"`, `NATO`."""
        if self.quoted:
            return f'"{self.text}"'
        return self.text + ("*" if self.wildcard else "")


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node
    offset: int  # of the NOT: where a query true without hits is wrong


@dataclass(frozen=True)
class Near:
    """A hit of `left` and one of `right` at most `distance` tokens apart, same field."""

    left: Node
    right: Node
    distance: int


@dataclass(frozen=True)
class Scope:
    """`title:( … )` / `text:( … )`: the inner expression on one field only."""

    field: str
    child: Node
    offset: int  # of `title:` / `text:`, for errors about the scope


Node = Term | And | Or | Not | Near | Scope


def terms(node: Node) -> Iterator[Term]:
    """Every term of the tree, in query order."""
    if isinstance(node, Term):
        yield node
    elif isinstance(node, And | Or):
        for child in node.children:
            yield from terms(child)
    elif isinstance(node, Near):
        yield from terms(node.left)
        yield from terms(node.right)
    else:
        yield from terms(node.child)


def near_terms(node: Node) -> Iterator[Term]:
    """The terms inside NEARs: the only ones whose every hit (not only the first) matters."""
    if isinstance(node, Near):
        yield from terms(node)
    elif isinstance(node, And | Or):
        for child in node.children:
            yield from near_terms(child)
    elif isinstance(node, Not | Scope):
        yield from near_terms(node.child)


def positive_terms(node: Node, positive: bool = True) -> Iterator[Term]:
    """The terms under an even number of NOTs: a query that holds must have a hit of one."""
    if isinstance(node, Term):
        if positive:
            yield node
    elif isinstance(node, And | Or):
        for child in node.children:
            yield from positive_terms(child, positive)
    elif isinstance(node, Near):
        yield from positive_terms(node.left, positive)
        yield from positive_terms(node.right, positive)
    elif isinstance(node, Not):
        yield from positive_terms(node.child, not positive)
    else:
        yield from positive_terms(node.child, positive)


def scopes(node: Node) -> Iterator[Scope]:
    """The `title:` / `text:` scopes anywhere in the tree, in query order."""
    if isinstance(node, Scope):
        yield node
        yield from scopes(node.child)
    elif isinstance(node, And | Or):
        for child in node.children:
            yield from scopes(child)
    elif isinstance(node, Near):
        yield from scopes(node.left)
        yield from scopes(node.right)
    elif isinstance(node, Not):
        yield from scopes(node.child)


def holds_on_nothing(node: Node) -> bool:
    """Would the query be true on an empty title and text? (Then it must be rejected.)"""
    return empty_truth(node) is not None


def empty_truth(node: Node) -> int | None:
    """Where the query is true on an empty title and text: the offset of the NOT that makes
    it so (of an AND's first part, of an OR's first such alternative), for the caret of the
    error; None when the query needs a hit."""
    if isinstance(node, Term | Near):
        return None
    if isinstance(node, And):
        where = [empty_truth(c) for c in node.children]
        return None if None in where else where[0]
    if isinstance(node, Or):
        return next((w for c in node.children if (w := empty_truth(c)) is not None), None)
    if isinstance(node, Not):
        return node.offset if empty_truth(node.child) is None else None
    return empty_truth(node.child)


def to_text(node: Node, top: bool = True) -> str:
    """The tree written back as a query, parenthesized where precedence needs it."""
    if isinstance(node, Term):
        return node.written
    if isinstance(node, Or):
        inner = " OR ".join(to_text(c, False) for c in node.children)
        return inner if top else f"({inner})"
    if isinstance(node, And):
        inner = " AND ".join(to_text(c, False) for c in node.children)
        return inner if top else f"({inner})"
    if isinstance(node, Not):
        return f"NOT {to_text(node.child, False)}"
    if isinstance(node, Near):
        near = f"{to_text(node.left, False)} NEAR/{node.distance} {to_text(node.right, False)}"
        return near if top else f"({near})"
    return f"{node.field}:({to_text(node.child)})"


# --- the lexer ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # "(" ")" "term" "phrase" "AND" "OR" "NOT" "NEAR" "scope" "end"
    text: str  # as written (for a phrase: without the quotes)
    offset: int
    value: int = 0  # NEAR's distance


def _describe(token: _Token) -> str:
    if token.kind in ("(", ")"):
        return f"'{token.kind}'"
    if token.kind in KEYWORDS:
        return token.kind
    if token.kind == "NEAR":
        return f"NEAR/{token.value}"
    if token.kind == "scope":
        return f"{token.text}:"
    if token.kind == "phrase":
        return f'"{token.text}"'
    if token.kind == "end":
        return "the end of the query"
    return repr(token.text)


def _tokens(query: str) -> list[_Token]:
    out: list[_Token] = []
    i, n = 0, len(query)
    while i < n:
        char = query[i]
        if char.isspace():
            i += 1
        elif char in "()":
            out.append(_Token(char, char, i))
            i += 1
        elif char == '"':
            end = query.find('"', i + 1)
            if end < 0:
                raise QueryError("unbalanced quote: no closing '\"' for this phrase", i)
            if not query[i + 1 : end].strip():
                raise QueryError("empty phrase", i)
            out.append(_Token("phrase", query[i + 1 : end], i))
            i = end + 1
        else:
            start = i
            while i < n and not query[i].isspace() and query[i] not in '()"':
                i += 1
            out.extend(_word(query[start:i], start))
    out.append(_Token("end", "", n))
    return out


def _word(word: str, offset: int) -> list[_Token]:
    """One run of non-space characters: a keyword, `NEAR/n`, a scope or a bare term."""
    if word in KEYWORDS:
        return [_Token(word, word, offset)]
    near = _NEAR.match(word)
    if near and word.startswith("NEAR"):
        distance = near.group(1)
        if distance is None:
            raise QueryError("NEAR needs a distance: NEAR/n, n ≥ 1 tokens between the hits", offset)
        if not distance.isascii() or not distance.isdigit():
            raise QueryError(
                f"the distance of NEAR must be a whole number ≥ 1, not {distance!r}", offset + 5
            )
        if int(distance) < 1:
            raise QueryError(
                'NEAR/0 would need overlapping hits: use a "quoted phrase" for words side by '
                "side, or NEAR/1 and more",
                offset + 5,
            )
        return [_Token("NEAR", word, offset, int(distance))]
    colon = word.find(":")
    if colon >= 0:
        name = word[:colon]
        if name not in SCOPES:
            raise QueryError(
                "':' is only allowed after title or text (title:( … ), text:( … )); "
                'quote the term to search for a colon: "…"',
                offset + colon,
            )
        rest = word[colon + 1 :]
        return [_Token("scope", name, offset), *(_word(rest, offset + colon + 1) if rest else [])]
    return [_Token("term", word, offset)]


# --- the parser -----------------------------------------------------------------------------


def parse(query: str) -> Node:
    """The tree of `query`, or `QueryError` (message and offset) at the first problem."""
    if not query.strip():
        raise QueryError("empty query: write at least one term", 0)
    parser = _Parser(_tokens(query))
    node = parser.or_()
    token = parser.peek()
    if token.kind == ")":
        raise QueryError("unbalanced ')': no '(' to close", token.offset)
    if token.kind != "end":  # pragma: no cover - every other token starts an operand
        raise QueryError(f"unexpected {_describe(token)}", token.offset)
    return node


_STARTS = ("term", "phrase", "(", "NOT", "scope")


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.at = 0

    def peek(self) -> _Token:
        return self.tokens[self.at]

    def next(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def expected(self, what: str, after: _Token | None) -> QueryError:
        token = self.peek()
        where = f"after {_describe(after)}" if after is not None else "at the start"
        found = "" if token.kind == "end" else f", found {_describe(token)}"
        if token.kind == ")" and after is None:
            return QueryError("unbalanced ')': no '(' to close", token.offset)
        return QueryError(f"expected {what} {where}{found}", token.offset)

    def previous(self) -> _Token | None:
        return self.tokens[self.at - 1] if self.at else None

    def or_(self) -> Node:
        children = [self.and_()]
        while self.peek().kind == "OR":
            keyword = self.next()
            if self.peek().kind not in _STARTS:
                raise self.expected("a term or '('", keyword)
            children.append(self.and_())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def and_(self) -> Node:
        children = [self.not_()]
        while True:
            token = self.peek()
            if token.kind == "AND":
                self.next()
                if self.peek().kind not in _STARTS:
                    raise self.expected("a term or '('", token)
            elif token.kind not in _STARTS:
                break
            children.append(self.not_())
        return children[0] if len(children) == 1 else And(tuple(children))

    def not_(self) -> Node:
        token = self.peek()
        if token.kind == "NOT":
            self.next()
            if self.peek().kind not in _STARTS:
                raise self.expected("a term or '('", token)
            return Not(self.not_(), token.offset)
        return self.near()

    def near(self) -> Node:
        left = self.primary()
        token = self.peek()
        if token.kind != "NEAR":
            return left
        self.next()
        if self.peek().kind not in ("term", "phrase", "("):
            raise self.expected("a term, a phrase or '('", token)
        right_at = self.peek().offset
        right = self.primary()
        _check_near_operand(left, token.offset)
        _check_near_operand(right, right_at)
        chained = self.peek()
        if chained.kind == "NEAR":
            raise QueryError(
                "NEAR cannot be chained: group two of the three, e.g. (a NEAR/3 b) NEAR/5 c",
                chained.offset,
            )
        return Near(left, right, token.value)

    def primary(self) -> Node:
        before = self.previous()
        token = self.next()
        if token.kind == "term":
            return _term(token)
        if token.kind == "phrase":
            return Term(token.text, token.offset, quoted=True)
        if token.kind == "(":
            if self.peek().kind not in _STARTS:
                raise self.expected("a term or '('", token)
            inner = self.or_()
            closing = self.peek()
            if closing.kind != ")":
                if closing.kind == "end":
                    raise QueryError("unbalanced '(': no ')' closes it", token.offset)
                raise QueryError(  # pragma: no cover - or_ stops only at ) or the end
                    f"expected ')' , found {_describe(closing)}", closing.offset
                )
            self.next()
            return inner
        if token.kind == "scope":
            if self.peek().kind not in ("term", "phrase", "("):
                raise self.expected("a term, a phrase or '('", token)
            return Scope(token.text, self.primary(), token.offset)
        self.at -= 1
        raise self.expected("a term or '('", before)


@functools.cache
def _cjk_char() -> re.Pattern[str]:
    """Compiled on first use (a wildcard term): sre compiles it in ~3 ms, not for every start."""
    return re.compile(f"[{CJK}]")


def _term(token: _Token) -> Term:
    """A bare term; a trailing `*` makes it a prefix wildcard, which has rules of its own."""
    text = token.text
    if not text.endswith("*"):
        return Term(text, token.offset)
    prefix = text[:-1]
    if _cjk_char().search(prefix):
        raise QueryError(
            "wildcards are not allowed on Chinese, Japanese or Korean terms: they already "
            "match as substrings (drop the '*')",
            token.offset + len(prefix),
        )
    last_word = re.search(r"[^\W_]+\Z", prefix)
    letters = sum(1 for c in last_word.group(0) if c.isalpha()) if last_word else 0
    if letters < WILDCARD_MIN_LETTERS:
        raise QueryError(
            f"a wildcard needs at least {WILDCARD_MIN_LETTERS} letters before '*' "
            f"({prefix + '*'!r} would match too many words)",
            token.offset + len(prefix),
        )
    return Term(prefix, token.offset, wildcard=True)


def _check_near_operand(node: Node, offset: int) -> None:
    """NEAR measures between hits: its operands must have hits with positions."""
    if isinstance(node, Term | Near):
        return
    if isinstance(node, Or):
        for child in node.children:
            _check_near_operand(child, offset)
        return
    raise QueryError(
        "NEAR's operands must be terms, phrases, or parenthesized OR-groups or NEARs "
        "(not AND, NOT or a field scope)",
        offset,
    )


def caret(query: str, offset: int) -> str:
    """Two lines: the query, and a caret under `offset` (wide CJK characters count two).
    Line breaks and tabs are shown as a space, other control characters as '�'."""
    line = "".join(
        " " if c in "\t\n\r\v\f" else "�" if unicodedata.category(c) == "Cc" else c for c in query
    )
    pad = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line[:offset])
    return f"{line}\n{' ' * pad}^"


# --- advice for `monitor check` -------------------------------------------------------------

_OPERATOR_LOOKALIKE = re.compile(r"(?:and|or|not|near(?:/\S*)?)\Z", re.IGNORECASE)


def lowercase_operators(query: str) -> list[tuple[str, int]]:
    """Bare terms spelled like an operator in lower or mixed case (`or`, `Not`, `near/3`),
    with their offsets: probably meant as operators, which are upper case."""
    return [
        (token.text, token.offset)
        for token in _tokens(query)
        if token.kind == "term" and _OPERATOR_LOOKALIKE.match(token.text)
    ]


def word_runs(query: str) -> list[list[tuple[str, int]]]:
    """Runs of two or more bare terms side by side (AND by adjacency), each term with its
    offset: `North Korea` unquoted is two terms, which may not be what its author meant."""
    runs: list[list[tuple[str, int]]] = []
    current: list[tuple[str, int]] = []
    for token in _tokens(query):
        if token.kind == "term" and not token.text.endswith("*"):
            current.append((token.text, token.offset))
            continue
        if len(current) > 1:
            runs.append(current)
        current = []
    return runs


# Operators in any case: upper case would parse as one, and lower or mixed case would make
# `monitor check` warn about the printed query (`lowercase_operators`).
_NEEDS_QUOTES = re.compile(r"[\s():]|\*\Z|\A(?i:and|or|not|near(?:/.*)?)\Z")


def quoted(term: str) -> str | None:
    """`term` as a query term (quoted when it must be); None if it cannot be written (`"`)."""
    if '"' in term:
        return None
    return f'"{term}"' if _NEEDS_QUOTES.search(term) else term


def topic_query(topic: Topic) -> tuple[str | None, list[str]]:
    """A topic's `all`/`any`/`none` (and its `query`) written as one query, and the keys no
    query can say (`except`, `min_hits`, `regex`, or a term with a double quote).

    A regex counts like one more `any` term (`match._judge`): with `any` it is an
    alternative to the any group, which the query still shows (it is what the terms say);
    without `any` it is a condition of its own, one regex must match.
    """
    left_out: list[str] = []
    if topic.exceptions:
        left_out.append("except")
    if topic.min_hits > 1:
        left_out.append(f"min_hits = {topic.min_hits}")
    if topic.regex:
        left_out.append(
            "regex (an alternative to the any group)" if topic.any else "regex (one must match)"
        )

    def group(terms: Sequence[str]) -> str | None:
        written = [quoted(t) for t in terms]
        if None in written:
            left_out.append("a term with '\"' (" + ", ".join(t for t in terms if '"' in t) + ")")
            written = [w for w in written if w is not None]
        if not written:
            return None
        return written[0] if len(written) == 1 else "(" + " OR ".join(w for w in written if w) + ")"

    parts: list[str] = []
    for terms_ in topic.all:
        if (part := group(terms_)) is not None:
            parts.append(part)
    if topic.any and (part := group(topic.any)) is not None:
        parts.append(part)
    if topic.query is not None:
        parts.append(topic.query if not parts else f"({topic.query})")
    if topic.none and (part := group(topic.none)) is not None:
        parts.append(f"NOT {part}")
    if not parts or all(p.startswith("NOT ") for p in parts):
        return None, left_out
    return " AND ".join(parts), left_out
