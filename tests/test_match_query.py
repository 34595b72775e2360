"""Query matching: each rule of the README's query language section, tested on `Matcher`."""

from __future__ import annotations

import pytest

from monitor.match import Matcher
from monitor.models import Match, Topic, Watchlist

ALIASES = (("普京", "普丁", "Putin"), ("North Korea", "DPRK", "北韓"))


def matcher(*topics: Topic) -> Matcher:
    return Matcher(Watchlist(aliases=ALIASES, topics=topics))


def match(query: str, text: str, title: str = "", **keys: object) -> Match | None:
    """The one topic's match, checking that `explain` agrees with `match` on it."""
    m = matcher(Topic("t", "T", query=query, **keys))  # type: ignore[arg-type]
    found = m.match(title, text)
    (verdict,) = m.explain(title, text)
    assert verdict.matched == bool(found)
    assert verdict.query is not None and (verdict.query.matched or not found)
    return found[0] if found else None


@pytest.mark.parametrize(
    ("query", "text", "fires"),
    [
        ("China Russia", "Russia and China", True),
        ("China AND Russia", "China alone", False),
        ("China OR Russia", "only Russia", True),
        ("China NOT Russia", "China and Russia", False),
        ("China NOT Russia", "China and India", True),
        ("China AND NOT (Russia OR India)", "China, India", False),
        ("(China OR 中國) (Russia OR 俄羅斯)", "中国与Russia", True),
        ('"North Korea" missile', "a North Korea missile", True),
        ('"North Korea" missile', "North, Korea missile", False),  # a phrase is one term
        ("North Korea missile", "Korea, North: missile", True),  # unquoted: three terms
        ('"OR"', "Oregon OR Idaho", True),
        ("NATO", "Donato said", False),  # the word rule, as for `any` terms
        ("NATO", "NATO秘書長", True),
        ("Putin", "普丁表示", True),  # alias classes
        ('"North Korea"', "DPRK state media", True),
    ],
)
def test_boolean_operators(query: str, text: str, fires: bool) -> None:
    assert bool(match(query, text)) is fires


@pytest.mark.parametrize(
    ("text", "spelled"),
    [
        ("new sanctions", "sanctions"),
        ("the sanctioned firms", "sanctioned"),
        ("sanction", "sanction"),
        ("unsanctioned", None),  # the word rule at the start
        ("SANCTIONS-busting", "SANCTIONS"),
    ],
)
def test_wildcard_is_a_prefix_with_the_word_rule_at_the_start(text: str, spelled: str) -> None:
    found = match("sanction*", text)
    assert (found.found if found else None) == ((spelled,) if spelled else None)
    assert found is None or found.matched == ("sanction*",)


@pytest.mark.parametrize(
    ("distance", "text", "fires"),
    [
        (1, "China and Russia", True),  # one token between
        (1, "China and the Russia", False),
        (2, "Russia and the China", True),  # either order
        (1, "China's Russia", True),  # 's is a token
        (1, "F-16 near China", False),
        (2, "F-16 near China", False),  # F and 16 are two tokens: F-16 = 2
        (1, "G20 on Russia", True),  # G20 is one token
        (1, "China: 3.5 Russia", False),  # 3.5 = 2 tokens
        (2, "China: 3.5 Russia", True),
        (1, "China\n\n(Russia)", True),  # punctuation and spaces are no tokens
    ],
)
def test_near_counts_tokens_between_hits(distance: int, text: str, fires: bool) -> None:
    query = f"(China OR F-16 OR G20) NEAR/{distance} Russia"
    assert bool(match(query, text)) is fires


def test_near_counts_each_cjk_character_as_a_token() -> None:
    assert match("中國 NEAR/1 俄羅斯", "中国和俄罗斯")
    assert not match("中國 NEAR/1 俄羅斯", "中国以及俄罗斯")
    assert match("中國 NEAR/2 俄羅斯", "中國以及俄羅斯")
    assert match("習近平 NEAR/3 Putin", "习近平会见了普京")  # alias and t2s in NEAR


def test_near_needs_both_hits_in_the_same_field() -> None:
    assert not match("China NEAR/3 Russia", "Russia said", title="China")
    assert match("China NEAR/3 Russia", "China and Russia", title="Russia")


def test_near_uses_every_hit_not_only_the_first() -> None:
    text = "China opened. " + "filler " * 50 + "China and Russia met."
    found = match("China NEAR/2 Russia", text)
    assert found is not None
    assert "China and Russia" in found.snippet


def test_parenthesized_near_spans_from_first_to_last_token() -> None:
    assert match("(a NEAR/1 b) NEAR/1 c", "a x b y c")
    assert not match("(a NEAR/1 b) NEAR/1 c", "a x b y z c")
    assert match("c NEAR/1 (a NEAR/1 b)", "c y a x b")


def test_overlapping_hits_are_zero_apart() -> None:
    assert match('"North Korea" NEAR/1 Korea', "North Korea")


