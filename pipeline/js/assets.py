"""Where the JavaScript side lives: the page, ``model.js``, the Node runner, the parity harness, TF.js.

The sources are the repository's ``web_demo/`` (the static page and its one inference module
``src/model.js``, the Node runner ``node/run_model.mjs``, the parity harness ``parity/``). The package
reaches them as package data, ``pipeline/web`` (a link to ``web_demo/`` in the checkout, real files in
a wheel), through :mod:`importlib.resources`; nothing here knows where the repository is. TF.js and its
wasm binaries are vendored from ``node_modules`` (the build step copies them to ``web/vendor/`` with
their licences, see :data:`TFJS_FILES`).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from ..errors import PipelineError

TFJS_PACKAGES = ("@tensorflow/tfjs", "@tensorflow/tfjs-backend-wasm")

TFJS_FILES = {
    "tf.min.js": "@tensorflow/tfjs/dist/tf.min.js",
    "tf-backend-wasm.min.js": "@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.min.js",
    "tfjs-backend-wasm.wasm": "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm",
    "tfjs-backend-wasm-simd.wasm": "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm",
    "tfjs-backend-wasm-threaded-simd.wasm": "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm",
}
"""Vendored TF.js files (site name -> path under node_modules). The page loads the two scripts; the
wasm backend fetches whichever binary the browser supports from the same folder."""


class AssetError(PipelineError):
    """The page, the Node runner or TF.js is missing from this installation."""


def web_root() -> Path:
    """The folder holding the page (``index.html``, ``src/``), the Node runner and the parity harness."""
    root = Path(str(resources.files("pipeline") / "web"))
    if not (root / "index.html").is_file():
        raise AssetError(f"the web page is missing from this installation ({root}/index.html); reinstall yamnet-tfjs")
    return root


def node_modules() -> Path:
    """``node_modules`` beside the page sources, where ``npm ci`` put TF.js (checkout installs)."""
    return web_root() / "node_modules"


def tfjs_versions(root: Path | None = None) -> dict[str, str]:
    """The pinned TF.js versions (from the page's package.json), for metadata and the site's record."""
    try:
        root = web_root() if root is None else root
        deps = json.loads((root / "package.json").read_text(encoding="utf-8")).get("dependencies", {})
    except (OSError, ValueError, AssetError):
        return {}
    return {name: deps[name] for name in TFJS_PACKAGES if name in deps}


def vendor_sources(root: Path | None = None) -> dict[str, Path]:
    """The TF.js files a site ships (site name -> file): vendored copies, else ``node_modules``."""
    root = web_root() if root is None else root
    sources = {}
    for name, rel in TFJS_FILES.items():
        vendored = root / "vendor" / name
        sources[name] = vendored if vendored.is_file() else root / "node_modules" / rel
    missing = [str(p) for p in sources.values() if not p.is_file()]
    if missing:
        raise AssetError(f"TF.js is not installed ({missing[0]} missing); run `npm ci` in {root}")
    return sources
