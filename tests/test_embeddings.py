"""Embeddings: batched runner equals the hub call; the cache serves reruns, resumes, notices edits.

Runs the real YAMNet on a small real slice of ESC-50 (four classes, folds 1 and 2).
"""

from __future__ import annotations

import dataclasses
import io
import shutil
import zlib

import numpy as np
import pytest

import pipeline.embeddings as emb
from pipeline.audio import load_audio
from pipeline.constants import EMBEDDING_DIM, FEATURE_WIDTHS, NUM_YAMNET_CLASSES, num_patches
from pipeline.datasets import load_dataset
from pipeline.errors import PipelineError
from pipeline.yamnet.runner import PatchRunner
from tests.conftest import ESC50_DIR, esc50_clips_of

CLASSES = ["dog", "rain", "crying_baby", "clock_tick"]


FLOAT16_ROUNDING = 2.0**-11
"""The cache stores float16: its rounding moves a value by at most this fraction of it (half an ulp)."""


def assert_cached_close(cached, exact, atol):
    """``cached`` (a float16 entry read back) is ``exact`` (float32, within ``atol``) rounded to float16."""
    np.testing.assert_allclose(cached, exact, rtol=FLOAT16_ROUNDING * 1.001, atol=atol)


@pytest.fixture(scope="module")
def slice_set():
    return load_dataset(ESC50_DIR).subset(classes=CLASSES, folds=[1, 2])


class _Counting:
    """Wraps the hub model object and counts calls (through ``Yamnet.__call__`` or tracing)."""

    def __init__(self, model):
        self.model = model
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.model(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.model, name)


def test_batched_runner_equals_hub_call_across_batch_boundaries(yamnet, tmp_path):
    clips = esc50_clips_of("dog", 3, fold=1)
    root = tmp_path / "set"
    for label, clip in zip(["dog", "dog", "cat"], clips, strict=True):
        (root / label).mkdir(parents=True, exist_ok=True)
        shutil.copy(clip, root / label / clip.name)
    ds = load_dataset(root)
    out = emb.embed_dataset(ds, yamnet, cache_dir=tmp_path / "c", batch_patches=7)  # 7 splits every clip
    assert out.stats.computed == 3 and out.stats.network_calls == 5  # 30 patches / 7 per call
    for path, e, s in zip(out.paths, out.embeddings, out.scores, strict=True):
        ref = yamnet(load_audio(path))
        assert e.shape == (10, EMBEDDING_DIM) and s.shape == (10, NUM_YAMNET_CLASSES)
        assert_cached_close(e, ref.embeddings, atol=1e-5)
        assert_cached_close(s, ref.scores, atol=1e-5)


def test_rerun_hits_cache_without_any_yamnet_call(yamnet, slice_set, tmp_path, monkeypatch):
    first = emb.embed_dataset(slice_set, yamnet, cache_dir=tmp_path)
    assert len(first) == len(slice_set.clips) == 64
    assert first.stats.computed == 64 and first.stats.patches == 640
    assert sorted(set(first.folds)) == [1, 2] and first.label_names == sorted(CLASSES)

    counting = _Counting(yamnet.model)
    watched = dataclasses.replace(yamnet, model=counting)

    def no_runner(_):
        raise AssertionError("a cached rerun must not build the YAMNet runner")

    monkeypatch.setattr(emb, "get_runner", no_runner)
    second = emb.embed_dataset(slice_set, watched, cache_dir=tmp_path)
    assert counting.calls == 0
    assert second.stats.cached == 64 and second.stats.computed == 0 and second.stats.network_calls == 0
    for a, b in zip(first.outputs, second.outputs, strict=True):
        assert set(a) == set(b) == set(FEATURE_WIDTHS)  # every feature is cached, layer blocks too
        for name in a:  # a cold run hands training what a warm one reads: float16-rounded, as float32
            assert a[name].dtype == b[name].dtype == np.float32
            np.testing.assert_array_equal(a[name], b[name])
    x, _y, owner = second.patch_table([0, 1], ("embeddings", "yamnet_scores"))
    assert x.shape == (20, EMBEDDING_DIM + NUM_YAMNET_CLASSES) and list(owner) == [0] * 10 + [1] * 10


