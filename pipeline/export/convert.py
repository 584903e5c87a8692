"""SavedModel -> TF.js graph model with ``tensorflowjs_converter``, plus quantized variants.

Quantization is applied to the network's weights only. The front-end constants this project puts
under ``yamnet_frontend/`` (Hann window, mel matrix, log offset, DFT cos table) stay float32:
quantizing them wrecks log-mel (../shared/notes/toolchain.md). The converter takes
an explicit list of node names, so the float32 conversion's ``model.json`` supplies that list.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..errors import PipelineError
from ..events import OnMessage, ignore
from ..layout import BIG_TENSOR_ELEMENTS, VARIANTS, Variant
from ..yamnet.graph import FRONTEND_PREFIX

UNSUPPORTED_OPS = frozenset({"RFFT", "ComplexAbs", "Complex", "FFT", "IRFFT"})
"""Ops that must not reach TF.js: wasm has no kernels for them and cpu runs them slowly."""


class ConversionError(PipelineError):
    """tensorflowjs_converter failed or produced a graph TF.js backends cannot run."""


def converter_command() -> list[str]:
    """How to start tensorflowjs_converter: the one installed beside this Python, else on PATH."""
    local = Path(sys.executable).parent / "tensorflowjs_converter"
    if local.is_file():
        return [str(local)]
    found = shutil.which("tensorflowjs_converter")
    if not found:
        raise ConversionError("tensorflowjs_converter not found: install the package with `pip install -e .`")
    return [found]


def run_converter(
    saved_model: Path, out_dir: Path, structured: bool = True, quantize: tuple[str, list[str]] | None = None
) -> None:
    """Convert ``saved_model`` (serving_default) into a TF.js graph model in ``out_dir``."""
    args = [
        *converter_command(),
        "--input_format=tf_saved_model",
        "--output_format=tfjs_graph_model",
        "--signature_name=serving_default",
    ]
    if structured:
        args.append("--use_structured_outputs_names=true")
    for kind, names in (quantize or {}).items():
        if names:
            args.append(f"--quantize_{kind}={','.join(names)}")  # bare flags swallow the next argument
    args += [str(saved_model), str(out_dir)]
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not (out_dir / "model.json").is_file():
        lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        tail = lines[-1] if lines else f"exit code {proc.returncode}"
        raise ConversionError(f"tensorflowjs_converter failed on {saved_model}: {tail}")
    check_converted(out_dir)
    if not structured:
        order_positional_outputs(out_dir)


def order_positional_outputs(tfjs_dir: Path) -> None:
    """Put ``output_0, output_1, ...`` in numeric order in model.json's signature.

    Without structured names, ``model.predict`` returns an array in the order of the signature's
    output keys, and the converter writes them in arbitrary (here reversed) order; TF Hub's
    ``const [scores, embeddings, spectrogram] = model.predict(x)`` needs the signature's own order.
    """
    path = tfjs_dir / "model.json"
    model_json = read_model_json(tfjs_dir)
    signature = model_json.get("signature") or {}
    outputs = signature.get("outputs")
    if not outputs or not all(k.startswith("output_") and k[7:].isdigit() for k in outputs):
        return
    signature["outputs"] = {k: outputs[k] for k in sorted(outputs, key=lambda k: int(k[7:]))}
    path.write_text(json.dumps(model_json), encoding="utf-8")


def read_model_json(tfjs_dir: Path) -> dict[str, Any]:
    """The parsed ``model.json`` of a converted graph model."""
    return json.loads((tfjs_dir / "model.json").read_text(encoding="utf-8"))


def graph_ops(model_json: dict[str, Any]) -> set[str]:
    """Op types of a converted graph model (including those inside functions)."""
    topology = model_json["modelTopology"]
    nodes = list(topology.get("node", []))
    for fn in (topology.get("library") or {}).get("function", []):
        nodes += fn.get("nodeDef", [])
    return {n["op"] for n in nodes}


def check_converted(tfjs_dir: Path) -> None:
    """Refuse a converted graph that still holds ops some TF.js backend cannot run."""
    bad = graph_ops(read_model_json(tfjs_dir)) & UNSUPPORTED_OPS
    if bad:
        raise ConversionError(
            f"{tfjs_dir}/model.json still contains {sorted(bad)}: the front-end rewrite did not apply"
        )


def weights(model_json: dict[str, Any]) -> list[dict[str, Any]]:
    """All weight specs of a converted model (name, shape, dtype, quantization)."""
    return [w for group in model_json["weightsManifest"] for w in group["weights"]]


def network_weight_names(model_json: dict[str, Any]) -> list[str]:
    """Float32 weights that may be quantized: everything except the ``yamnet_frontend/`` constants."""
    return [
        w["name"]
        for w in weights(model_json)
        if w["dtype"] == "float32" and FRONTEND_PREFIX not in w["name"].split("/")
    ]


def signature_io(model_json: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The graph model's input spec and ``{output key: spec}``; ``spec["name"]`` is the node to execute."""
    signature = model_json.get("signature") or model_json["userDefinedMetadata"]["signature"]
    inputs = signature["inputs"]
    if len(inputs) != 1:
        raise ConversionError(f"converted model has {len(inputs)} inputs, expected one waveform input")
    return next(iter(inputs.values())), dict(signature["outputs"])


