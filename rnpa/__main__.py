"""The command line: ``python -m rnpa <command> ...``.

Each module that offers commands has a ``register_cli(subparsers)`` function that
adds its sub-commands, each with ``set_defaults(func=...)``; ``func(args)``
returns the exit status. Bad arguments end with a one-line error and status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

#: modules whose register_cli(subparsers) adds commands, in the order of --help
CLI_MODULES: tuple[str, ...] = ("rnpa.train", "rnpa.diagrams", "rnpa.course", "rnpa.exercises")


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m rnpa`` with every module's commands."""
    parser = argparse.ArgumentParser(
        prog="python -m rnpa",
        description="rnpa: pre-activation residual networks, the course's command line.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in CLI_MODULES:
        importlib.import_module(name).register_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, OSError) as err:
        print(f"python -m rnpa {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 2


def _one_line(err: BaseException) -> str:
    """The error as one line; a file-system error names its path and what went wrong."""
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        text = f"{err.strerror}: {os.fspath(err.filename)!r}"
        if err.filename2 is not None:
            text += f" -> {os.fspath(err.filename2)!r}"
    else:
        text = str(err) or type(err).__name__
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