def test_entry_is_one_float16_array_read_back_as_float32():
    rng = np.random.default_rng(0)
    features = {name: rng.random((10, width), dtype=np.float32) for name, width in FEATURE_WIDTHS.items()}
    features["embeddings"][:, ::3] = 0.0  # ReLU means are often exactly 0
    data = emb.encode_entry(features)
    back = emb.decode_entry(io.BytesIO(data))
    assert back is not None and list(back) == list(FEATURE_WIDTHS)
    for name in FEATURE_WIDTHS:  # lossless at float16: exactly the float16-rounded values, as float32
        assert back[name].dtype == np.float32
        np.testing.assert_array_equal(back[name], features[name].astype(np.float16).astype(np.float32))
    # the byte planes by hand: header, zlib(high bytes), zlib(low bytes), column by column
    rows, cols = 10, sum(FEATURE_WIDTHS.values())
    magic, number, level, _, n, w, high_size = emb._HEADER.unpack_from(data)
    assert (magic, number, level, n, w) == (b"YTFJ", 4, emb.ENTRY_ZLIB_LEVEL, rows, cols)
    high = np.frombuffer(zlib.decompress(data[emb._HEADER.size : emb._HEADER.size + high_size]), np.uint8)
    low = np.frombuffer(zlib.decompress(data[emb._HEADER.size + high_size :]), np.uint8)
    table = np.concatenate([features[n] for n in FEATURE_WIDTHS], axis=1).astype("<f2")
    np.testing.assert_array_equal(np.stack([low, high], 1).view("<f2").reshape(cols, rows).T, table)
    assert len(data) < table.nbytes  # compressed: real features shrink by ~35 % (docs/embedding.md)
    two = {name: features[name] for name in ("embeddings", "yamnet_scores")}  # the hub fallback's layout
    assert list(emb.decode_entry(io.BytesIO(emb.encode_entry(two)))) == ["embeddings", "yamnet_scores"]
    with pytest.raises(ValueError, match="layout"):
        emb.encode_entry({"embeddings": features["embeddings"], "layer9": features["layer9"]})
    v3 = io.BytesIO()
    np.savez(v3, features=table)  # the previous format: the same array in a plain .npz
    assert emb.decode_entry(io.BytesIO(v3.getvalue())) is None
    assert emb.decode_entry(io.BytesIO(data[:1000])) is None  # truncated
    assert emb.decode_entry(io.BytesIO(data[:10])) is None
    assert emb.decode_entry(io.BytesIO(b"")) is None
    assert emb.entry_relative_path("ab" * 32, 0, "cd" * 32).endswith("/shift0/cd/" + "cd" * 32 + ".f16z")
    assert "/v4/" in emb.entry_relative_path("ab" * 32, 0, "cd" * 32)


def test_killed_run_resumes_where_it_stopped(yamnet, slice_set, tmp_path):
    small = slice_set.subset(folds=[1])

    def kill_after_10(done, total):
        if done >= 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        emb.embed_dataset(small, yamnet, cache_dir=tmp_path, on_progress=kill_after_10)
    entries = list(tmp_path.rglob("*" + emb.ENTRY_SUFFIX))
    assert 10 <= len(entries) < len(small.clips)
    assert not list(tmp_path.rglob(".tmp-*"))  # no half-written entries
    resumed = emb.embed_dataset(small, yamnet, cache_dir=tmp_path)
    assert resumed.stats.cached == len(entries)
    assert resumed.stats.computed == len(small.clips) - len(entries)


def test_changed_file_is_recomputed_and_bad_file_skipped(yamnet, tmp_path):
    root = tmp_path / "set"
    for label in ("dog", "rain"):
        (root / label).mkdir(parents=True)
        for clip in esc50_clips_of(label, 2, fold=1):
            shutil.copy(clip, root / label / clip.name)
    ds = load_dataset(root)
    first = emb.embed_dataset(ds, yamnet, cache_dir=tmp_path / "c")
    assert first.stats.computed == 4
    target = ds.clips[0].path
    shutil.copy(esc50_clips_of("rain", 3, fold=1)[2], target)  # same name, new content
    truncated = ds.clips[3].path
    truncated.write_bytes(truncated.read_bytes()[:2000])  # header fine, audio cut off
    second = emb.embed_dataset(ds, yamnet, cache_dir=tmp_path / "c")
    assert second.stats.cached == 2 and second.stats.computed == 1 and second.stats.failed == 1
    assert [p for p, _ in second.skipped] == [truncated]
    assert target in second.paths and len(second) == 3


