"""Check a contract's ``pattern`` with every regular-expression engine that will run it.

A pattern runs in three engines: polars (Rust ``regex``) at enforcement, DuckDB (RE2) in the
contract checks on the stored table (:mod:`pipeline.checks`), and Python's ``re`` in the Great
Expectations validation (:mod:`quality`). Their dialects differ: Python accepts look-arounds and
back-references that neither Rust nor RE2 knows, RE2 refuses possessive quantifiers and ``(?x)``
that Rust accepts, and Rust caps the compiled size. A pattern one engine refuses would fail every
run, so the loader refuses it up front with that engine's own message
(:func:`pattern_problems`). All three are linear-time or bounded engines for the parts that run on
every row (Rust, RE2); Python's ``re`` only sees GX's sample.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Engine messages can be long (Rust draws the pattern with a caret); one line of this many
# characters is enough to say what is wrong.
_MAX_MESSAGE = 300


def _one_line(text: str) -> str:
    line = " ".join(part.strip() for part in str(text).splitlines() if part.strip())
    return line if len(line) <= _MAX_MESSAGE else line[: _MAX_MESSAGE - 1] + "…"


@lru_cache(maxsize=256)
def pattern_problems(pattern: str) -> tuple[str, ...]:
    """What each engine that runs ``pattern`` says is wrong with it; empty when all accept it.

    >>> pattern_problems("^ORD-[0-9]{6}$")
    ()
    >>> [p.split(":")[0] for p in pattern_problems("(?=x)")]
    ['polars (Rust regex, contract enforcement)', 'DuckDB (RE2, contract checks)']
    """
    problems = []
    try:
        re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as err:
        problems.append(f"Python re (Great Expectations validation): {_one_line(str(err))}")
    import polars as pl

    try:
        pl.select(pl.lit("", dtype=pl.String).str.contains(pattern))
    except Exception as err:  # polars raises ComputeError; any refusal is a refusal
        message = str(err).removeprefix("regex error: ").split("This error occurred")[0]
        problems.append(f"polars (Rust regex, contract enforcement): {_one_line(message)}")
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("select regexp_matches('', ?)", [pattern]).fetchall()
    except duckdb.Error as err:
        message = str(err).removeprefix("Invalid Input Error: ")
        problems.append(f"DuckDB (RE2, contract checks): {_one_line(message)}")
    finally:
        con.close()
    return tuple(problems)
