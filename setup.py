"""Build hook: a wheel carries the web side's vendored TF.js and the bundled Node runner, built fresh.

``web_demo/build.mjs`` (run by ``npm ci``'s postinstall) copies TF.js into ``web_demo/vendor/`` and bundles
the Node runner with ``src/model.js``. A wheel built without them would install a ``site`` and ``parity``
that cannot work, and one built from a stale bundle would run old JavaScript, so the wheel build reruns the
step when a source is newer than the bundle, and refuses (with the command that fixes it) when npm's
packages are not installed. Editable installs read ``web_demo/`` in place and need neither.
"""

import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

WEB = Path(__file__).resolve().parent / "web_demo"
BUNDLE = WEB / "vendor" / "run_model.node.mjs"
SOURCES = ("build.mjs", "node/run_model.mjs", "src/model.js", "package-lock.json")


def _stale() -> bool:
    if not BUNDLE.is_file():
        return True
    built = BUNDLE.stat().st_mtime
    return any((WEB / rel).stat().st_mtime > built for rel in SOURCES if (WEB / rel).is_file())


class BuildPyWithWebAssets(build_py):
    def run(self) -> None:
        if not getattr(self, "editable_mode", False) and _stale():
            node = shutil.which("node")
            if node is None or not (WEB / "node_modules" / "esbuild").is_dir():
                raise SystemExit(
                    "web_demo/vendor/ is missing or stale: run `npm ci` in web_demo/ (Node 18+), which vendors "
                    "TF.js and bundles the Node runner, then build the wheel again"
                )
            subprocess.run([node, "build.mjs"], cwd=WEB, check=True)
        super().run()


setup(cmdclass={"build_py": BuildPyWithWebAssets})
