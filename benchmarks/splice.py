"""Put one section into a Markdown page, leaving the rest of it as it was.

The contract: a section is a ``## `` heading line and the lines up to the next ``## `` heading.
:func:`write_section` replaces the section of a given heading (else puts it before ``## Notes``,
else at the end) and changes no other line; :func:`by_hand` returns the sections whose heading
ends in :data:`BY_HAND`, which :func:`benchmarks.report.write` carries over when it rewrites
``docs/benchmarks.md`` from scratch. The benchmarks that run on their own (the soak, the time to
first chart, the tuning) write their sections with :func:`write_section`. Plain text in, plain
text out: nothing here needs torch or the benchmarks' results.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["BY_HAND", "by_hand", "write_section"]

#: a section of benchmarks.md whose heading ends so is written by hand (a benchmark outside
#: ``make bench``, e.g. ``python -m benchmarks.animation``) and kept when the page is rewritten
BY_HAND = "(by hand)"


def by_hand(path: Path) -> list[str]:
    """The lines of the hand-written sections of the page at ``path`` (none if it is absent)."""
    if not path.is_file():
        return []
    out: list[str] = []
    keep = False
    for line in path.read_text().splitlines():
        if line.startswith("## "):
            keep = line.rstrip().endswith(BY_HAND)
        if keep:
            out.append(line)
    return out + [""] if out and out[-1] else out


def write_section(path: Path, lines: list[str], heading: str) -> None:
    """Put ``lines`` (a section starting with its ``## `` heading) into the Markdown page at
    ``path``: in place of the section whose heading line is ``heading`` (up to the next ``## ``
    heading), else before ``## Notes`` (where ``benchmarks.report`` keeps hand-written
    sections), else at the end. Every other line stays as it was.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "b.md"
    >>> _ = p.write_text("# B\\n\\n## A\\n\\na\\n\\n## Notes\\n\\n- n\\n")
    >>> write_section(p, ["## S", "", "one", ""], "## S")
    >>> write_section(p, ["## S", "", "two", ""], "## S")
    >>> print(p.read_text())
    # B
    <BLANKLINE>
    ## A
    <BLANKLINE>
    a
    <BLANKLINE>
    ## S
    <BLANKLINE>
    two
    <BLANKLINE>
    ## Notes
    <BLANKLINE>
    - n
    <BLANKLINE>
    """
    old = path.read_text().splitlines() if path.is_file() else []
    if heading in old:
        i = old.index(heading)
        j = next((k for k in range(i + 1, len(old)) if old[k].startswith("## ")), len(old))
    elif "## Notes" in old:
        i = j = old.index("## Notes")
    else:
        i = j = len(old)
        if old and old[-1]:
            lines = ["", *lines]
    body = list(lines)
    if j < len(old) and body and body[-1]:
        body.append("")
    new = old[:i] + body + old[j:]
    while new and not new[-1]:
        new.pop()
    path.write_text("\n".join(new) + "\n")
