#!/usr/bin/env python
"""Write docs/config-reference.md: every key of ssd/config/defaults.py with its default and meaning.

    python tools/gen_config_reference.py            # rewrite the page
    python tools/gen_config_reference.py --check    # exit 1 when the page is stale (what the docs test checks)

The meaning is the key's own comment in defaults.py (its inline comment, after the comment block
right above it when there is one), so the page cannot say something the defaults do not. A key
without a comment is an error naming it: defaults.py promises one for every key.
"""

from __future__ import annotations

import argparse
import ast
import io
import os
import sys
import tokenize
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULTS = os.path.join(ROOT, "ssd", "config", "defaults.py")
PAGE = os.path.join(ROOT, "docs", "config-reference.md")

HEADER = """---
hide:
  - toc
---

# Config reference

Every key of the config, its default and what it means, generated from the comments of
`ssd/config/defaults.py` by `python tools/gen_config_reference.py` (a test fails when this page
and the defaults disagree). How configs are written, inherited and overridden: [Configs](configs.md).
"""


@dataclass(frozen=True)
class Entry:
    """One declared key: ``key`` dotted without ``_C`` (``MODEL.NUM_CLASSES``); ``node`` True for a
    ``CN()`` section; ``default`` its value as Python source; ``note`` the comment block above it."""

    key: str
    node: bool
    default: str
    comment: str
    note: str


def _dotted(target: ast.expr) -> str | None:
    parts = []
    while isinstance(target, ast.Attribute):
        parts.append(target.attr)
        target = target.value
    if isinstance(target, ast.Name) and target.id == "_C" and parts:
        return ".".join(reversed(parts))
    return None


def _comments(source: str) -> tuple[dict[int, str], dict[int, str]]:
    """(inline comments by line, comment-only lines by line), the text after ``#`` stripped."""
    inline, alone = {}, {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            text = tok.string[1:].strip()
            (alone if tok.line.strip().startswith("#") else inline)[tok.start[0]] = text
    return inline, alone


def parse_defaults(source: str, path: str = DEFAULTS) -> list[Entry]:
    """Every ``_C.X.Y = value`` of a defaults file in file order, with its comments.

    Raises ``ValueError`` naming the file and the key when a key (a ``CN()`` section excepted) has
    no inline comment."""
    inline, alone = _comments(source)
    entries = []
    for stmt in ast.parse(source).body:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1):
            continue
        key = _dotted(stmt.targets[0])
        if key is None:
            continue
        value = stmt.value
        node = isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "CN"
        comment = " ".join(inline[n] for n in range(stmt.lineno, stmt.end_lineno + 1) if n in inline)
        block, line = [], stmt.lineno - 1
        while line in alone:
            block.insert(0, alone[line])
            line -= 1
        note = "" if any(set(b) <= {"-"} for b in block) else " ".join(block)  # section banners are not notes
        if not node and not comment:
            raise ValueError(f"{path}: config key {key} has no comment; every key needs a one-line meaning")
        entries.append(Entry(key, node, ast.get_source_segment(source, value) or "", comment, note))
    return entries


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(entries: list[Entry]) -> str:
    """The Markdown page: one table per config section (a section's keys together even where
    defaults.py returns to it later), sections in the order they first appear."""
    notes: dict[str, str] = {}
    rows: dict[str, list[str]] = {}
    for e in entries:
        if e.node and not e.comment:  # a section: MODEL, MODEL.BACKBONE, ...
            notes[e.key] = e.note
            rows.setdefault(e.key, [])
            continue
        default = "`{}`" if e.node else f"`{_cell(e.default)}`"
        # the note comes after the comment on the page, so the comment's "see above" points below
        meaning = f"{e.comment.replace('(see above)', '(see below)')}<br>{e.note}" if e.note else e.comment
        rows.setdefault(e.key.rpartition(".")[0], []).append(f"| `{e.key}` | {default} | {_cell(meaning)} |")
    lines = [HEADER]
    for name, table in rows.items():
        lines += ["", f"## `{name}`" if name else "## Top level", ""]
        if notes.get(name):
            lines += [notes[name], ""]
        lines += ["| key | default | meaning |", "|---|---|---|", *table] if table else ["(sections only)"]
    return "\n".join(lines).rstrip("\n") + "\n"


def generate(defaults: str = DEFAULTS) -> str:
    with open(defaults, encoding="utf-8") as f:
        return render(parse_defaults(f.read(), defaults))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if the page differs from the defaults")
    parser.add_argument("--output", default=PAGE)
    args = parser.parse_args(argv)
    try:
        text = generate()
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.check:
        current = open(args.output, encoding="utf-8").read() if os.path.isfile(args.output) else ""
        if current != text:
            print(f"error: {args.output} is stale; run python tools/gen_config_reference.py", file=sys.stderr)
            return 1
        return 0
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
