"""The app's server as the browser tests and the benchmarks run it: ``streamlit run`` (or
``python -m dashboard.serve``, as ``make run`` starts it) on a free loopback port, and what a
process uses while it serves: memory, threads, CPU run and wait times, the tracebacks in its log.
Linux only (``/proc``). Not part of the app.

Example:
    >>> stats = proc_stats(os.getpid())
    >>> stats["rss_mb"] > 0 and stats["threads"] >= 1
    True
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import ROOT

__all__ = [
    "ROOT",
    "start_server",
    "stop_server",
    "proc_stats",
    "thread_times",
    "renderer_pids",
    "cpu_jiffies",
    "CpuMeter",
    "log_tracebacks",
    "log_messages",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    log_path: Path | None = None,
    timeout_s: float = 90,
    script: Path | None = None,
    warm_up: bool = False,
) -> tuple[subprocess.Popen, str]:
    """``streamlit run streamlit_app.py`` (or ``script``) on a free loopback port, its output into
    ``log_path`` (default: ``iresnet-soak-<port>.log`` in the temporary directory); returns
    (process, url) once healthy. ``warm_up``: the app as ``make run`` starts it,
    ``python -m dashboard.serve`` (the same, with the server's warm-up). Raises ``RuntimeError``
    if it exits or is not healthy within ``timeout_s``."""
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT), STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    log = open(log_path or Path(tempfile.gettempdir()) / f"iresnet-soak-{port}.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            *(
                ["dashboard.serve"]
                if warm_up
                else ["streamlit", "run", str(script or ROOT / "streamlit_app.py")]
            ),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}; see {log.name}")
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read().strip() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.3)
    stop_server(proc)
    raise RuntimeError(f"streamlit did not become healthy in {timeout_s:.0f} s; see {log.name}")


def stop_server(proc: subprocess.Popen) -> None:
    """Terminate the server (kill it if it is still there after 10 s) and reap it."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def proc_stats(pid: int) -> dict[str, float]:
    """RSS (MB) and thread count of a process, from ``/proc/<pid>/status`` (Linux)."""
    out = {"rss_mb": float("nan"), "threads": float("nan")}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                out["rss_mb"] = int(line.split()[1]) / 1024
            elif line.startswith("Threads:"):
                out["threads"] = int(line.split()[1])
    return out


def _schedstat(path: Path) -> tuple[float, float]:
    """(seconds on a CPU, seconds runnable but waiting for one) of one thread, from its
    ``schedstat``; (0, 0) if it is gone."""
    try:
        run_ns, wait_ns, _ = path.read_text().split()
    except (OSError, ValueError):
        return 0.0, 0.0
    return int(run_ns) / 1e9, int(wait_ns) / 1e9


def thread_times(pid: int, main_only: bool = False) -> dict[int, tuple[float, float]]:
    """Per thread of process ``pid`` (only its main thread with ``main_only``): (seconds on a CPU,
    seconds runnable but waiting for a CPU), from ``/proc/<pid>/task/<tid>/schedstat`` (Linux).
    The waiting time is what a busy machine costs a thread: work that takes 0.2 s of CPU takes
    0.2 s plus the wait in wall time. {} if the process is gone.

    >>> run, wait = thread_times(os.getpid(), main_only=True)[os.getpid()]
    >>> run > 0 and wait >= 0
    True
    """
    base = Path(f"/proc/{pid}/task")
    try:
        tids = [pid] if main_only else [int(t.name) for t in base.iterdir()]
    except OSError:
        return {}
    return {tid: _schedstat(base / str(tid) / "schedstat") for tid in tids}


def renderer_pids(root: int) -> list[int]:
    """Chromium's page renderers among the descendants of process ``root`` (the browser that
    Playwright started under this process; not its own user-interface renderer)."""
    parent: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (d / "stat").read_text()
                parent[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    out = []
    for pid in parent:
        p, seen = pid, 0
        while p in parent and p != root and seen < 64:
            p, seen = parent[p], seen + 1
        if p != root or pid == root:
            continue
        with contextlib.suppress(OSError):
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"--type=renderer" in cmd and b"--top-chrome-webui" not in cmd:
                out.append(pid)
    return sorted(out)


def cpu_jiffies() -> tuple[int, int]:
    """(busy, total) clock ticks of all the machine's cores since boot, from ``/proc/stat``."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


@dataclass
class CpuMeter:
    """CPU use and waiting since the last :meth:`read`: the server's threads, the pages'
    renderer main threads and the machine's cores. ``read()`` returns, per second of wall time,
    ``server_cpu`` / ``server_wait`` (cores used; threads waiting for a core, on average),
    ``render_cpu`` / ``render_wait`` (the same for the renderers' main threads) and ``busy`` (the
    fraction of the machine's cores busy, everyone's work included)."""

    server: int
    root: int = field(default_factory=os.getpid)
    _last: dict[str, Any] = field(default_factory=dict)

    def _now(self) -> dict[str, Any]:
        renderers: dict[int, tuple[float, float]] = {}
        for pid in renderer_pids(self.root):
            renderers.update(thread_times(pid, main_only=True))
        return {
            "t": time.time(),
            "server": thread_times(self.server),
            "render": renderers,
            "jiffies": cpu_jiffies(),
        }

    def read(self) -> dict[str, float]:
        """The figures since the last call ({} on the first)."""
        now, last = self._now(), self._last
        self._last = now
        if not last:
            return {}
        dt = max(1e-6, now["t"] - last["t"])
        out: dict[str, float] = {}
        for key in ("server", "render"):
            run = wait = 0.0
            for tid, (r, w) in now[key].items():
                r0, w0 = last[key].get(tid, (0.0, 0.0))
                run, wait = run + max(0.0, r - r0), wait + max(0.0, w - w0)
            out[f"{key}_cpu"], out[f"{key}_wait"] = round(run / dt, 3), round(wait / dt, 3)
        busy = now["jiffies"][0] - last["jiffies"][0]
        total = now["jiffies"][1] - last["jiffies"][1]
        out["busy"] = round(busy / total, 3) if total > 0 else 0.0
        return out


def log_tracebacks(text: str) -> list[str]:
    """The exception line of every Python traceback in a server log (its first line after the
    traceback's indented frames), in order.

    >>> log_tracebacks("ok\\nTraceback (most recent call last):\\n  File 'a.py'\\n    x()\\n"
    ...                "ValueError: bad\\nmore\\n")
    ['ValueError: bad']
    >>> log_tracebacks("no trouble here\\n")
    []
    """
    out: list[str] = []
    inside = False
    for line in text.splitlines():
        if line.startswith("Traceback (most recent call last)"):
            inside = True
        elif inside and line and not line[0].isspace():
            if line.startswith(("During handling", "The above exception")):
                continue  # a chained traceback: its own exception line follows
            out.append(line.strip())
            inside = False
    if inside:
        out.append("(a traceback cut off at the end of the log)")
    return out


_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ (.*)$")


def log_messages(text: str) -> list[str]:
    """The messages the server logged (Streamlit's timestamped lines: warnings, errors), the
    start-up line left out.

    >>> log_messages("2026-12-06 07:37:26.665 Uvicorn server started on 127.0.0.1:1\\n"
    ...              "  URL: x\\n2026-12-06 07:42:57.835 The widget with key ...\\nStack:\\n")
    ['The widget with key ...']
    """
    out = []
    for line in text.splitlines():
        m = _LOG_LINE.match(line)
        if m and "server started" not in m.group(1):
            out.append(m.group(1).strip())
    return out
