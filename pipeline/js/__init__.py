"""The JavaScript side, driven from Python: where the page and TF.js live (:mod:`.assets`), Node
(:mod:`.node`), headless browsers (:mod:`.browser`), the parity runtimes (:mod:`.runtimes`) and the
static site (:mod:`.site`: build and serve)."""
