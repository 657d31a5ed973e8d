"""Put a benchmark's results into bench/README.md between its ``<!-- name:start/end -->`` markers."""

from __future__ import annotations

import re
from pathlib import Path

from bixse.io import atomic_write

README = Path(__file__).with_name("README.md")


def write_readme_section(name: str, block: str) -> None:
    """Replace what stands between the ``name`` markers with ``block`` (atomically)."""
    text = README.read_text(encoding="utf-8")
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"bench/README.md has no <!-- {name}:start --> / <!-- {name}:end --> markers")
    with atomic_write(README) as handle:
        handle.write(pattern.sub(lambda match: match.group(1) + block + "\n" + match.group(2), text))


def publish(name: str, lines: list[str], write: bool) -> None:
    """Print a benchmark's result lines and, with ``write``, put them into its README section."""
    block = "\n".join(lines)
    print(block)
    if write:
        write_readme_section(name, block)
