"""The shipped TypeScript declarations (pushbridge.d.ts, pushbridge-pusher.d.ts) checked by tsc.

``tests/node/types/example.ts`` uses the documented API as a TypeScript page would, against
real pusher-js's own types, and must compile under ``--strict``; ``misuse.ts`` holds mistakes
the declarations must reject, each with its expected error.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
TSC = NODE_DIR / "node_modules" / "typescript" / "bin" / "tsc"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(
    NODE is None or not TSC.exists(), reason="node or typescript is missing (run: npm ci --prefix tests/node)"
)


def tsc(project: str) -> subprocess.CompletedProcess[str]:
    assert NODE is not None
    command = [NODE, str(TSC), "-p", f"types/{project}"]
    return subprocess.run(command, cwd=NODE_DIR, capture_output=True, text=True, timeout=180)


def test_example_compiles_against_the_declarations() -> None:
    result = tsc("tsconfig.json")
    assert result.returncode == 0, result.stdout + result.stderr


def test_declarations_reject_misuse() -> None:
    result = tsc("tsconfig.misuse.json")
    assert result.returncode != 0
    errors = {line.split(": error ")[1].split(":")[0] for line in result.stdout.splitlines() if ": error " in line}
    lines = {int(line.split("(")[1].split(",")[0]) for line in result.stdout.splitlines() if ": error " in line}
    assert lines == {5, 6, 7, 8}, result.stdout  # one error per mistake, none elsewhere
    assert errors == {"TS2345", "TS2769", "TS2367", "TS2551"}, result.stdout
