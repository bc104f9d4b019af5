"""``python -m dashboard.serve [options of streamlit run]``: ``streamlit run streamlit_app.py``
with the server's warm-up (:func:`dashboard.warm_up.warm_up` in a thread from the start); what
``make run`` starts.

``streamlit run streamlit_app.py`` serves the same app without the warm-up: its first visitor
waits for the first-run work that the warm-up does before anyone asks (docs/benchmarks.md, "Time
to first chart").

Example:
    >>> argv = streamlit_argv(["--server.port", "8502"])
    >>> argv[:2], Path(argv[2]).name, argv[3:]
    (['streamlit', 'run'], 'streamlit_app.py', ['--server.port', '8502'])
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["APP", "streamlit_argv", "main"]

#: the app's entry point
APP = Path(__file__).resolve().parent.parent / "streamlit_app.py"


def streamlit_argv(options: list[str]) -> list[str]:
    """The command line of ``streamlit run`` for the app with ``options`` (``--server.port``
    ...)."""
    return ["streamlit", "run", str(APP), *options]


def main(argv: list[str] | None = None) -> int:
    from dashboard.warm_up import start_warm_up

    start_warm_up()
    from streamlit.web import cli

    sys.argv = streamlit_argv(list(sys.argv[1:] if argv is None else argv))
    return cli.main()


if __name__ == "__main__":
    raise SystemExit(main())
