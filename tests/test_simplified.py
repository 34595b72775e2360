"""monitor's `t2s` is OpenCC's: same dictionaries, same segmentation, same output.

The content hash and every match depend on it, so the shipped dump of OpenCC's dictionaries
must be the installed OpenCC's, and the fast converter must give OpenCC's text on real
articles and on text built to trip segmentation (phrases overlapping, abutting, nested).
"""

from __future__ import annotations

import random
import unicodedata
from pathlib import Path

import opencc
import pytest

from monitor import simplified, text
from monitor.simplified import Converter, load_table

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def both() -> tuple[Converter, opencc.OpenCC]:
    _version, phrases, characters = load_table()
    return Converter(phrases, characters), opencc.OpenCC("t2s")


def test_the_shipped_dictionaries_are_the_installed_openccs() -> None:
    assert simplified.TABLE.read_text("utf-8") == simplified.dump_opencc()


def test_real_articles_convert_as_opencc_converts_them(
    both: tuple[Converter, opencc.OpenCC],
) -> None:
    fast, reference = both
    paths = sorted((ROOT / "seeds").glob("*")) + sorted((ROOT / "tests" / "data").rglob("*"))
    compared = 0
    for path in paths:
        if not path.is_file():
            continue
        raw = path.read_bytes().decode("utf-8", errors="replace").replace("\x00", "")
        folded = unicodedata.normalize("NFKC", raw).casefold()
        assert fast.convert(folded) == reference.convert(folded), path
        compared += 1
    assert compared > 100


@pytest.mark.parametrize("seed", range(3))
def test_phrases_and_characters_in_any_arrangement_convert_as_opencc(
    both: tuple[Converter, opencc.OpenCC], seed: int
) -> None:
    """Every dictionary key, and random runs of keys, their conversions, and other text:
    phrases that overlap, abut, or hold one another are where segmentation could differ."""
    fast, reference = both
    _version, phrases, characters = load_table()
    pieces = [*phrases, *phrases.values(), *characters, *characters.values()]
    pieces += ["a", " ", "\n", "，", "1", "NATO", "é", "𠮷", "\u3000", "\ufffd"]
    if seed == 0:
        for piece in pieces:
            assert fast.convert(piece) == reference.convert(piece), piece
    rng = random.Random(seed)
    for _ in range(5_000):
        sample = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 30)))
        assert fast.convert(sample) == reference.convert(sample), sample


@pytest.mark.parametrize("seed", range(2))
def test_long_texts_convert_as_opencc_through_the_lookup_table(
    both: tuple[Converter, opencc.OpenCC], seed: int
) -> None:
    """Texts of an article's length take the numpy table (simplified._ARRAY_FROM); with an
    astral character they take `str.translate`."""
    fast, reference = both
    _version, phrases, characters = load_table()
    pieces = [*phrases, *characters, *characters.values(), "a", " ", "\n", "，", "NATO", "é"]
    bmp_pieces = [p for p in pieces if max(p) <= "\uffff"]
    rng = random.Random(seed)
    for n in range(400):
        sample = "".join(rng.choice(bmp_pieces) for _ in range(rng.randint(64, 300)))
        assert len(sample) >= simplified._ARRAY_FROM
        if n % 4 == 1:
            sample += rng.choice([p for p in pieces if max(p) > "\uffff"])  # an astral key
        assert fast.convert(sample) == reference.convert(sample), sample


def test_text_after_a_nul_is_converted_and_hashed(both: tuple[Converter, opencc.OpenCC]) -> None:
    """OpenCC stops at NUL; two articles that differ after one must not hash alike."""
    fast, _reference = both
    assert fast.convert("俄羅斯\x00臺灣") == "俄罗斯\x00台湾"
    body = "外交部發言人表示將與各方保持密切溝通，分析人士認為局勢仍不明朗。"
    assert text.content_hash(body + "\x00甲") != text.content_hash(body + "\x00乙")


def test_another_opencc_version_is_used_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(opencc, "__version__", "9.9.9", raising=False)
    convert = simplified.converter()
    assert not isinstance(getattr(convert, "__self__", None), Converter)
    assert convert("臺灣") == "台湾"
    monkeypatch.undo()
    assert isinstance(getattr(simplified.converter(), "__self__", None), Converter)
