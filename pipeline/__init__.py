"""yamnet-tfjs: from a folder of labelled sounds to a YAMNet classifier that runs in the browser."""

__version__ = "0.1.0"
