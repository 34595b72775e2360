"""Coverage-guided fuzzing of the ingest function with atheris (RELIABILITY.md G2, bench column).

    .venv/bin/pip install -c constraints.txt -e '.[bench]'   # atheris, jsonschema
    .venv/bin/python bench/fuzz.py -max_total_time=1800 -timeout=2 -rss_limit_mb=512 var/fuzz-corpus

The function under test is tests/hostile/ingest.py (the same one the Hypothesis properties
use): the first input byte picks feed parsing or a file content type, the rest is the body;
it runs parse → extract → match → console/jsonl rendering with their output checks. Only
SourceError/ExtractError may escape. A crash, a unit slower than -timeout or an allocation
over -rss_limit_mb is a finding: libFuzzer writes it as crash-*/timeout-*/oom-* (see
-artifact_prefix); copy it to tests/data/fuzz/<name>.bin and fix the defence.
The seed corpus is tests/data/fuzz/ and tests/data/feedparser-corpus/.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.simplefilter("ignore")

with atheris.instrument_imports(include=["monitor", "feedparser", "bs4"]):
    from tests.hostile import ingest


def test_one_input(data: bytes) -> None:
    if not data:
        return
    mode = data[0] % (len(ingest.CONTENT_TYPES) + 1)
    body = data[1:]
    if mode == 0:
        ingest.ingest_feed(body)
    else:
        ingest.ingest_file(body, ingest.CONTENT_TYPES[mode - 1])


def main() -> None:
    args = list(sys.argv)
    if not any(not a.startswith("-") for a in args[1:]):
        corpus = ROOT / "var" / "fuzz-corpus"
        corpus.mkdir(parents=True, exist_ok=True)
        data = ROOT / "tests" / "data"
        seeds = [*sorted((data / "fuzz").glob("*.bin")),
                 *sorted((data / "feedparser-corpus").rglob("*.xml"))[:300]]  # fmt: skip
        for seed in seeds:
            target = corpus / f"seed-{seed.name}"
            if not target.exists():
                target.write_bytes(b"\0" + seed.read_bytes())
        args.append(str(corpus))
    os.makedirs(ROOT / "var" / "fuzz-findings", exist_ok=True)
    args.append(f"-artifact_prefix={ROOT / 'var' / 'fuzz-findings'}/")
    atheris.Setup(args, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
