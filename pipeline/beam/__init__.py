"""The embedding stage as an Apache Beam pipeline: the same cache entries, from one machine to a cluster.

``yamnet-tfjs embed --runner direct|dataflow|flink|spark|portable`` runs :func:`.job.embed_with_beam`
(import it after :func:`require_beam`). It fills
the cache :func:`pipeline.embeddings.embed_dataset` reads, with the same keys, layout and bytes (the layout
and the entry format are owned by :mod:`pipeline.embeddings`; decoding by :mod:`pipeline.audio`; YAMNet's
batched split by :mod:`pipeline.yamnet.runner`), so ``train`` then finds every clip cached. The features are
the same bits as the local embedder's on the same CPU type: both run the network on full 64-row batches
with TensorFlow's threads pinned (:mod:`pipeline.tfenv`). docs/scale.md has the commands and the figures.

apache-beam is an optional extra (``pip install 'yamnet-tfjs[beam]'``): this module does not import it, so
the rest of the product works without it and ``--runner`` says in one line what to install.
"""

from __future__ import annotations

import importlib.util

from ..errors import BeamError

RUNNERS = {
    "direct": "DirectRunner",
    "dataflow": "DataflowRunner",
    "flink": "FlinkRunner",
    "spark": "SparkRunner",
    "portable": "PortableRunner",
}
"""``--runner`` names -> Beam's runners. ``portable`` submits to a job server you started (Flink, Spark)."""

INSTALL_HINT = "pip install 'yamnet-tfjs[beam]' (in one pip command with the package, so TensorFlow keeps protobuf 5)"


def require_beam() -> None:
    """Fail in one line, before any work, when apache-beam is not installed."""
    if importlib.util.find_spec("apache_beam") is None:
        raise BeamError(f"--runner needs Apache Beam, which is not installed: {INSTALL_HINT}")
