"""``build_site`` / ``serve``: the folder layout, atomic rebuilds, and a server that stays inside it.

These tests use a hand-made converted-model folder (model.json + one shard + metadata.json): they
check packaging and serving, not the model (tests/test_web_demo.py runs the real export in Chromium).
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.js.site import SITE_MARKER, SiteError, build_site, make_server


def _fake_export(root: Path) -> Path:
    """An export folder with tfjs/model.json, a weight shard and a metadata.json that lists their sha256."""
    from pipeline.export.metadata import file_hashes

    tfjs = root / "tfjs"
    tfjs.mkdir(parents=True)
    (tfjs / "model.json").write_text(
        json.dumps({"format": "graph-model", "weightsManifest": [{"paths": ["group1-shard1of1.bin"], "weights": []}]})
    )
    (tfjs / "group1-shard1of1.bin").write_bytes(b"\0" * 16)
    outputs = [{"name": "clip_scores", "node": "Identity:0", "shape": [2]}]
    metadata = {"labels": ["a", "b"], "sample_rate": 16000, "outputs": outputs, "files": file_hashes(tfjs)}
    (tfjs / "metadata.json").write_text(json.dumps(metadata))
    return root


@pytest.fixture
def export_dir(tmp_path: Path) -> Path:
    return _fake_export(tmp_path / "exported" / "demo")


def test_site_is_self_contained(export_dir: Path, tmp_path: Path) -> None:
    out = build_site(export_dir, tmp_path / "site")
    names = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert {
        "index.html",
        "favicon.svg",
        "src/app.js",
        "src/live.js",
        "src/model.js",
        "src/inference-worker.js",
        "src/worker-client.js",
        "src/file-chunks.js",
        "src/audio-worklet.js",
        "src/resample.js",
        "src/style.css",
        "vendor/tf.min.js",
        "vendor/tf-backend-wasm.min.js",
        "vendor/tfjs-backend-wasm.wasm",
        "vendor/tfjs-backend-wasm-simd.wasm",
        "model/model.json",
        "model/group1-shard1of1.bin",
        "model/metadata.json",
        SITE_MARKER,
    } <= names
    info = json.loads((out / SITE_MARKER).read_text())
    assert info["tfjs"] == "4.22.0"
    assert info["variant"] == "tfjs"
    assert str(tmp_path) not in json.dumps(info), "site.json must not leak local paths"
    # No CDN: every script/stylesheet the page references is a relative file inside the site.
    html = (out / "index.html").read_text()
    assert "http://" not in html and "https://" not in html
    for ref in ("vendor/tf.min.js", "vendor/tf-backend-wasm.min.js", "src/app.js", "src/style.css", "favicon.svg"):
        assert ref in html and (out / ref).is_file()


def test_metadata_from_the_export_root_when_the_model_folder_lacks_it(export_dir: Path, tmp_path: Path) -> None:
    metadata = json.loads((export_dir / "tfjs" / "metadata.json").read_text())
    metadata["files"] = {f"tfjs/{name}": digest for name, digest in metadata["files"].items()}
    (export_dir / "metadata.json").write_text(json.dumps(metadata))
    (export_dir / "tfjs" / "metadata.json").unlink()
    out = build_site(export_dir, tmp_path / "site")
    assert json.loads((out / "model" / "metadata.json").read_text())["labels"] == ["a", "b"]


def test_rebuild_replaces_the_site_and_failure_keeps_the_old_one(export_dir: Path, tmp_path: Path) -> None:
    out = build_site(export_dir, tmp_path / "site")
    (out / "model" / "stale.txt").write_text("from an earlier build")
    build_site(export_dir, out)
    assert not (out / "model" / "stale.txt").exists()

    (export_dir / "tfjs" / "group1-shard1of1.bin").unlink()
    with pytest.raises(SiteError, match=r"group1-shard1of1\.bin"):
        build_site(export_dir, out)
    assert (out / "model" / "group1-shard1of1.bin").is_file(), "previous site must survive a failed build"
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".site.")], "no temporary folders left"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda e, t: e / "nope", "no such export folder"),
        (lambda e, t: (e / "tfjs" / "model.json").unlink() or e, "model.json not found"),
        (lambda e, t: ((e / "tfjs" / "model.json").write_text("{not json"), e)[1], "not a readable TF.js model.json"),
    ],
)
def test_clear_errors_for_bad_exports(export_dir: Path, tmp_path: Path, setup, message: str) -> None:
    with pytest.raises(SiteError, match=message):
        build_site(setup(export_dir, tmp_path), tmp_path / "site")


def test_never_overwrites_a_folder_it_did_not_build(export_dir: Path, tmp_path: Path) -> None:
    precious = tmp_path / "documents"
    precious.mkdir()
    (precious / "thesis.tex").write_text("keep me")
    with pytest.raises(SiteError, match="not a site built by yamnet-tfjs"):
        build_site(export_dir, precious)
    assert (precious / "thesis.tex").read_text() == "keep me"


def test_missing_npm_packages_say_how_to_install(export_dir: Path, tmp_path: Path) -> None:
    web = tmp_path / "web_demo"
    (web / "src").mkdir(parents=True)
    for name in ("index.html", "favicon.svg", "src/app.js", "src/model.js"):
        (web / name).write_text("")
    with pytest.raises(SiteError, match="npm ci"):
        build_site(export_dir, tmp_path / "site", web=web)


# --- serving ---------------------------------------------------------------------------------


@pytest.fixture
def served(export_dir: Path, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    site = build_site(export_dir, tmp_path / "site")
    (tmp_path / "secret.txt").write_text("outside the site")
    os.symlink(tmp_path / "secret.txt", site / "link-out.txt")
    server = make_server(site, port=0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], site
    finally:
        server.shutdown()
        server.server_close()


def _get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)  # sent verbatim: no client-side normalisation of ".."
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def test_serves_the_site_with_the_right_types(served: tuple[int, Path]) -> None:
    port, site = served
    status, headers, body = _get(port, "/")
    assert status == 200 and b'data-testid="start-mic"' in body
    status, headers, body = _get(port, "/vendor/tfjs-backend-wasm-simd.wasm")
    assert status == 200 and headers["content-type"] == "application/wasm"
    assert body == (site / "vendor" / "tfjs-backend-wasm-simd.wasm").read_bytes()
    status, headers, _ = _get(port, "/src/app.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript")
    assert "cross-origin-opener-policy" not in headers


@pytest.mark.parametrize(
    "path", ["/../secret.txt", "/%2e%2e/secret.txt", "/src/../../secret.txt", "/link-out.txt", "/..%2fsecret.txt"]
)
def test_nothing_outside_the_site_is_served(served: tuple[int, Path], path: str) -> None:
    port, _ = served
    status, _, body = _get(port, path)
    assert status == 404
    assert b"outside the site" not in body


def test_no_directory_listings(served: tuple[int, Path]) -> None:
    port, _ = served
    status, _, body = _get(port, "/vendor/")
    assert status == 404 and b"tf.min.js" not in body


def test_isolation_headers_on_request(export_dir: Path, tmp_path: Path) -> None:
    server = make_server(build_site(export_dir, tmp_path / "site"), port=0, isolate=True, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        _, headers, _ = _get(server.server_address[1], "/index.html")
    finally:
        server.shutdown()
        server.server_close()
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert headers["cross-origin-embedder-policy"] == "require-corp"
    assert server.server_address[0] == "127.0.0.1"


def test_serve_refuses_a_folder_without_a_site(tmp_path: Path) -> None:
    with pytest.raises(SiteError, match="build a site first"):
        make_server(tmp_path, port=0)


def test_cli_site_builds_and_reports_errors(export_dir: Path, tmp_path: Path) -> None:
    exe = str(Path(sys.executable).with_name("yamnet-tfjs"))
    ok = subprocess.run([exe, "site", str(export_dir), str(tmp_path / "site")], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "site" / "model" / "model.json").is_file()
    bad = subprocess.run([exe, "site", str(tmp_path / "missing"), str(tmp_path / "s2")], capture_output=True, text=True)
    assert bad.returncode == 1
    assert "no such export folder" in bad.stderr and "Traceback" not in bad.stderr


# --- an export is checked before it is published ----------------------------------------------


def _with_signature(export_dir: Path, width: int) -> None:
    """Give the fake model.json a signature whose clip_scores has ``width`` values; re-record the hashes."""
    from pipeline.export.metadata import file_hashes

    tfjs = export_dir / "tfjs"
    model = json.loads((tfjs / "model.json").read_text())
    shape = {"dim": [{"size": str(width)}]}
    model["signature"] = {
        "inputs": {"waveform": {"name": "waveform:0", "tensorShape": {"dim": [{"size": "-1"}]}}},
        "outputs": {"clip_scores": {"name": "Identity:0", "tensorShape": shape}},
    }
    (tfjs / "model.json").write_text(json.dumps(model))
    metadata = json.loads((tfjs / "metadata.json").read_text())
    metadata["files"] = file_hashes(tfjs)
    (tfjs / "metadata.json").write_text(json.dumps(metadata))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda e: (e / "tfjs" / "group1-shard1of1.bin").write_bytes(b"\0" * 8),
            "truncated, corrupted or from another",
        ),
        (
            lambda e: (e / "tfjs" / "model.json").write_text('{"format": "graph-model", "weightsManifest": []}'),
            "sha256",
        ),
        (lambda e: _with_signature(e, 3), "2 labels but the model's clip_scores has 3 values"),
    ],
    ids=["truncated-shard", "another-model-json", "label-count"],
)
def test_a_damaged_or_mismatched_export_is_never_published(export_dir: Path, tmp_path: Path, damage, message) -> None:
    damage(export_dir)
    with pytest.raises(SiteError, match=message):
        build_site(export_dir, tmp_path / "site")
    assert not (tmp_path / "site").exists()


def test_a_matching_signature_is_published(export_dir: Path, tmp_path: Path) -> None:
    _with_signature(export_dir, 2)
    assert (build_site(export_dir, tmp_path / "site") / "index.html").is_file()
