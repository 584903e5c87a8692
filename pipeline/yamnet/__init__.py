"""Everything that knows YAMNet: loading it (:mod:`.model`), its graph (:mod:`.graph`: freezing, the
blocks, the TF.js-friendly front end, the cut at the first convolution) and running its network on
patches batched across clips (:mod:`.runner`). Other modules use YAMNet only through this package."""

from .model import Yamnet, YamnetOutput, load_yamnet, resolve_handle

__all__ = ["Yamnet", "YamnetOutput", "load_yamnet", "resolve_handle"]
