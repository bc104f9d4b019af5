"""What the way to the Playground's first chart relies on (docs/benchmarks.md, "Time to first
chart"): the first run imports only what the page draws with, the pre-trained checkpoints are read
once per process and the step-0 views computed once, and the server's warm-up leaves them so.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

import iresnet_core as ic
from dashboard import view, warm_up
from dashboard.checkpoints import checkpoint_dir, load_pretrained
from dashboard.state import Playground, Settings
from dashboard.view import compute_view, shared_view
from tests.support import APP, ROOT

#: Modules the Playground's first run must not import: the other pages' (and pandas, which only
#: they and scikit-learn import), the animation's encoder, torch's compiler stack (torch's first
#: optimiser imports it: a trainer makes its optimiser on its first update).
NOT_ON_THE_WAY = (
    "pandas",
    "imageio",
    "sklearn",
    "torch._dynamo",
    "dashboard.views.inverse",
    "dashboard.views.logdet",
    "dashboard.views.lipschitz",
    "dashboard.views.classify",
    "dashboard.views.layers",
    "dashboard.views.sweeps",
)

_FIRST_RUN = f"""
import sys
from streamlit.testing.v1 import AppTest
from dashboard import warm_up

seen = {{}}
# the page calls this once it has drawn: what is imported then was on the first chart's way
warm_up.after_first_page = lambda: seen.setdefault("modules", set(sys.modules))
at = AppTest.from_file({str(APP)!r}, default_timeout=300).run()
assert not at.exception, [e.value for e in at.exception]
print(len(at.get("plotly_chart")))
print("imported:" + ",".join(m for m in {NOT_ON_THE_WAY!r} if m in seen["modules"]))
"""


def _fresh_python(code: str, timeout_s: float = 300) -> str:
    """What ``code`` prints, run in a fresh interpreter (its own ``sys.modules``) from the
    repository's root; its stderr's tail when it fails."""
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=str(ROOT),
        timeout=timeout_s,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip()


@pytest.mark.timeout(400)
def test_the_playgrounds_first_run_imports_only_what_it_draws_with():
    charts, imported = _fresh_python(_FIRST_RUN, 380).splitlines()[-2:]
    assert int(charts) == 6  # the page drew: density, samples and NLL of both models
    assert imported == "imported:", f"on the way to the first chart: {imported}"


def test_after_the_first_page_pandas_is_whole_before_scikit_learn_imports_in_the_background():
    """And what the background imports leave is frozen out of the garbage collector's full
    passes, as the first page's heap is (dashboard/runtime.py)."""
    code = (
        "import gc, sys\n"
        "from dashboard import warm_up\n"
        "t = warm_up.after_first_page()\n"
        "whole = 'pandas' in sys.modules and not sys.modules['pandas'].__spec__._initializing\n"
        "t.join(300)\n"
        "from sklearn.datasets import make_moons\n"
        "import torch._dynamo\n"
        "seen = [o for o in gc.get_objects() if o is make_moons or o is torch._dynamo.disable]\n"
        "print(whole, 'sklearn.datasets' in sys.modules, 'torch._dynamo' in sys.modules,"
        " warm_up.after_first_page(), len(seen))\n"
    )
    assert _fresh_python(code).split() == ["True", "True", "True", "None", "0"]


def test_a_trainer_makes_its_optimiser_on_its_first_update():
    code = (
        "import sys, iresnet_core as ic\n"
        "flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16,)))\n"
        "t = ic.Trainer(flow, ic.datasets.sample('8gaussians', 500, seed=0))\n"
        "t.evaluate()\n"
        "before = 'torch._dynamo' in sys.modules\n"
        "t.step(1)\n"
        "print(before, t._optimizer is not None, 'torch._dynamo' in sys.modules)\n"
    )
    assert _fresh_python(code).split() == ["False", "True", "True"]


def test_a_pretrained_checkpoint_is_read_once_and_every_caller_trains_its_own_copy(tmp_path):
    d = checkpoint_dir("8gaussians", "iresnet")
    a, b = load_pretrained(d), load_pretrained(d)
    fresh = ic.load(d)
    for flow in (a, b):
        assert flow.state_dict().keys() == fresh.state_dict().keys()
        assert all(torch.equal(v, fresh.state_dict()[k]) for k, v in flow.state_dict().items())
    with torch.no_grad():  # training one copy leaves the other as the checkpoint has it
        next(a.parameters()).add_(1.0)
    assert not torch.equal(next(a.parameters()), next(b.parameters()))
    assert torch.equal(next(b.parameters()), next(fresh.parameters()))
    # a checkpoint written again is read again
    small = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(8,)))
    ic.save(small, tmp_path / "ck")
    assert load_pretrained(tmp_path / "ck").cfg == small.cfg
    other = ic.build_flow(ic.FlowConfig(n_blocks=3, hidden=(8,)))
    ic.save(other, tmp_path / "ck")
    assert load_pretrained(tmp_path / "ck").cfg == other.cfg


def test_two_new_sessions_share_their_step_zero_views_and_only_those():
    s = Settings(models="both", blocks=2, width=16, grid=40, n_samples=200)
    one, two = Playground(s), Playground(s)
    for model in ("iresnet", "glow"):
        a, b = one.view(one.runs[model]), two.view(two.runs[model])
        assert a.density is b.density and a.samples is b.samples  # computed once
        assert a.key != b.key  # each session's own key (its flow's id)
        assert not a.density.flags.writeable
        # and it is what the session's own flow gives
        own = compute_view(two.runs[model].shown, 0, two.bounds, 40, 200)
        np.testing.assert_array_equal(own.density, b.density)
        np.testing.assert_array_equal(own.samples, b.samples)
    two.step(1)
    a, b = one.view(one.runs["iresnet"]), two.view(two.runs["iresnet"])
    assert b.step == 1 and b.density is not a.density and b.density.flags.writeable
    # other numbers, another view: a flow of other weights at step 0 is not served the cached one
    other = ic.build_flow(s.flow_config("iresnet").replace(seed=1))
    c = shared_view(other, 0, one.bounds, 40, 200)
    assert not np.array_equal(c.density, a.density)


def test_the_warm_up_leaves_the_default_playgrounds_views_for_the_first_session(monkeypatch):
    view._shared.clear()
    warm_up.warm_up(after_server_start=False)
    assert warm_up.wait_for_imports(0)
    computed = []
    monkeypatch.setattr(view, "compute_view", lambda *a, **k: computed.append(a) or None)
    pg = Playground(Settings())
    for run in pg.shown_runs:
        assert pg.view(run).step == 0
    assert computed == []  # every step-0 view came from the warm-up
