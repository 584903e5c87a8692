"""Regenerate docs/web-demo.png: the demo page for exported/esc50, live microphone plus a dropped file.

    .venv/bin/python docs/screenshot_web_demo.py [exported/esc50]

Builds the site for the export, serves it on 127.0.0.1, plays a real ESC-50 clip into Chromium's fake
microphone, drops a 10 s file made of four other ESC-50 clips, and screenshots the page.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
from pathlib import Path

import numpy as np

from pipeline.audio import load_audio
from pipeline.constants import SAMPLE_RATE
from pipeline.js.browser import fake_microphone_wav, launch_chromium
from pipeline.js.site import build_site, make_server

REPO = Path(__file__).resolve().parents[1]
AUDIO = REPO.parent / "shared" / "datasets" / "esc50" / "audio"
MIC_CLIP = AUDIO / "1-211527-C-20.flac"  # crying baby
FILE_CLIPS = ["1-17367-A-10.flac", "1-26806-A-1.flac", "1-22694-A-20.flac", "1-32318-A-0.flac"]  # rain, rooster, ...


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", nargs="?", default=str(REPO / "exported" / "esc50"))
    parser.add_argument("--out", default=str(REPO / "docs" / "web-demo.png"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        site = build_site(args.export, Path(tmp) / "site")
        mic = fake_microphone_wav(load_audio(MIC_CLIP), SAMPLE_RATE, Path(tmp) / "mic.wav")
        mix = np.concatenate([load_audio(AUDIO / name)[: int(2.5 * SAMPLE_RATE)] for name in FILE_CLIPS])
        dropped = fake_microphone_wav(mix, SAMPLE_RATE, Path(tmp) / "street-mix.wav")
        server = make_server(site, port=0, quiet=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/?backend=wasm"
        try:
            with launch_chromium(fake_audio=mic) as browser:
                context = browser.new_context(permissions=["microphone"], viewport={"width": 1200, "height": 980})
                page = context.new_page()
                page.goto(url)
                page.wait_for_function("window.yamnetDemo && yamnetDemo.classifier", timeout=60_000)
                page.set_input_files('[data-testid="file-input"]', str(dropped))
                page.wait_for_function(
                    "document.querySelector('[data-testid=status]').textContent.startsWith('Classified')",
                    timeout=120_000,
                )
                page.click('[data-testid="start-mic"]')
                page.wait_for_function("yamnetDemo.stats.windows >= 10", timeout=60_000)
                page.screenshot(path=args.out)
                context.close()
        finally:
            server.shutdown()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
