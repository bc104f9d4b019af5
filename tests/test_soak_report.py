"""The soak's report (``benchmarks/soak_report.py``, with ``soak_stats.py`` and
``soak_figure.py``) without a soak: the pages in docs/ are what it writes from the stored samples
(``docs/soak.json``), byte for byte, as ``python -m benchmarks.soak --replot --benchmarks``
rewrites them (their examples run with every other module's:
tests/test_app_docstring_examples.py).

A change to the report's wording or figure therefore comes with its pages rewritten by
``--replot``, and a page edited by hand (a note: ``--replot --note``) shows up here.
"""

from __future__ import annotations

import json
import shutil

from benchmarks.soak_report import SECTION, write
from benchmarks.soak_stats import Sample
from tests.support import ROOT

DOCS = ROOT / "docs"


def test_pages_are_what_the_report_writes_from_the_stored_samples(tmp_path, capsys):
    d = json.loads((DOCS / "soak.json").read_text())
    samples = [Sample(**x) for x in d["samples"]]
    shutil.copy(DOCS / "benchmarks.md", tmp_path / "benchmarks.md")
    out, svg = tmp_path / "soak.md", tmp_path / "soak_rss.svg"
    met = write(samples, d["facts"], d["warmup_s"], out, svg, tmp_path / "benchmarks.md")
    assert met in (0, 1)
    assert f"wrote {out}" in capsys.readouterr().out
    replot = "rewrite it with `python -m benchmarks.soak --replot --benchmarks`"
    assert out.read_bytes() == (DOCS / "soak.md").read_bytes(), replot
    assert svg.read_bytes() == (DOCS / "soak_rss.svg").read_bytes(), replot
    page = (tmp_path / "benchmarks.md").read_bytes()
    assert SECTION.encode() in page
    assert page == (DOCS / "benchmarks.md").read_bytes(), replot