def test_field_scopes() -> None:
    assert match("title:(NATO) Putin", "Putin spoke", title="NATO summit")
    assert not match("title:(NATO) Putin", "NATO and Putin", title="Summit")
    assert match("text:(NATO OR 北約)", "北約", title="x")
    assert not match("text:(NATO)", "x", title="NATO")


def test_title_only_topic_reads_the_title_only() -> None:
    assert not match("NATO", "NATO", title="x", fields=("title",))
    assert match("NATO", "x", title="NATO", fields=("title",))


def test_query_combines_with_all_any_none_regex_and_filters() -> None:
    keys: dict[str, object] = {"all": (("中國",),), "none": ("足球",)}
    assert match("Russia", "中國 Russia", **keys)
    assert not match("Russia", "中國", **keys)
    assert not match("Russia", "Russia", **keys)  # `all` fails
    assert not match("Russia", "中國 Russia 足球", **keys)  # vetoed
    assert match("Russia", "Russia 300架無人機", regex=(r"\d+架無人機",))
    assert not match("Russia", "Russia", regex=(r"\d+架無人機",))
    m = matcher(Topic("t", "T", query="Russia", sources=("rfa",)))
    assert m.match("", "Russia", source="rfa") and not m.match("", "Russia", source="dw")


def test_min_hits_counts_all_and_any_terms_only() -> None:
    assert not match("x y", "x y a", any=("a", "b"), min_hits=2)
    assert match("x y", "x y a b", any=("a", "b"), min_hits=2)


def test_matched_lists_positive_terms_of_satisfied_parts_in_query_order() -> None:
    found = match(
        '(Putin AND "North Korea") OR sanction* OR NATO NOT Biden', "NATO: 北韓 sanctions"
    )
    assert found is not None
    # `Putin AND "North Korea"` is not satisfied: neither is listed; NOT terms never are.
    assert found.matched == ("sanction*", "NATO")
    assert found.found == ("NATO", "sanctions")
    found = match("NATO OR 北韓", "北韓 and NATO", title="NATO")
    assert found is not None and found.matched == ("NATO", "北韓")
    assert found.found == ("NATO", "北韓")


def test_near_lists_only_the_hits_close_enough() -> None:
    found = match("China NEAR/1 (Russia OR India)", "India is far. a b c d China and Russia")
    assert found is not None and found.matched == ("China", "Russia")


def test_topics_without_query_hits_are_not_evaluated_but_queries_still_fire() -> None:
    m = matcher(
        Topic("q1", "Q", query="China NEAR/3 Russia"),
        Topic("q2", "Q", query="India NOT China"),
        Topic("a", "A", any=("India",)),
    )
    assert [x.topic_id for x in m.match("", "China and Russia")] == ["q1"]
    assert [x.topic_id for x in m.match("", "India")] == ["q2", "a"]


def test_explain_gives_the_query_tree_with_hits_and_near_distance() -> None:
    m = matcher(Topic("t", "T", query="(China OR 中國) NEAR/2 Russia AND NOT Biden"))
    (verdict,) = m.explain("", "China, then the big Russia talks of a new China")
    tree = verdict.query
    assert tree is not None and not tree.matched and tree.op == "AND"
    near, negation = tree.children
    assert near.op == "NEAR/2" and not near.matched and near.distance == 3
    assert near.pair is not None and [h.found for h in near.pair] == ["China", "Russia"]
    china = near.children[0].children[0]
    assert china.term == "China" and [h.start for h in china.hits] == [0, 42]
    assert negation.op == "NOT" and negation.matched
    assert verdict.reason == "the query does not hold"


def test_the_readme_worked_examples_hold() -> None:
    """Every row of the README's worked examples, with the shipped aliases."""
    from pathlib import Path

    from monitor.config import load_watchlist

    root = Path(__file__).resolve().parent.parent
    aliases = load_watchlist(root / "config" / "watchlist.toml").aliases
    readme = (root / "README.md").read_text(encoding="utf-8")
    table = readme.split("Worked examples", 1)[1].split("\n\n", 2)[1]
    rows = [line.split(" | ") for line in table.splitlines()[2:]]
    assert len(rows) >= 6
    for query, text, fires, _why in rows:
        query = query.removeprefix("| `").removesuffix("`")
        title = ""
        if text.startswith("title "):
            title, text = text.removeprefix("title ").split(", text ")
        m = Matcher(Watchlist(aliases=aliases, topics=(Topic("t", "T", query=query),)))
        assert bool(m.match(title, text)) is (fires == "yes"), (query, text)


def test_a_term_under_two_nots_is_matched_too() -> None:
    # Every alert lists at least one term (the alert contract): here `a`, through two NOTs.
    found = match("NOT (b OR NOT a)", "a")
    assert found is not None and found.matched == ("a",)
    assert match("NOT (b OR NOT a)", "a b") is None
