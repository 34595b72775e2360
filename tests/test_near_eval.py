"""The near-duplicate evaluation set (tests/data/near, README there) through `monitor run
--once`: no hard negative merged into another's story, at most 5 % of copies alerting again.
The tuned and the frozen part are separate folders (sources), reported apart."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from monitor.cli import main

DATA = Path(__file__).resolve().parent / "data" / "near"
CONFIG = """
database = "sqlite:///var/monitor.db"
watchlist = "watchlist.toml"

[[folders]]
id = "tune"
path = "{data}/tune"

[[folders]]
id = "frozen"
path = "{data}/frozen"

[[notifiers]]
name = "archive"
type = "jsonl"
path = "var/alerts.jsonl"
"""
# One topic that every text matches: an alert per story, and one more per copy missed.
WATCHLIST = '[[topics]]\nid = "everything"\nregex = ["."]\n'


def group_of(name: str) -> str:
    """gz03-2-mainland → gz03 (a group of copies); a negative is a group of its own."""
    return name.split("-")[0] if name.startswith("g") else name


@pytest.fixture(scope="module")
def alerted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Counter[str]]:
    """source → how many alerts each group got."""
    work = tmp_path_factory.mktemp("near-eval")
    (work / "monitor.toml").write_text(CONFIG.format(data=DATA.as_posix()), encoding="utf-8")
    (work / "watchlist.toml").write_text(WATCHLIST, encoding="utf-8")
    assert main(["--config", str(work / "monitor.toml"), "run", "--once"]) == 0
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for line in (work / "var" / "alerts.jsonl").read_text(encoding="utf-8").splitlines():
        article = json.loads(line)["article"]
        counts[article["source"]][group_of(Path(article["location"]).stem)] += 1
    return counts


@pytest.mark.parametrize("part", ["tune", "frozen"])
def test_no_hard_negative_is_merged(part: str, alerted: dict[str, Counter[str]]) -> None:
    negatives = sorted(p.stem for p in (DATA / part).glob("n*.txt"))
    assert negatives
    assert [n for n in negatives if alerted[part][n] != 1] == []


@pytest.mark.parametrize("part", ["tune", "frozen"])
def test_at_most_5_percent_of_copies_alert_again(
    part: str, alerted: dict[str, Counter[str]]
) -> None:
    files = [p.stem for p in (DATA / part).glob("g*.txt")]
    groups = {group_of(f) for f in files}
    copies = len(files) - len(groups)
    again = sum(alerted[part][g] - 1 for g in groups)
    assert all(alerted[part][g] >= 1 for g in groups)
    print(f"{part}: {len(groups)} groups, {copies} copies, {again} alerted again")
    assert again <= 0.05 * copies


def test_the_set_is_as_large_as_promised() -> None:
    names = [p.stem for p in DATA.glob("*/*.txt")]
    assert len({group_of(n) for n in names if n.startswith("g")}) >= 40
    assert sum(n.startswith("n") for n in names) >= 30
    assert sum(n.startswith("nb") for n in names) >= 10  # templated briefings
    assert sum(n.startswith("np") and n.endswith("-a") for n in names) >= 10  # pairs
