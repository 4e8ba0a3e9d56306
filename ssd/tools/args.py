"""What every tool's command line shares: options anywhere among ``KEY VALUE`` config overrides,
``--debug``, and one-line errors for user mistakes.

Usage in a tool::

    @entry_point
    def main(argv: list[str] | None = None) -> int:
        parser = argparse.ArgumentParser(...)
        parser.add_argument("--config-file", ...)
        add_overrides(parser)
        args = parse_args(parser, argv)   # args.opts: the KEY VALUE list, args.debug

An override key is a dotted config key with an upper-case first part (``SOLVER.MAX_ITER``,
``OUTPUT_DIR``, ``DATASETS.CATALOG.mine.ROOT``); the
token after it is its value whatever it looks like (``SEED -1``). Every other token is parsed by
argparse, so ``--json`` may come before or after the overrides.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import sys
from collections.abc import Callable, Sequence

# an upper-case section, then any parts (user-declared DATASETS.CATALOG names may be lower-case)
OVERRIDE_KEY = re.compile(r"^[A-Z][A-Z0-9_]*(?:\.[A-Za-z0-9_]+)*$")
DEBUG_ENV = "SSD_DEBUG"
# Mistakes a user can fix (a config key, a data file, a checkpoint, a download): one line, no
# traceback. ValueError / KeyError carry the config's and the datasets' messages, OSError the
# missing files, corrupt images and failed downloads.
USER_ERRORS = (ValueError, KeyError, OSError)

__all__ = ["USER_ERRORS", "add_overrides", "debug_requested", "entry_point", "parse_args", "split_overrides"]


def add_overrides(parser: argparse.ArgumentParser) -> None:
    """Declare the ``KEY VALUE`` overrides (shown in ``--help``; collected by :func:`parse_args`)."""
    parser.add_argument("opts", nargs="*", metavar="KEY VALUE",
                        help="config overrides, e.g. SOLVER.MAX_ITER 100 OUTPUT_DIR outputs/try1 "
                             "(before or after the options)")


def _option(parser: argparse.ArgumentParser, token: str) -> argparse.Action | None:
    """The action of option ``token`` (``--name``, ``--name=value`` or a unique prefix), if any."""
    name = token.split("=", 1)[0]
    actions = parser._option_string_actions  # argparse keeps no public map from option to action
    if name in actions:
        return actions[name]
    if parser.allow_abbrev and name.startswith("--"):
        matches = {actions[o] for o in actions if o.startswith(name)}
        if len(matches) == 1:
            return matches.pop()
    return None


def _is_option_like(token: str) -> bool:
    return token.startswith("-") and not re.match(r"^-\d", token)


def split_overrides(parser: argparse.ArgumentParser, argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """``(argparse tokens, KEY VALUE tokens)``: an option's values stay with the option, an
    upper-case dotted key and the token after it are an override, ``--`` ends the options."""
    options: list[str] = []
    overrides: list[str] = []
    i, argv = 0, list(argv)
    while i < len(argv):
        token = argv[i]
        if token == "--":
            overrides += argv[i + 1:]
            break
        action = _option(parser, token) if _is_option_like(token) else None
        if action is not None:
            options.append(token)
            i += 1
            if "=" in token:
                continue
            nargs = action.nargs
            if nargs is None or isinstance(nargs, int):
                count = 1 if nargs is None else nargs
                options += argv[i:i + count]
                i += count
            elif nargs in ("?", "*", "+"):
                while i < len(argv) and not _is_option_like(argv[i]) and not OVERRIDE_KEY.match(argv[i]):
                    options.append(argv[i])
                    i += 1
                    if nargs == "?":
                        break
            continue
        if OVERRIDE_KEY.match(token):
            if i + 1 >= len(argv):
                parser.error(f"the override {token} has no value (overrides are KEY VALUE pairs)")
            overrides += [token, argv[i + 1]]
            i += 2
            continue
        options.append(token)
        i += 1
    return options, overrides


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``argv`` (default ``sys.argv[1:]``) with options anywhere among the overrides.

    Adds ``--debug`` to ``parser``. ``args.opts`` is the ``KEY VALUE`` list (``[]`` for a tool
    without :func:`add_overrides`). A stray token that is neither an option nor an upper-case
    key is an error quoting it.
    """
    if "--debug" not in parser._option_string_actions:
        parser.add_argument("--debug", action="store_true",
                            help=f"show the full traceback of an error (or set {DEBUG_ENV}=1)")
    takes_overrides = any(a.dest == "opts" for a in parser._actions)
    argv = list(sys.argv[1:] if argv is None else argv)
    if not takes_overrides:
        return parser.parse_args(argv)
    options, overrides = split_overrides(parser, argv)
    args = parser.parse_args(options)
    if args.opts:
        parser.error(f"unexpected argument(s) {args.opts}: options start with '-' and overrides are KEY VALUE "
                     "pairs with an upper-case config key, e.g. MODEL.NUM_CLASSES 5")
    args.opts = overrides
    return args


def debug_requested(argv: Sequence[str]) -> bool:
    return "--debug" in argv or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def _message(error: BaseException) -> str:
    # str(KeyError("x")) is "'x'": show the message itself
    text = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    return str(text) or type(error).__name__


def entry_point(main: Callable[[list[str]], int | None]) -> Callable[[list[str] | None], int]:
    """Wrap a tool's ``main(argv)``: a user mistake (see ``USER_ERRORS``) prints one line,
    ``error: <message>``, on stderr and returns 1; ``--debug`` or ``SSD_DEBUG=1`` lets it raise
    with its traceback. Ctrl-C returns 130 without a traceback."""

    @functools.wraps(main)
    def run(argv: list[str] | None = None) -> int:
        argv = list(sys.argv[1:] if argv is None else argv)
        if debug_requested(argv):
            return int(main(argv) or 0)
        try:
            return int(main(argv) or 0)
        except USER_ERRORS as e:
            print(f"error: {_message(e)}  (--debug or {DEBUG_ENV}=1 shows the traceback)", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130

    return run
