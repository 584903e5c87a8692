"""Write a benchmark's Markdown table into its doc, between ``<!-- bench:NAME -->`` markers."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.atomic import write_text_atomic


def markdown_table(header: list[str], rows: list[str]) -> str:
    """A Markdown table from column names and ready-made ``| a | b |`` row lines."""
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *rows])


def replace_between_markers(doc: Path, name: str, table: str) -> bool:
    """Put ``table`` between the doc's ``bench:NAME`` markers; False (doc untouched) if they are missing.

    Everything outside the markers is hand-written prose that explains the numbers, so only the
    table is regenerated.
    """
    text = doc.read_text() if doc.exists() else ""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    if start not in text or end not in text:
        return False
    write_text_atomic(doc, text[: text.index(start) + len(start)] + "\n" + table + "\n" + text[text.index(end) :])
    return True


def save_results(name: str, results: dict) -> Path:
    """Write ``bench/results/NAME.json`` (the raw numbers a doc's table is made from) and print them."""
    out = Path(__file__).resolve().parent / "results" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return out
