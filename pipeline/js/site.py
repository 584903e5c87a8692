"""Build the static web demo for an exported model, and serve it locally.

``build_site`` assembles one self-contained folder that any static host can serve (GitHub Pages,
``python -m http.server``, an S3 bucket) and that works offline::

    OUT/index.html            the page (web_demo/index.html, installed as pipeline/web), favicon.svg
    OUT/src/*.js, style.css   page code, including the shared inference module model.js
    OUT/vendor/               TF.js + its wasm backend and .wasm binaries, copied from node_modules
    OUT/model/                the converted graph model (model.json, shards, metadata.json)
    OUT/site.json             what was built from what (also marks the folder as ours)

The build is atomic: it is written to a temporary sibling folder and swapped in by renames, so a
failed build leaves the previous site untouched, and a folder that is not a site we built is never
overwritten.

``make_server`` / ``serve`` serve such a folder on 127.0.0.1 only. The standard library handler
already drops ``..`` from URL paths; on top of that every resolved path (symlinks included) must
stay inside the served folder, and directory listings are off.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from datetime import datetime, timezone
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ..atomic import building_dir
from ..errors import PipelineError
from ..layout import SITE_MARKER, ArtifactError, verified_tfjs_metadata
from ..layout import variant as layout_variant
from .assets import AssetError, tfjs_versions, vendor_sources, web_root

PAGE_FILES = ("index.html", "favicon.svg")
"""Files of the page's top folder (besides src/)."""


class SiteError(PipelineError):
    """The site cannot be built or served (missing export, missing npm packages, unsafe target)."""


def find_model_dir(export_dir: Path, variant: str = "tfjs") -> Path:
    """The converted model folder to publish: ``export_dir/variant``, or ``export_dir`` itself when
    it already holds a ``model.json`` (so a bare converted folder works too)."""
    export_dir = Path(export_dir)
    if (export_dir / "model.json").is_file():
        return export_dir
    try:
        variant = layout_variant(variant).dir
    except PipelineError as err:
        raise SiteError(str(err)) from None
    model_dir = export_dir / variant
    if not (model_dir / "model.json").is_file():
        if not export_dir.is_dir():
            raise SiteError(f"{export_dir}: no such export folder; run `yamnet-tfjs export {export_dir}` first")
        raise SiteError(
            f"{model_dir / 'model.json'} not found; run `yamnet-tfjs export {export_dir}`"
            + ("" if variant == "tfjs" else f" with the quantization that makes {variant}/")
        )
    return model_dir


def _model_files(model_dir: Path) -> tuple[list[Path], Path]:
    """model.json + its weight shards, and the metadata.json to ship; verified before copying.

    Each file must match the sha256 metadata.json recorded, and the labels the model's output width:
    a truncated shard, another model's model.json or shifted labels are never published.
    """
    model_json = model_dir / "model.json"
    try:
        manifest = json.loads(model_json.read_text())
    except (OSError, ValueError) as err:
        raise SiteError(f"{model_json}: not a readable TF.js model.json ({err})") from None
    files = [model_json]
    for group in manifest.get("weightsManifest", []):
        for name in group.get("paths", []):
            shard = model_dir / name
            if not shard.is_file():
                raise SiteError(f"{model_json} lists weight file {name} but {shard} is missing; re-run the export")
            files.append(shard)
    try:
        metadata_path, _ = verified_tfjs_metadata(model_dir)
    except ArtifactError as err:
        raise SiteError(str(err)) from None
    return files, metadata_path


def _page_sources(web: Path) -> list[Path]:
    src = web / "src"
    missing = [name for name in (*PAGE_FILES, "src/app.js") if not (web / name).is_file()]
    if missing:
        raise SiteError(f"{web}: page sources ({', '.join(missing)}) missing; reinstall yamnet-tfjs")
    if not (src / "model.js").is_file():
        raise SiteError(f"{src / 'model.js'} missing: the shared inference module is needed by the page")
    return sorted(p for p in src.iterdir() if p.is_file() and p.suffix in {".js", ".mjs", ".css"})


