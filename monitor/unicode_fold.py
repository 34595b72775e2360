"""NFKC and case folding of a text in one regular-expression pass, where that is exact.

`monitor.text` folds a text with NFKC and case folding, and maps every folded character back
to the original one, so a hit shows what the article really says. The map is the identity
when the whole text's fold equals the concatenation of each character's own fold and every
character folds to exactly one. Proving that by folding the text twice (NFKC of the whole,
then a table lookup per character) was a fifth of a parse worker's time. Instead, one search
finds the characters that matter:

- **special** ones, which can break the identity: a character whose own fold is not one
  character long ("…" → "...", "ß" → "ss", "㎏"), or one that NFKC may join to what precedes
  it or reorder with it (the first character of its compatibility decomposition has a
  non-zero canonical combining class, as accents and Indic signs do, or composes with a
  preceding character: the second half of a canonical pair such as U+0CD5, Hangul medial
  vowels and final consonants). Every astral character counts as special (see
  `_compiled`);
- **changed** ones, the rest of those NFKC changes (full-width forms, compatibility
  ideographs, U+00A0).

A text with no special character starts a new normalization segment at every character, so
NFKC of the whole is the concatenation of NFKC of each character, and case folding works
character by character anyway: replacing each changed character by its NFKC form and case
folding the result is the fold, one to one. Chinese news has a dozen distinct changed
characters (its full-width punctuation), so that is a few `str.replace` calls.

Finding the two sets takes a pass over every code point (a second); they are shipped as
`monitor/data/fold-special.tsv` for the Unicode version they were computed with
(`python -m monitor.unicode_fold > monitor/data/fold-special.tsv`). A Python with another
Unicode version gets None from `fold_by_characters`, and `monitor.text` folds the texts
whole, as before. tests/test_text.py checks the file against this module's computation and
the result against NFKC on random texts.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from functools import cache
from pathlib import Path

TABLE = Path(__file__).resolve().parent / "data" / "fold-special.tsv"
_HEADER = "# Unicode {version}: ranges of (S)pecial and NFKC-(C)hanged characters"

Ranges = list[tuple[int, int]]


def classify() -> tuple[Ranges, Ranges]:
    """(special, changed) code points of this Python's Unicode version, as inclusive ranges."""
    normalize, combining = unicodedata.normalize, unicodedata.combining
    # Characters that compose with a preceding one: second halves of canonical pairs, plus
    # the Hangul jamo that the composition algorithm joins (not in the decomposition data).
    joins_back = {*range(0x1161, 0x1176), *range(0x11A8, 0x11C3)}
    for code in range(sys.maxunicode + 1):
        decomposition = unicodedata.decomposition(chr(code))
        if decomposition and not decomposition.startswith("<"):
            parts = decomposition.split()
            if len(parts) == 2:
                joins_back.add(int(parts[1], 16))
    special: Ranges = []
    changed: Ranges = []
    for code in range(sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF:
            continue  # surrogates: never in a decoded text
        char = chr(code)
        lead = normalize("NFKD", char)[:1]
        nfkc = normalize("NFKC", char)
        if len(nfkc.casefold()) != 1 or (lead and (combining(lead) or ord(lead) in joins_back)):
            _add(special, code)
        elif nfkc != char:
            _add(changed, code)
    return special, changed


def _add(ranges: Ranges, code: int) -> None:
    if ranges and ranges[-1][1] == code - 1:
        ranges[-1] = (ranges[-1][0], code)
    else:
        ranges.append((code, code))


def dump() -> str:
    """The table file for this Python's Unicode version."""
    special, changed = classify()
    lines = [_HEADER.format(version=unicodedata.unidata_version)]
    lines += [f"S\t{start:04X}\t{end:04X}" for start, end in special]
    lines += [f"C\t{start:04X}\t{end:04X}" for start, end in changed]
    return "\n".join(lines) + "\n"


def load_table(path: Path = TABLE) -> tuple[str, Ranges, Ranges]:
    """(Unicode version, special ranges, changed ranges) from a table file."""
    lines = path.read_text("utf-8").splitlines()
    version = lines[0].removeprefix("# Unicode ").split(":")[0]
    sections: dict[str, Ranges] = {"S": [], "C": []}
    for line in lines[1:]:
        kind, start, end = line.split("\t")
        sections[kind].append((int(start, 16), int(end, 16)))
    return version, sections["S"], sections["C"]


@cache
def _compiled() -> tuple[re.Pattern[str], frozenset[str]] | None:
    """A pattern that finds special and changed characters, and the special ones of the Basic
    Multilingual Plane; None when the shipped table is for another Unicode version."""
    version, special, changed = load_table()
    if version != unicodedata.unidata_version:
        return None
    # Every astral character is taken as special: a class of Basic Multilingual Plane ranges
    # compiles to a lookup table, while one astral range makes the regular expression engine
    # test each range in turn, 70 times slower. Astral characters are rare in news (an emoji,
    # a rare ideograph); a text with one is folded whole, then compared.
    bmp = [(start, min(end, 0xFFFF)) for start, end in (*special, *changed) if start <= 0xFFFF]
    pattern = re.compile(
        "["
        + "".join(f"\\u{start:04x}-\\u{end:04x}" for start, end in bmp)
        + "\\U00010000-\\U0010ffff]"
    )
    chars = frozenset(chr(c) for start, end in special for c in range(start, min(end, 0xFFFF) + 1))
    return pattern, chars


def fold_by_characters(text: str) -> str | None:
    """`NFKC(text).casefold()`, each character folded to one, so offsets are the text's;
    None when the text has a special character (or this Python another Unicode version)."""
    compiled = _compiled()
    if compiled is None:
        return None
    pattern, special = compiled
    found = set(pattern.findall(text))
    for char in found:
        if char in special or char > "\uffff":
            return None
    for char in found:
        text = text.replace(char, unicodedata.normalize("NFKC", char))
    return text.casefold()


if __name__ == "__main__":
    sys.stdout.write(dump())
