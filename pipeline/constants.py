"""YAMNet's fixed numbers, stated once.

Every other module (and, through ``metadata.json``, the JavaScript side) takes these from here, so
a change of front end cannot leave a second copy behind. Values are those of Google's
``research/audioset/yamnet/params.py`` and of the TF Hub model ``google/yamnet/1``.
"""

from __future__ import annotations

SAMPLE_RATE = 16_000
"""YAMNet's input rate in Hz: 1-D float32 mono in [-1, 1]."""

STFT_WINDOW_SAMPLES = 400  # 25 ms periodic Hann window
STFT_HOP_SAMPLES = 160  # 10 ms
FFT_LENGTH = 512
NUM_SPECTRUM_BINS = FFT_LENGTH // 2 + 1  # 257
NUM_MEL_BINS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
LOG_OFFSET = 0.001

PATCH_FRAMES = 96  # 0.96 s of 10 ms frames
PATCH_HOP_FRAMES = 48  # 0.48 s
PATCH_WINDOW_SECONDS = PATCH_FRAMES * STFT_HOP_SAMPLES / SAMPLE_RATE  # 0.96
PATCH_HOP_SECONDS = PATCH_HOP_FRAMES * STFT_HOP_SAMPLES / SAMPLE_RATE  # 0.48
PATCH_HOP_SAMPLES = PATCH_HOP_FRAMES * STFT_HOP_SAMPLES  # 7680

MIN_WAVEFORM_SAMPLES = (PATCH_FRAMES - 1) * STFT_HOP_SAMPLES + STFT_WINDOW_SAMPLES  # 15600 = 0.975 s
"""The shortest input that fills one patch; YAMNet zero-pads anything shorter up to this."""

NUM_YAMNET_CLASSES = 521
EMBEDDING_DIM = 1024

LAYER_WIDTHS = {9: 512, 10: 512, 11: 512, 12: 512, 13: 1024}
"""Channels of YAMNet's separable blocks 9-13 (Google's ``layer9`` .. ``layer13``; the embedding is
the spatial mean of ``layer14``). The spatial mean of each block's output is a per-patch feature a
head may read as well: on ESC-50 they buy accuracy over the embedding alone (docs/training.md)."""

DEFAULT_LAYERS = "9-13"
"""The blocks whose pooled outputs the default head reads besides the embedding (``--layers``)."""

FEATURE_WIDTHS = {
    "embeddings": EMBEDDING_DIM,
    "yamnet_scores": NUM_YAMNET_CLASSES,
    **{f"layer{k}": width for k, width in LAYER_WIDTHS.items()},
}
"""Every per-patch feature a head may read, with its width (docs/contracts.md). A head's input is
the concatenation of the features it lists, in :data:`FEATURE_ORDER`."""

FEATURE_ORDER = tuple(FEATURE_WIDTHS)
"""The one order features are concatenated in, whatever order a user lists them."""

DEFAULT_FEATURES = ("embeddings", *(f"layer{k}" for k in LAYER_WIDTHS))
"""The default head's input: the embedding and the pooled outputs of blocks 9-13 (``--layers 9-13``)."""

DEFAULT_YAMNET_HANDLE = "https://tfhub.dev/google/yamnet/1"
YAMNET_ENV_VAR = "YAMNET_MODEL"

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".opus")


def num_patches(num_samples: int) -> int:
    """How many patches TF Hub YAMNet returns for a waveform of ``num_samples`` samples.

    Hub's graph pads the waveform to at least :data:`MIN_WAVEFORM_SAMPLES` and then rounds the
    remainder up to whole patch hops, so 5 s gives 10 patches and anything up to 0.975 s gives 1.
    """
    if num_samples <= MIN_WAVEFORM_SAMPLES:
        return 1
    extra = num_samples - MIN_WAVEFORM_SAMPLES
    return 1 + -(-extra // PATCH_HOP_SAMPLES)


def padded_length(num_samples: int) -> int:
    """The length Hub's YAMNet zero-pads a waveform to before framing (see :func:`num_patches`)."""
    return MIN_WAVEFORM_SAMPLES + (num_patches(num_samples) - 1) * PATCH_HOP_SAMPLES
