"""The query language's grammar and its errors, as the parser and the watchlist loader give
them (file:line:column, a caret, what was expected)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.advice import find_warnings
from monitor.config import load_watchlist
from monitor.errors import ConfigError
from monitor.match import Matcher
from monitor.models import Topic, Watchlist
from monitor.query import QueryError, holds_on_nothing, parse, quoted, to_text, topic_query


@pytest.mark.parametrize(
    ("query", "tree"),
    [
        ("a b OR c", "(a AND b) OR c"),  # adjacency is AND, tighter than OR
        ("a OR b c", "a OR (b AND c)"),
        ("NOT a NEAR/3 b", "NOT (a NEAR/3 b)"),  # NEAR binds tighter than NOT
        ("a NOT b", "a AND NOT b"),
        ("a AND NOT b OR c", "(a AND NOT b) OR c"),
        ("(a OR b) NEAR/10 (c OR d) AND NOT e", "((a OR b) NEAR/10 (c OR d)) AND NOT e"),
        ("title:(x OR y) text:z", "title:(x OR y) AND text:(z)"),
        ('"North Korea" 中國', '"North Korea" AND 中國'),
        ('"OR" AND "NOT"', '"OR" AND "NOT"'),  # quoting makes a keyword a term
        ("sanction*", "sanction*"),
        ("(a NEAR/1 b) NEAR/2 c", "(a NEAR/1 b) NEAR/2 c"),
        ("F-16 G20 Putin's", "F-16 AND G20 AND Putin's"),
        ("or and not", "or AND and AND not"),  # lower case: terms (monitor check warns)
    ],
)
def test_precedence_and_forms(query: str, tree: str) -> None:
    assert to_text(parse(query)) == tree


@pytest.mark.parametrize(
    ("query", "offset", "message"),
    [
        ("", 0, "empty query"),
        ("   ", 0, "empty query"),
        ("a AND", 5, "expected a term or '(' after AND"),
        ("AND a", 0, "expected a term or '(' at the start, found AND"),
        ("a OR", 4, "expected a term or '(' after OR"),
        ("NOT", 3, "expected a term or '(' after NOT"),
        ("(a", 0, "unbalanced '(': no ')' closes it"),
        ("a)", 1, "unbalanced ')': no '(' to close"),
        ("()", 1, "expected a term or '(' after '(', found ')'"),
        ('"North Korea', 0, "unbalanced quote"),
        ('""', 0, "empty phrase"),
        ("a NEAR/0 b", 7, "NEAR/0 would need overlapping hits"),
        ("a NEAR/x b", 7, "the distance of NEAR must be a whole number ≥ 1, not 'x'"),
        ("a NEAR b", 2, "NEAR needs a distance"),
        ("a NEAR/3 b NEAR/5 c", 11, "NEAR cannot be chained"),
        ("(a AND b) NEAR/2 c", 10, "NEAR's operands must be terms, phrases"),
        ("中國*", 2, "wildcards are not allowed on Chinese, Japanese or Korean terms"),
        ("ab*", 2, "a wildcard needs at least 3 letters"),
        ("*", 0, "a wildcard needs at least 3 letters"),
        ("foo:bar", 3, "':' is only allowed after title or text"),
        ("title:", 6, "expected a term, a phrase or '(' after title:"),
    ],
)
def test_errors_say_where_and_what_was_expected(query: str, offset: int, message: str) -> None:
    with pytest.raises(QueryError) as error:
        parse(query)
    assert error.value.offset == offset
    assert error.value.message.startswith(message)


@pytest.mark.parametrize(
    ("query", "empty"),
    [
        ("NOT a", True),
        ("a OR NOT b", True),
        ("NOT (a AND b)", True),
        ("NOT a NOT b", True),
        ("a", False),
        ("a NOT b", False),
        ("NOT (NOT a)", False),
        ("NOT (a NEAR/2 b) c", False),
    ],
)
def test_a_query_true_without_hits_is_recognized(query: str, empty: bool) -> None:
    assert holds_on_nothing(parse(query)) is empty


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "watchlist.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as error:
        load_watchlist(write(tmp_path, text))
    return [str(p) for p in error.value.problems]


def test_load_error_names_file_line_column_with_a_caret(tmp_path: Path) -> None:
    (problem,) = load_problems(
        tmp_path,
        '[[topics]]\nid = "a"\nany = ["x"]\n\n[[topics]]\nid = "b"\n'
        "query = 'China NEAR/5 (Russia OR 俄羅斯) AND'\n",
    )
    path = tmp_path / "watchlist.toml"
    assert problem == (
        f"{path}:7:42: [topics[1].query] expected a term or '(' after AND\n"
        "    China NEAR/5 (Russia OR 俄羅斯) AND\n"
        # the caret sits under the end, each CJK character two columns wide
        "                                       ^"
    )


def test_basic_string_without_escapes_has_exact_columns(tmp_path: Path) -> None:
    (problem,) = load_problems(tmp_path, '[[topics]]\nid = "b"\nquery = "a AND (b OR"\n')
    assert problem.split(" [")[0].endswith("watchlist.toml:3:21:")


def test_escaped_string_gives_the_line_and_the_offset(tmp_path: Path) -> None:
    (problem,) = load_problems(tmp_path, '[[topics]]\nid = "b"\nquery = "\\"North Korea\\" AND"\n')
    first = problem.splitlines()[0]
    assert ":3: [topics[0].query] expected a term or '(' after AND" in first
    assert "(at character 18 of the string)" in first


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('query = "NOT a"', "every query must need at least one hit"),
        ('query = "a OR NOT b"', "every query must need at least one hit"),
        ("query = 3", "[topics[0].query] must be a string"),
        ('query = ""', "empty query"),
        ('fields = ["title"]\nquery = "a text:(b)"', "has a text:( … ) scope"),
        ('query = "a b"\nmin_hits = 2', "min_hits does not count the query's terms"),
        ('query = "a NEAR/0 b"', "NEAR/0"),
        ('query = "中國*"', "wildcards are not allowed"),
    ],
)
def test_bad_queries_are_load_errors(tmp_path: Path, body: str, message: str) -> None:
    problems = load_problems(tmp_path, f'[[topics]]\nid = "t"\n{body}\n')
    assert any(message in p for p in problems), problems


EMPTY = "would be true on an article without any of its terms"


@pytest.mark.parametrize(
    ("body", "where", "message", "caret"),
    [
        # A query true without hits: the caret under the NOT that makes it so.
        ('query = "NOT a"', "3:10", EMPTY, "NOT a\n^"),
        ('query = "a OR NOT b"', "3:15", EMPTY, "a OR NOT b\n     ^"),
        ('query = "NOT (a AND b)"', "3:10", EMPTY, "NOT (a AND b)\n^"),
        ('query = "x NOT y OR NOT z"', "3:21", EMPTY, "x NOT y OR NOT z\n" + " " * 11 + "^"),
        # A text:( … ) scope in a topic that reads the title only: the caret under `text:`.
        (
            'fields = ["title"]\nquery = "a title:(b) text:(c)"',
            "4:22",
            "has a text:( … ) scope, but the topic reads the title only",
            "a title:(b) text:(c)\n            ^",
        ),
        # An empty term (here a NUL, by an escape: the line and the offset in the string).
        (
            'query = "a \\u0000"',
            "3",
            "empty term '\\x00' (at character 3 of the string)",
            "a �\n  ^",
        ),
    ],
)
def test_query_meaning_errors_have_a_column_and_a_caret(
    tmp_path: Path, body: str, where: str, message: str, caret: str
) -> None:
    (problem,) = load_problems(tmp_path, f'[[topics]]\nid = "t"\n{body}\n')
    first, *shown = problem.splitlines()
    assert first.startswith(f"{tmp_path / 'watchlist.toml'}:{where}: [topics[0].query] {message}")
    assert "\n".join(line.removeprefix("    ") for line in shown) == caret


def test_a_query_alone_or_with_the_other_keys_loads(tmp_path: Path) -> None:
    watchlist = load_watchlist(
        write(
            tmp_path,
            '[[topics]]\nid = "q"\nquery = \'"North Korea" AND (missile* OR 導彈)\'\n\n'
            '[[topics]]\nid = "both"\nany = ["x"]\nquery = "title:(a) b"\nfields = ["title"]\n',
        )
    )
    assert [t.query for t in watchlist.topics] == [
        '"North Korea" AND (missile* OR 導彈)',
        "title:(a) b",
    ]


@pytest.mark.parametrize(
    ("topic", "query", "left_out"),
    [
        (
            Topic(
                "t",
                "t",
                all=(("中國", "China"), ("俄羅斯",)),
                any=("制裁", "embargo"),
                none=("足球",),
                regex=(r"\d+ banks",),
                query="sanction*",
            ),
            "(中國 OR China) AND 俄羅斯 AND (制裁 OR embargo) AND (sanction*) AND NOT 足球",
            ["regex (an alternative to the any group)"],
        ),
        (
            Topic("t", "t", any=("a", "b"), regex=("x+",)),
            "(a OR b)",
            ["regex (an alternative to the any group)"],
        ),
        (Topic("t", "t", all=(("a",),), regex=("x+",)), "a", ["regex (one must match)"]),
        (Topic("t", "t", regex=("x+",)), None, ["regex (one must match)"]),
    ],
)
def test_check_queries_prints_the_any_group_beside_a_regex(
    topic: Topic, query: str | None, left_out: list[str]
) -> None:
    assert topic_query(topic) == (query, left_out)


@pytest.mark.parametrize("word", ["and", "Or", "not", "NEAR", "near", "near/3", "Near/x", "AND"])
def test_operator_lookalikes_are_quoted(word: str) -> None:
    assert quoted(word) == f'"{word}"'


def test_a_printed_query_reads_back_as_the_same_terms_without_warnings() -> None:
    terms = ("near/3", "and", "Or", "not", "NEAR", "China")
    query, _ = topic_query(Topic("t", "t", any=terms))
    assert query == '("near/3" OR "and" OR "Or" OR "not" OR "NEAR" OR China)'
    as_any, as_query = Topic("a", "a", any=terms), Topic("q", "q", query=query)
    assert find_warnings(Watchlist(aliases=(), topics=(as_query,))) == []
    matcher = Matcher(Watchlist(aliases=(), topics=(as_any, as_query)))
    for text, fires in [
        ("see near/3 here", True),
        ("this and that", True),
        ("or", True),
        ("not now", True),
        ("near China", True),
        ("nothing, nearly", False),
    ]:
        fired = [m.topic_id for m in matcher.match("", text)]
        assert fired == (["a", "q"] if fires else []), text
