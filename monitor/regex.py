"""Watchlist regexes: the RE2 options and how a pattern is compiled, in one place.

The config checks each pattern exactly as the matcher will run it. Pure: imports only `re2`
and `monitor.text`, no I/O.
"""

from __future__ import annotations

from typing import Any

import re2

from monitor.text import to_simplified

RegexError = re2.error  # what RE2 raises for a pattern it refuses


def regex_options() -> Any:
    """RE2 options for watchlist regexes: case-insensitive (the text is case-folded anyway)
    and quiet (RE2 logs a bad pattern to stderr itself otherwise)."""
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    return options


def compile_regex(pattern: str) -> Any:
    """A watchlist regex, compiled as it runs: on normalized text, Chinese folded to Simplified.

    RE2 guarantees time linear in the text (no backtracking), so no pattern can hang the
    matcher; `re2.error` for a pattern RE2 refuses (the config reports those at load).
    """
    return re2.compile(to_simplified(pattern), regex_options())
