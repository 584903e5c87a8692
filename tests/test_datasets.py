"""Data sets: ESC-50 and folder-per-class layouts, manifests, bad data, and the ESC-50 download.

The download is tested offline against a local HTTP server (127.0.0.1) that serves a small zip built
from real ESC-50 clips and honours ``Range`` requests, so resuming is exercised for real.
"""

from __future__ import annotations

import csv
import hashlib
import http.server
import io
import json
import shutil
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.datasets import load_dataset
from pipeline.download import download, fetch_esc50, safe_extract
from pipeline.errors import DatasetError
from tests.conftest import ESC50_DIR, esc50_clips_of, esc50_rows


def _folder_set(root: Path, per_class: dict[str, int]) -> Path:
    for category, n in per_class.items():
        (root / category).mkdir(parents=True)
        for clip in esc50_clips_of(category, n):
            shutil.copy(clip, root / category / clip.name)
    return root


def test_esc50_layout_gives_official_folds_and_classes():
    ds = load_dataset(ESC50_DIR)
    assert ds.kind == "esc50"
    assert len(ds.clips) == 2000 and len(ds.labels) == 50
    assert ds.folds == [1, 2, 3, 4, 5]
    assert set(ds.class_counts().values()) == {40}
    first = ds.clips[0]
    assert first.clip_id == "1-100032-A-0" and first.label == "dog" and first.fold == 1
    assert first.path.suffix == ".flac" and first.path.is_file()  # .wav in the CSV, FLAC on disk
    small = ds.subset(classes=["dog", "rain"], folds=[1, 2])
    assert small.labels == ["dog", "rain"] and len(small.clips) == 32 and small.folds == [1, 2]
    with pytest.raises(DatasetError, match="unknown class"):
        ds.subset(classes=["unicorn"])


def test_folder_per_class_counts_and_skips_unreadable(tmp_path):
    root = _folder_set(tmp_path / "set", {"dog": 3, "rain": 2})
    (root / "rain" / "broken.wav").write_bytes(b"RIFF0000WAVEjunk")
    (root / "rain" / "notes.txt").write_text("not audio, ignored")
    ds = load_dataset(root)
    assert ds.kind == "folders" and ds.labels == ["dog", "rain"]
    assert ds.class_counts() == {"dog": 3, "rain": 2}
    assert [p.name for p, _ in ds.skipped] == ["broken.wav"]
    assert ds.folds == [] and all(c.fold is None for c in ds.clips)


def test_class_with_no_readable_clip_is_refused(tmp_path):
    root = _folder_set(tmp_path / "set", {"dog": 2})
    (root / "cat").mkdir()
    (root / "cat" / "bad.flac").write_bytes(b"\x00" * 100)
    with pytest.raises(DatasetError, match=r"no readable clip: cat"):
        load_dataset(root)
    (root / "cat" / "bad.flac").unlink()
    with pytest.raises(DatasetError, match="class 'cat' has no audio files"):
        load_dataset(root)


