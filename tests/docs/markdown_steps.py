"""The steps of a documentation page, in order: files to write and commands to run.

A fenced block with ``title="PATH"`` is a file (``title="PATH (append)"`` adds to it); a
``console`` block holds commands, one per ``$ `` line. Reading the page this way lets a test do
exactly what a reader does, so the page cannot drift from working code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_FENCE = re.compile(r"^```(?P<lang>[a-z]*)(?:[ ]+title=\"(?P<title>[^\"]+)\")?\n(?P<body>.*?)^```$", re.M | re.S)


@dataclass(frozen=True)
class FileStep:
    path: str
    text: str
    append: bool


@dataclass(frozen=True)
class CommandStep:
    command: str


def steps(page: Path) -> list[FileStep | CommandStep]:
    found: list[FileStep | CommandStep] = []
    for block in _FENCE.finditer(page.read_text()):
        title, body = block["title"], block["body"]
        if title:
            path, append = (title[: -len(" (append)")], True) if title.endswith(" (append)") else (title, False)
            found.append(FileStep(path, body, append))
        elif block["lang"] == "console":
            found += [CommandStep(line[2:]) for line in body.splitlines() if line.startswith("$ ")]
    return found
