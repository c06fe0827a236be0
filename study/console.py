"""All human-facing output. Diagnostics go to stderr; stdout carries only results (tables, JSON).

Interactive progress (bars, spinners) only on a terminal outside CI; plain lines otherwise.
"""

from __future__ import annotations

import os
import sys
from functools import cache

from rich.console import Console
from rich.markup import escape


def interactive() -> bool:
    """True on a real terminal outside CI (progress bars); False means plain lines."""
    return sys.stderr.isatty() and not os.environ.get("CI")


@cache
def err_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


@cache
def out_console() -> Console:
    # Piped or captured output gets a wide page instead of rich's 80 columns, so tables of
    # resource type tokens stay readable in CI logs and files.
    width = None if sys.stdout.isatty() else 160
    return Console(highlight=False, soft_wrap=True, width=width)


def print_json(data) -> None:
    """Machine-readable results on stdout: plain indented JSON, no colour, no wrapping."""
    import json

    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def error(msg: str) -> None:
    # Messages quote user values ('[/]', '[draft]'): escaped, never read as rich markup.
    err_console().print(f"[bold red]error:[/] {escape(msg)}", markup=True, highlight=False)


def warn(msg: str) -> None:
    err_console().print(f"[yellow]warning:[/] {escape(msg)}", markup=True, highlight=False)


def info(msg: str) -> None:
    err_console().print(msg, markup=False, highlight=False)
