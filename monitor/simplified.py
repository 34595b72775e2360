"""Traditional → Simplified Chinese exactly as OpenCC's `t2s` converts, at C-built-in speed.

OpenCC converts about 2 M characters/s here: a millisecond per feed article, the largest cost
left in a parse worker. Its `t2s` is two dictionaries (its `t2s.json`): TSPhrases segments the
text by forward maximum matching (at each position the longest phrase that starts there, else
one character), and each phrase takes its first candidate, each other character its first
TSCharacters candidate. The same rules in Python: an Aho-Corasick automaton in leftmost-longest
mode finds exactly those phrases, and the characters are converted one to one, through a numpy
lookup table for an article-sized text (`str.translate` for a short one).

The dictionaries are OpenCC's own, dumped from the installed wheel by its `opencc_dict` tool
into `monitor/data/opencc-t2s.tsv` (`python -m monitor.simplified > monitor/data/opencc-t2s.tsv`);
tests/test_simplified.py checks the file against the installed OpenCC and both converters
against each other. An OpenCC of another version than the file's is used as it is.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

TABLE = Path(__file__).resolve().parent / "data" / "opencc-t2s.tsv"
_HEADER = "# OpenCC {version} t2s"


# From this many characters on, the characters are converted through a numpy lookup table:
# `str.translate` looks each character up in a dict (~60 ns for a CJK one, an int object
# made for each), the table ~5 ns plus ~5 µs to set up.
_ARRAY_FROM = 64


class Converter:
    """`t2s` from the phrase and character dictionaries (first candidates)."""

    def __init__(self, phrases: dict[str, str], characters: dict[str, str]) -> None:
        import ahocorasick_rs

        self._characters = str.maketrans(characters)
        self._phrases = list(phrases.values())
        self._finder = ahocorasick_rs.AhoCorasick(
            list(phrases), matchkind=ahocorasick_rs.MatchKind.LeftmostLongest
        )
        # One character to one, as OpenCC's TSCharacters is: a converted text keeps its
        # offsets, and a lookup table over the Basic Multilingual Plane can convert it.
        if not all(len(k) == len(v) == 1 for k, v in characters.items()):
            raise ValueError("characters: each must convert to one character")
        self._table: Any = None

    def convert(self, text: str) -> str:
        found = self._finder.find_matches_as_indexes(text)
        converted = self._characters_converted(text)
        if not found:
            return converted
        pieces: list[str] = []
        last = 0
        for phrase, start, end in found:  # offsets are the same in `converted`
            pieces.append(converted[last:start])
            pieces.append(self._phrases[phrase])
            last = end
        pieces.append(converted[last:])
        return "".join(pieces)

    def _characters_converted(self, text: str) -> str:
        """Every character through TSCharacters; a table lookup each when the text is long
        and has no astral character (a rare ideograph, an emoji: then `str.translate`)."""
        if len(text) < _ARRAY_FROM:
            return text.translate(self._characters)
        import numpy as np

        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        if codes.max() > 0xFFFF:
            return text.translate(self._characters)
        if self._table is None:
            bmp = {k: ord(v) for k, v in self._characters.items() if k <= 0xFFFF}
            table = np.arange(0x10000, dtype=np.uint32)
            table[np.fromiter(bmp, np.uint32)] = np.fromiter(bmp.values(), np.uint32)
            self._table = table
        return self._table[codes].tobytes().decode("utf-32-le")


def load_table(path: Path = TABLE) -> tuple[str, dict[str, str], dict[str, str]]:
    """(OpenCC version, phrases, characters) from a table file."""
    lines = path.read_text("utf-8").splitlines()
    version = lines[0].removeprefix("# OpenCC ").split()[0]
    sections: dict[str, dict[str, str]] = {"P": {}, "C": {}}
    for line in lines[1:]:
        kind, key, value = line.split("\t")
        sections[kind][key] = value
    return version, sections["P"], sections["C"]


def converter() -> Callable[[str], str]:
    """The fast converter when the table is the installed OpenCC's, else OpenCC's own."""
    import opencc

    version, phrases, characters = load_table()
    if getattr(opencc, "__version__", None) == version:
        return Converter(phrases, characters).convert
    return opencc.OpenCC("t2s").convert


def dump_opencc() -> str:
    """The table file for the installed OpenCC, from its own dictionaries."""
    import opencc

    clib = Path(opencc.__file__).parent / "clib"
    tool, data = clib / "bin" / "opencc_dict", clib / "share" / "opencc"
    lines = [_HEADER.format(version=opencc.__version__) + ": first candidates, phrases (P) "
             "then characters (C), dumped by its opencc_dict"]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for kind, name in (("P", "TSPhrases"), ("C", "TSCharacters")):
            out = Path(tmp, f"{name}.txt")
            subprocess.run(
                [tool, "-i", data / f"{name}.ocd2", "-o", out, "-f", "ocd2", "-t", "text"],
                check=True,
            )
            for line in out.read_text("utf-8").splitlines():
                key, candidates = line.split("\t")
                lines.append(f"{kind}\t{key}\t{candidates.split(' ')[0]}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(dump_opencc())
