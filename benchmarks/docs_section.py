"""Write one benchmark's section of docs/benchmarks.md, leaving every other section as it is."""

from __future__ import annotations

from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def replace_section(heading: str, text: str, docs: Path = DOCS) -> None:
    """Replace the section that starts with `heading` (e.g. "## Integrity") by `text`, or append it."""
    current = docs.read_text() if docs.exists() else "# Benchmarks\n"
    start = current.find(f"\n{heading}\n")
    if start < 0:
        updated = current.rstrip("\n") + "\n\n" + text
    else:
        end = current.find("\n## ", start + 1)
        updated = current[: start + 1] + text + (current[end:] if end >= 0 else "")
    docs.parent.mkdir(exist_ok=True)
    docs.write_text(updated)
