"""yamnet-tfjs as users install it: a wheel in a fresh virtual environment, run from an empty folder.

The wheel must carry the page, ``model.js``, the Node runner (bundled with TF.js), the parity harness
and the vendored TF.js + wasm binaries, and find them through ``importlib.resources``: nothing may
reach into the checkout. The fresh venv gets the wheel only; its heavy dependencies (TensorFlow, ...)
are borrowed from this venv's site-packages through a path file, which does not expose the checkout's
editable install of ``pipeline``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ESC50_DIR, REPO


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(root / "dist")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-3000:]
    wheel = next((root / "dist").glob("yamnet_tfjs-*.whl"))
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    # From an empty folder with a clean environment: run from the checkout, pip would find the build's
    # yamnet_tfjs.egg-info there and call the requirement "already satisfied".
    install = subprocess.run(
        [venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        capture_output=True, text=True, timeout=300, cwd=root, env=_clean_env(),
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    site = subprocess.check_output(
        [venv / "bin" / "python", "-c", "import site; print(site.getsitepackages()[0])"], cwd=root, env=_clean_env()
    )
    (Path(site.decode().strip()) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def _names(wheel_dir: Path) -> set[str]:
    wheel = next(wheel_dir.glob("yamnet_tfjs-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


def test_the_wheel_carries_the_page_runner_harness_and_tfjs(installed):
    names = _names(installed.parent / "dist")
    for rel in (
        "index.html", "src/app.js", "src/model.js", "src/live.js", "node/run_model.mjs", "parity/harness.html",
        "vendor/tf.min.js", "vendor/tfjs-backend-wasm-simd.wasm", "vendor/run_model.node.mjs", "vendor/LICENSES.md",
    ):  # fmt: skip
        assert f"pipeline/web/{rel}" in names, rel
    assert not any("node_modules" in n for n in names)
    assert not any(n.startswith("tests/") for n in names)


def _clean_env() -> dict[str, str]:
    """The environment without anything pointing at the checkout (as for a user of the wheel)."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def _cli(venv: Path, cwd: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "yamnet-tfjs"), *map(str, args)], cwd=cwd, env=_clean_env(), capture_output=True,
        text=True, timeout=900,
    )  # fmt: skip


def test_site_and_node_parity_work_from_the_installed_wheel(installed, classifier_export, tmp_path):
    where = subprocess.check_output(
        [installed / "bin" / "python", "-c", "import pipeline; print(pipeline.__file__)"],
        cwd=tmp_path, text=True, env=_clean_env(),
    )  # fmt: skip
    assert str(installed) in where and str(REPO) not in where, where
    export = tmp_path / "export"
    subprocess.run(["cp", "-r", str(classifier_export), str(export)], check=True)
    for name in ("parity.json", "parity-partial.json"):
        (export / name).unlink(missing_ok=True)
    built = _cli(installed, tmp_path, "site", export, tmp_path / "public")
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "public" / "vendor" / "tf-backend-wasm.min.js").is_file()
    assert json.loads((tmp_path / "public" / "site.json").read_text())["tfjs"] == "4.22.0"
    args = ("-r", "node-wasm", "-n", "1", "--no-edge-cases", "--data", ESC50_DIR)
    parity = _cli(installed, tmp_path, "parity", export, *args)
    assert parity.returncode == 0, parity.stdout + parity.stderr
    record = json.loads((export / "parity.json").read_text())
    assert record["ok"] and record["variants"]["float32"]["node-wasm"]["backend"] == "wasm"