def _check_target(out_dir: Path) -> None:
    """Refuse to replace a folder we did not build (someone's files), unless it is empty."""
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise SiteError(f"{out_dir}: exists and is not a folder; choose another output folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / SITE_MARKER).is_file():
        raise SiteError(f"{out_dir}: folder is not empty and is not a site built by yamnet-tfjs; choose another")


def build_site(
    export_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    variant: str = "tfjs",
    web: str | os.PathLike[str] | None = None,
) -> Path:
    """Build the self-contained demo site for ``export_dir`` into ``out_dir`` (atomically).

    Args:
        export_dir: an export folder (``exported/NAME``) or a converted model folder with model.json.
        out_dir: where the site goes; created, or replaced if it is a site built earlier.
        variant: which converted model to publish (a folder of :data:`pipeline.layout.VARIANTS`).
        web: page sources and TF.js (default: the installed ones, :func:`pipeline.js.assets.web_root`).

    Returns:
        ``out_dir`` as an absolute path.

    Raises:
        SiteError: missing export/model files, TF.js not installed, or an unsafe target folder.
    """
    out_dir = Path(out_dir).absolute()
    model_dir = find_model_dir(Path(export_dir), variant)
    model_files, metadata = _model_files(model_dir)
    try:
        web = web_root() if web is None else Path(web).resolve()
        vendor = vendor_sources(web)
    except AssetError as err:
        raise SiteError(str(err)) from None
    page_files = _page_sources(web)
    _check_target(out_dir)

    with building_dir(out_dir) as tmp:
        for name in PAGE_FILES:
            shutil.copy2(web / name, tmp / name)
        (tmp / "src").mkdir()
        for path in page_files:
            shutil.copy2(path, tmp / "src" / path.name)
        (tmp / "vendor").mkdir()
        for name, path in vendor.items():
            shutil.copy2(path, tmp / "vendor" / name)
        (tmp / "model").mkdir()
        for path in [*model_files, metadata]:
            shutil.copy2(path, tmp / "model" / path.name)
        info = {
            "built": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "model": f"{model_dir.resolve().parent.name}/{model_dir.name}",
            "variant": model_dir.name,
            "tfjs": tfjs_versions(web).get("@tensorflow/tfjs"),
            "files": sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file()),
        }
        (tmp / SITE_MARKER).write_text(json.dumps(info, indent=2) + "\n")
    return out_dir


# ---------------------------------------------------------------------------------------------
# Serving

LOCALHOST = "127.0.0.1"


class SiteRequestHandler(SimpleHTTPRequestHandler):
    """Static files from one folder, nothing outside it, no directory listings, no caching."""

    extensions_map = {  # noqa: RUF012 (a class attribute in the base class too)
        **SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".json": "application/json",
        ".bin": "application/octet-stream",
    }
    isolate = False
    quiet = False

    def send_head(self):  # type: ignore[override]
        """404 for anything that resolves outside the root (``..`` tricks, symlinks pointing out)."""
        root = Path(self.directory).resolve()
        try:
            resolved = Path(self.translate_path(self.path)).resolve()
        except (OSError, RuntimeError, ValueError):
            resolved = None
        if resolved is None or (resolved != root and root not in resolved.parents):
            self.send_error(404, "Not found")
            return None
        return super().send_head()

    def list_directory(self, path: str | os.PathLike[str]):  # type: ignore[override]
        """No listings: a static host would not show them either."""
        self.send_error(404, "Not found")
        return None

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-cache")
        if self.isolate:
            # Cross-origin isolation lets the wasm backend use threads (SharedArrayBuffer).
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:
        if not self.quiet:
            super().log_message(format, *args)


def make_server(
    site_dir: str | os.PathLike[str], port: int = 8000, isolate: bool = False, quiet: bool = False
) -> ThreadingHTTPServer:
    """An HTTP server for ``site_dir`` bound to 127.0.0.1 (port 0 picks a free port).

    Call ``serve_forever()`` on it (or run that in a thread); ``server_address[1]`` is the port.
    """
    root = Path(site_dir)
    if not (root / "index.html").is_file():
        raise SiteError(f"{root}: no index.html here; build a site first with `yamnet-tfjs site exported/NAME {root}`")
    handler = type(
        "BoundSiteRequestHandler",
        (SiteRequestHandler,),
        {"isolate": isolate, "quiet": quiet},
    )
    try:
        return ThreadingHTTPServer((LOCALHOST, port), functools.partial(handler, directory=str(root.resolve())))
    except OSError as err:
        raise SiteError(f"cannot listen on {LOCALHOST}:{port} ({err.strerror}); try another --port") from None
