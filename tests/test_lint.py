"""The code base stays ruff-clean (the rules are in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_ruff_check_is_clean():
    ruff = Path(sys.executable).with_name("ruff")
    folders = [name for name in ("pipeline", "tests", "bench", "docs") if (REPO / name).is_dir()]
    proc = subprocess.run([str(ruff), "check", "--no-cache", *folders], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
