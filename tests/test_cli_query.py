"""Queries through the command line: the alert's `matched`/`found`, `explain` (text and
JSON), `check` warnings and `check --queries`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.cli import main

TOPICS = """
[[topics]]
id = "cn-ru-near"
query = '(中國 OR China) NEAR/5 (俄羅斯 OR Russia) AND NOT 足球'

[[topics]]
id = "sanctions"
query = 'sanction* AND title:(Putin)'

[[topics]]
id = "careless"
query = 'North Korea or Russia'
"""

ARTICLE = "Putin warns on sanctions\n\nNew sanctions were announced. China, after talks, said Russia is a partner.\n"


def run(workdir: Path, *args: str) -> int:
    return main(["--config", str(workdir / "monitor.toml"), *args])


@pytest.fixture
def queries(workdir: Path) -> Path:
    with (workdir / "watchlist.toml").open("a", encoding="utf-8") as f:
        f.write(TOPICS)
    article = workdir / "inbox" / "a.txt"
    article.write_text(ARTICLE, encoding="utf-8")
    return article


def test_alerts_list_the_query_terms_as_written_and_as_found(
    workdir: Path, queries: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(workdir, "run", "--once") == 0
    alerts = [
        json.loads(line) for line in (workdir / "var" / "alerts.jsonl").read_text().splitlines()
    ]
    by_topic = {a["topic"]["id"]: a for a in alerts}
    # 中國 and China are one alias class in the default watchlist: both terms hit.
    assert by_topic["cn-ru-near"]["matched"] == ["中國", "China", "俄羅斯", "Russia"]
    assert by_topic["cn-ru-near"]["found"] == ["China", "Russia"]
    assert by_topic["sanctions"]["matched"] == ["sanction*", "Putin"]
    assert by_topic["sanctions"]["found"] == ["Putin", "sanctions"]
    # Lower-case `or` is a term: North AND Korea AND or AND Russia (`monitor check` warns).
    assert "careless" not in by_topic


def test_explain_shows_the_query_tree(
    workdir: Path, queries: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(workdir, "explain", "--no-color", str(queries)) == 0
    out = capsys.readouterr().out
    assert "✔ NEAR/5  closest: China (text) … Russia (text), 3 tokens apart" in out
    # The spaces beside the hits are kept: "said [Russia] is", not "said[Russia]is".
    assert "text: …ons were announced. [China], after talks, said [Russia] is a partner.…" in out
    assert "✔ sanction*\n" in out
    assert "text: …Putin warns on sanctions New [sanctions] were announced. China, after…" in out
    assert "✘ careless (careless): the query does not hold" in out
    assert "✘ 足球" in out
    assert run(workdir, "explain", "--json", str(queries)) == 0
    topics = {t["id"]: t for t in json.loads(capsys.readouterr().out)[0]["topics"]}
    tree = topics["cn-ru-near"]["query"]
    assert tree["op"] == "AND" and tree["matched"] is True
    near = tree["children"][0]
    assert near["op"] == "NEAR/5" and near["distance"] == 3
    assert [h["found"] for h in near["pair"]] == ["China", "Russia"]
    assert near["children"][0]["children"][1] == {
        "term": "China",
        "hits": [{"field": "text", "found": "China", "offset": 55}],
    }
    assert tree["children"][1] == {
        "op": "NOT",
        "matched": True,
        "children": [{"term": "足球", "hits": []}],
    }
    assert topics["putin"]["query"] is None


def test_check_warns_about_lower_case_operators_and_unquoted_phrases(
    workdir: Path, queries: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(workdir, "check") == 0
    out = capsys.readouterr().out
    assert (
        "topic careless: query has 'or' at character 13: a term, not an operator (operators "
        'are upper case: OR); write "or" to mean the word'
    ) in out
    assert (
        "topic careless: query has North Korea unquoted at character 1: 2 terms (AND), while "
        "'North Korea' is a spelling of the alias class '北韓'; write \"North Korea\" for the phrase"
    ) in out
    assert "topic cn-ru-near:" not in out


def test_check_queries_writes_every_topic_as_a_query(
    workdir: Path, queries: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with (workdir / "watchlist.toml").open("a", encoding="utf-8") as f:
        f.write(
            '\n[[topics]]\nid = "guarded"\nany = [{ term = "中美", except = ["中美洲"] }, "AND"]'
            '\nregex = ["x+"]\nmin_hits = 2\n'
        )
    assert run(workdir, "check", "--queries") == 0
    out = capsys.readouterr().out
    assert (
        "topic      china-russia-arms: (中國 OR 中方) AND (俄羅斯 OR 俄軍) AND (武器 OR 彈藥 OR 軍援 OR "
        "火砲 OR 無人機 OR weapons OR ammunition) AND NOT 足球\n"
    ) in out
    assert (
        'topic      nuclear-arsenals: (核武庫 OR 核彈頭 OR 核武器 OR 核力量 OR "nuclear arsenal" OR warheads)'
        in out
    )
    assert "topic      sanctions: sanction* AND title:(Putin)\n" in out
    # The regex is an alternative to the any group: the group is printed, the regex listed.
    assert 'topic      guarded: (中美 OR "AND")\n' in out
    assert (
        "not expressible as a query: except, min_hits = 2, regex (an alternative to the any "
        "group)\n"
    ) in out