def weights_bytes(tfjs_dir: Path) -> int:
    """Total size of a variant's weight shards in bytes."""
    return sum(p.stat().st_size for p in tfjs_dir.glob("*.bin"))


def convert_all(
    saved_model: Path,
    out_root: Path,
    quantizations: Sequence[str],
    structured: bool = True,
    on_message: OnMessage = ignore,
) -> dict[str, Path]:
    """Write ``tfjs/`` and one folder per quantized variant under ``out_root``; returns ``{variant: folder}``."""
    step = on_message
    base = out_root / VARIANTS["float32"].dir
    run_converter(saved_model, base, structured=structured)
    variants = {"float32": base}
    model_json = read_model_json(base)
    front = {w["name"].rsplit("/", 1)[-1] for w in weights(model_json) if FRONTEND_PREFIX in w["name"].split("/")}
    if quantizations and not {"hann_window", "mel_matrix"} <= front:
        # Without them named, quantization would reach the front end and wreck log-mel.
        raise ConversionError(f"{base}: front-end constants not found by name ({sorted(front)}); refusing to quantize")
    # The quantized conversions depend only on the float32 one: side by side, each converter process's
    # start-up (importing TensorFlow, loading the SavedModel) overlaps the other's work.
    jobs = {}
    with ThreadPoolExecutor(max_workers=max(1, len(quantizations))) as pool:
        for name in quantizations:
            variant = VARIANTS[name]
            step(f"converting to TF.js: {variant.description}")
            target = out_root / variant.dir
            plan = quantization_plan(model_json, variant)
            jobs[name] = (target, pool.submit(run_converter, saved_model, target, structured, plan))
        for name, (target, job) in jobs.items():
            job.result()  # re-raises a failed conversion's ConversionError
            variants[name] = target
    return variants


def quantization_plan(model_json: dict[str, Any], variant: Variant) -> dict[str, list[str]]:
    """Which network weights get which dtype in ``variant`` (the front end never appears).

    Tensors of at least :data:`pipeline.layout.BIG_TENSOR_ELEMENTS` elements get ``variant.big``, the
    others ``variant.small``; a dtype of None leaves those weights float32.
    """
    names = set(network_weight_names(model_json))
    plan: dict[str, list[str]] = {}
    for w in weights(model_json):
        if w["name"] not in names:
            continue
        dtype = variant.big if math.prod(w["shape"]) >= BIG_TENSOR_ELEMENTS else variant.small
        if dtype is not None:
            plan.setdefault(dtype, []).append(w["name"])
    return plan