def test_shifted_view_and_short_clips_and_fallback_runner(yamnet, tmp_path, monkeypatch):
    root = tmp_path / "set"
    for label in ("dog", "rain"):
        (root / label).mkdir(parents=True)
        shutil.copy(esc50_clips_of(label, 1, fold=1)[0], root / label / "a.flac")
    ds = load_dataset(root)
    shifted = emb.embed_dataset(ds, yamnet, cache_dir=tmp_path / "c", shift=3840)
    assert [len(e) for e in shifted.embeddings] == [num_patches(80000 - 3840)] * 2
    ref = yamnet(load_audio(ds.clips[0].path)[3840:])
    assert_cached_close(shifted.embeddings[0], ref.embeddings, atol=1e-5)

    fallback = PatchRunner(None, None, yamnet, batched=False)
    monkeypatch.setattr(emb, "get_runner", lambda _: fallback)
    slow = emb.embed_dataset(ds, yamnet, cache_dir=tmp_path / "d")
    assert slow.stats.network_calls == 2
    assert_cached_close(slow.embeddings[0], yamnet(load_audio(ds.clips[0].path)).embeddings, atol=1e-6)
    with pytest.raises(PipelineError, match="--layers none"):  # the hub call cannot give block outputs
        slow.features(0, ("embeddings", "layer13"))


def test_block_features_are_yamnets_pooled_block_outputs(yamnet):
    from pipeline.yamnet.graph import freeze_yamnet

    frozen = freeze_yamnet(yamnet.model)
    blocks = {k: v for k, v in frozen.output_names.items() if k.startswith("layer")}
    # Found by walking the chain, never by name; the shared copy happens to number its ReLUs in chain
    # order (Relu = block 1, then depthwise/pointwise per block), so block k's output is Relu_{2k-2}.
    prefix = "StatefulPartitionedCall/StatefulPartitionedCall/Relu_"
    assert blocks == {f"layer{k}": f"{prefix}{2 * k - 2}:0" for k in range(9, 14)}

    runner = emb.get_runner(yamnet)
    dog = runner.run(runner.patches(load_audio(esc50_clips_of("dog", 1)[0])))
    silence = runner.run(runner.patches(np.zeros(32000, np.float32)))
    for name, width in FEATURE_WIDTHS.items():
        assert dog[name].shape == (10, width) and silence[name].shape == (num_patches(32000), width)
    for k in range(9, 14):
        feature = dog[f"layer{k}"]
        assert (feature >= 0).all() and (feature > 0).mean() > 0.3  # means of ReLU outputs, mostly active
        quiet = silence[f"layer{k}"]
        np.testing.assert_allclose(quiet, np.broadcast_to(quiet[0], quiet.shape), atol=1e-6)  # same input, same row
        assert np.linalg.norm(feature - quiet[0], axis=1).max() > 0.15 * np.linalg.norm(quiet[0])  # the bark is heard


def test_features_do_not_depend_on_the_batch_a_clip_shared(yamnet, slice_set, tmp_path):
    """Every network call is a full batch (the last one zero-padded) and TensorFlow's threads are pinned, so
    a clip's entry is the same bits whether it ran alone or among others, at any offset in a batch."""
    from pipeline.tfenv import THREADS_RANGE, tf

    threads = tf().config.threading.get_intra_op_parallelism_threads()
    assert THREADS_RANGE[0] <= threads <= THREADS_RANGE[1]
    few = dataclasses.replace(slice_set, clips=slice_set.clips[:3])  # 30 patches: one padded call
    many = dataclasses.replace(slice_set, clips=slice_set.clips[5:12] + slice_set.clips[:3])  # 100: 2 calls
    alone = emb.embed_dataset(few, yamnet, cache_dir=tmp_path / "alone")
    shared = emb.embed_dataset(many, yamnet, cache_dir=tmp_path / "shared")
    assert alone.stats.network_calls == 1 and shared.stats.network_calls == 2
    for i, features in enumerate(alone.outputs):
        for name, value in features.items():
            assert np.array_equal(value, shared.outputs[7 + i][name]), name
