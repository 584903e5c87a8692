"""The JavaScript side, driven from Python: where the page and TF.js live (:mod:`.assets`), Node
(:mod:`.node`), browser engines behind one interface (:mod:`.engines`: Chromium in :mod:`.browser`,
Firefox in :mod:`.firefox`, WebKit in :mod:`.webkit`), the parity runtimes (:mod:`.runtimes`) and the
static site (:mod:`.site`: build and serve)."""
