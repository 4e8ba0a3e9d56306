"""The fenced blocks a docs page marks with ``<!-- docs-test: NAME -->``, and how the docs tests
run them: ``ssd`` commands made tiny and run in-process, other shell lines through bash."""

from __future__ import annotations

import os
import re
import shlex
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# what makes a documented command tiny: fewer synthetic images, two iterations, a narrow net at 96 px
TOY_IMAGES = {"--train": "6", "--test": "3"}
TOY_OVERRIDES = ("SOLVER.MAX_ITER 2 SOLVER.BATCH_SIZE 2 SOLVER.WARMUP_ITERS 1 SOLVER.CHECKPOINT_PERIOD 2 "
                 "DATALOADER.NUM_WORKERS 0 TEST.BATCH_SIZE 2 MODEL.BACKBONE.WIDTH_MULT 0.25 INPUT.IMAGE_SIZE 96")

_BLOCK = re.compile(r"<!-- docs-test: (?P<name>[\w-]+) -->\n```(?P<lang>\w+)\n(?P<code>.*?)```", re.S)


def marked_blocks(page: str, name: str) -> list[tuple[str, str]]:
    """``[(language, code), ...]`` of the blocks of ``docs/<page>`` marked ``name``, in page order."""
    with open(os.path.join(ROOT, "docs", page), encoding="utf-8") as f:
        text = f.read()
    return [(m["lang"], m["code"]) for m in _BLOCK.finditer(text) if m["name"] == name]


def toy_args(line: str) -> list[str]:
    """The arguments of an ``ssd`` line of a page as the test runs it: toy sizes, toy overrides."""
    args = shlex.split(line)[1:]
    if args[0] == "synthetic":
        for option, value in TOY_IMAGES.items():
            args[args.index(option) + 1] = value
        return args
    return [*args, *TOY_OVERRIDES.split()]


def toy_steps(code: str) -> list[tuple[str, str | list[str]]]:
    """The block as steps: ``("ssd", args)`` for each ``ssd`` line (made tiny), ``("bash", script)``
    for the lines between them (heredoc bodies are never read as commands)."""
    steps: list[tuple[str, str | list[str]]] = []
    chunk: list[str] = []
    heredoc_end = None
    for line in code.splitlines():
        if heredoc_end is None and line.startswith("ssd "):
            if chunk:
                steps.append(("bash", "\n".join(chunk) + "\n"))
                chunk = []
            steps.append(("ssd", toy_args(line)))
            continue
        if heredoc_end is not None:
            heredoc_end = None if line == heredoc_end else heredoc_end
        elif m := re.search(r"<<'(\w+)'$", line):
            heredoc_end = m[1]
        chunk.append(line)
    if chunk:
        steps.append(("bash", "\n".join(chunk) + "\n"))
    return steps


def run_shell(code: str, cwd: str) -> list[str]:
    """Run a shell block at toy size in ``cwd`` (the working directory): ``ssd`` commands in this
    process (``ssd.cli.main``, what the console command calls), the rest through bash. Returns the
    ``ssd`` subcommands run."""
    from ssd import cli

    ran = []
    for kind, step in toy_steps(code):
        if kind == "bash":
            done = subprocess.run(["bash", "-euo", "pipefail", "-c", step], cwd=cwd, capture_output=True, text=True)
            assert done.returncode == 0, f"{step}\n--- stderr\n{done.stderr[-3000:]}"
        else:
            assert cli.main(list(step)) == 0, " ".join(["ssd", *step])
            ran.append(step[0])
    return ran