def test_missing_folder_single_class_and_empty(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no audio files found"):
        load_dataset(tmp_path / "empty")
    with pytest.raises(DatasetError, match="only one class"):
        load_dataset(_folder_set(tmp_path / "one", {"dog": 2}))


def test_manifest_folds_and_imbalance_warning(tmp_path):
    root = _folder_set(tmp_path / "set", {"dog": 8, "rain": 2})
    rows = [("dog/" + p.name, "dog", 1 + i % 2) for i, p in enumerate(sorted((root / "dog").iterdir()))]
    rows += [("rain/" + p.name, "rain", 1 + i % 2) for i, p in enumerate(sorted((root / "rain").iterdir()))]
    with open(root / "manifest.csv", "w", newline="") as f:
        csv.writer(f).writerows([("path", "label", "fold"), *rows])
    ds = load_dataset(root)
    assert ds.folds == [1, 2]
    assert ds.class_counts() == {"dog": 8, "rain": 2}
    assert any("imbalanced" in w for w in ds.warnings)
    with open(root / "manifest.csv", "w", newline="") as f:
        csv.writer(f).writerows([("path", "label", "fold"), ("dog/x.wav", "dog", "one")])
    with pytest.raises(DatasetError, match="fold must be a whole number"):
        load_dataset(root)
    (root / "manifest.csv").write_text("file,category\n")
    with pytest.raises(DatasetError, match="path,label"):
        load_dataset(root)


def test_jsonl_manifest_reads_like_csv(tmp_path):
    root = _folder_set(tmp_path / "set", {"dog": 2, "rain": 2})
    names = [f"{label}/{p.name}" for label in ("dog", "rain") for p in sorted((root / label).iterdir())]
    manifest = root / "clips.jsonl"
    lines = [json.dumps({"path": name, "label": name.split("/")[0], "fold": 1 + i % 2}) for i, name in enumerate(names)]
    manifest.write_text("\n".join([lines[0], "", *lines[1:]]) + "\n")  # a blank line is skipped
    ds = load_dataset(root, manifest=manifest)
    assert [c.clip_id for c in ds.clips] == names and ds.folds == [1, 2]
    manifest.write_text(lines[0] + "\n" + json.dumps({"path": names[1], "label": "dog", "fold": "x"}) + "\n")
    with pytest.raises(DatasetError, match=r"clips.jsonl:2: fold must be a whole number"):
        load_dataset(root, manifest=manifest)
    manifest.write_text("[1, 2]\n")
    with pytest.raises(DatasetError, match=r"clips.jsonl:1: not a JSON object"):
        load_dataset(root, manifest=manifest)


# --- download ---------------------------------------------------------------------------------


def _mini_esc50_zip(n_per_class: int = 2) -> bytes:
    """A zip shaped like GitHub's ESC-50 archive (``ESC-50-master/meta``, ``/audio``), real clips."""
    rows = [r for r in esc50_rows() if r["category"] in ("dog", "rain")]
    keep = [r for r in rows if r["category"] == "dog"][:n_per_class] + [r for r in rows if r["category"] == "rain"][
        :n_per_class
    ]
    meta = io.StringIO()
    writer = csv.DictWriter(meta, fieldnames=list(keep[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(keep)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("ESC-50-master/meta/esc50.csv", meta.getvalue())
        for r in keep:
            stem = Path(r["filename"]).stem
            zf.write(ESC50_DIR / "audio" / f"{stem}.flac", f"ESC-50-master/audio/{stem}.flac")
    return buf.getvalue()


class _Server:
    """A 127.0.0.1 HTTP server for one in-memory file, honouring ``Range: bytes=N-``."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.ranges: list[str | None] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                rng = self.headers.get("Range")
                owner.ranges.append(rng)
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                body = owner.payload[start:]
                self.send_response(206 if rng else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/esc50.zip"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture()
def server() -> Iterator[_Server]:
    srv = _Server(_mini_esc50_zip())
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def test_download_resumes_with_range_and_verifies_checksum(tmp_path, server):
    payload = server.payload
    digest = hashlib.sha256(payload).hexdigest()
    dest = tmp_path / "esc50.zip"
    half = len(payload) // 2
    (tmp_path / "esc50.zip.part").write_bytes(payload[:half])  # an interrupted earlier attempt
    seen: list[int] = []
    download(server.url, dest, sha256=digest, on_progress=lambda done, total: seen.append(done))
    assert server.ranges == [f"bytes={half}-"]
    assert dest.read_bytes() == payload and not (tmp_path / "esc50.zip.part").exists()
    assert seen[-1] == len(payload)

    other = tmp_path / "bad.zip"
    with pytest.raises(DatasetError, match="corrupt: sha256"):
        download(server.url, other, sha256="0" * 64)
    assert not other.exists() and not (tmp_path / "bad.zip.part").exists()


def test_fetch_esc50_extracts_a_loadable_data_set(tmp_path, server):
    meta_md5 = None  # the mini archive's metadata is a subset, not the published file
    root = fetch_esc50(tmp_path / "cache", url=server.url, meta_md5=meta_md5)
    assert root.name == "ESC-50-master" and (root / "meta" / "esc50.csv").is_file()
    ds = load_dataset(root)
    assert ds.kind == "esc50" and ds.class_counts() == {"dog": 2, "rain": 2}
    n_requests = len(server.ranges)
    assert fetch_esc50(tmp_path / "cache", url=server.url, meta_md5=meta_md5) == root
    assert len(server.ranges) == n_requests  # already there: no second download

    with pytest.raises(DatasetError, match="MD5"):
        fetch_esc50(tmp_path / "cache2", url=server.url)  # the real ESC-50 metadata checksum


@pytest.mark.parametrize("member", ["../evil.txt", "/etc/evil.txt", "ok/../../evil.txt"])
def test_extraction_refuses_path_traversal(tmp_path, member):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("fine.txt", "x")
        zf.writestr(member, "pwned")
    with pytest.raises(DatasetError, match="unsafe path"):
        safe_extract(archive, tmp_path / "out" / "x")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out" / "x").exists()


def test_download_reports_unreachable_server(tmp_path):
    with pytest.raises(DatasetError, match=r"download of .* failed"):
        download("http://127.0.0.1:9/none.zip", tmp_path / "x.zip", timeout=2)
