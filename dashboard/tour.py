"""The guided tour's scenes as plain data: which page each one opens, the controls it presets, and
what to say there. No Streamlit here; :mod:`dashboard.views.tour` drives the pages with it.

Every control of the pages is bound to the URL (``bind="query-params"``) and its widget key is the
query parameter, so a scene is a page's ``url_path`` plus the values of some of its keys, held as
the widgets hold them (the Playground's ``models`` radio holds its label, ``"i-ResNet"``). A scene
resets the keys that other scenes of the tour set on the same page and it does not name (back to
the page's defaults), and leaves every other control as the person set it. Scenes are numbered
from 1, as the counter ("3 / 8") and the links (``/tour?scene=3``) show them.

Each scene's text cites the paper (Behrmann et al., ICML 2019) by section, theorem, algorithm or
table, and, where it helps, the equation of the reading report (``seed/iresnet-reading-report.md``
beside DESIGN.md).

Example:
    >>> len(SCENES), SCENES[0].page, counter(3)
    (8, 'playground', '3 / 8')
    >>> scene(4).query()
    {'model': 'pretrained', 'data': 'checkerboard', 'inv_c': '0.99', 'inv_n': '100'}
    >>> link(3), link(3, presentation=True)
    ('/tour?scene=3', '/tour?scene=3&presentation=true')
    >>> parse_scene("12")
    (8, 'scene=12 is past the last scene: showing scene 8')
    >>> values, cleared = preset(1)
    >>> values["dataset"], cleared
    ('checkerboard', ('unconstrained',))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = [
    "Scene",
    "SCENES",
    "PAGES",
    "PAGE_TITLES",
    "TOUR_PATH",
    "SCENE_PARAM",
    "RUNNING_PARAM",
    "url_token",
    "scene",
    "counter",
    "link",
    "parse_scene",
    "preset_keys",
    "preset",
]

Value = bool | int | float | str

#: the pages a scene can open, by ``url_path`` (as ``streamlit_app.py`` registers them)
PAGES = ("playground", "inverse", "logdet", "lipschitz", "classify")
#: their titles in the navigation (``streamlit_app.py``), and the Tour page's
PAGE_TITLES = {
    "playground": "Playground",
    "inverse": "Inverse",
    "logdet": "Log-determinant",
    "lipschitz": "Lipschitz",
    "classify": "Classifiers",
    "tour": "Tour",
}
TOUR_PATH = "tour"  #: the Tour page's ``url_path``
SCENE_PARAM = "scene"  #: ``/tour?scene=3`` opens scene 3
RUNNING_PARAM = "tour"  #: on a scene's page, ``?tour=3`` says which scene of the tour is on


def url_token(value: Value) -> str:
    """A value as a query parameter writes it (``True`` -> ``"true"``, ``0.99`` -> ``"0.99"``).

    >>> [url_token(v) for v in (True, False, 0.99, 1e-3, 100, "i-ResNet")]
    ['true', 'false', '0.99', '0.001', '100', 'i-ResNet']
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@dataclass(frozen=True)
class Scene:
    """One stop of the tour.

    Attributes:
        title: a few words, shown beside the counter.
        page: the ``url_path`` of the page it opens (one of :data:`PAGES`).
        params: widget key (= query parameter) -> value, as the widget holds it.
        do: what to do there (one sentence).
        watch: what to look at (one or two sentences).
        paper: what the paper says about it, with its section, theorem or equation.
    """

    title: str
    page: str
    params: Mapping[str, Value] = field(default_factory=dict)
    do: str = ""
    watch: str = ""
    paper: str = ""

    def __post_init__(self) -> None:
        if self.page not in PAGES:
            raise ValueError(f"unknown page {self.page!r}; one of {PAGES}")
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def query(self) -> dict[str, str]:
        """The scene's controls as URL query parameters."""
        return {k: url_token(v) for k, v in self.params.items()}


# The lens pages (inverse, log-det, Lipschitz) look at the pre-trained checkerboard i-ResNet in
# every scene, whatever the person trained in the Playground before: the numbers a speaker
# rehearsed are the numbers the audience sees.
_LENS = {"model": "pretrained", "data": "checkerboard"}

SCENES: tuple[Scene, ...] = (
    Scene(
        "i-ResNet against Glow on the checkerboard",
        "playground",
        {
            "dataset": "checkerboard",
            "models": "Both",
            "budget": "equal steps",
            "pretrained": False,
        },
        do="Press Play: both models start from scratch and advance the same number of steps a "
        "tick (Budget: equal steps), Glow sized to about the i-ResNet's number of parameters.",
        watch="The sentence above the charts compares them after the same number of steps: "
        "each one's distance from perfect (NLL minus the entropy ln 32). Each model runs at its "
        "tuned settings, and neither wins everywhere: on this set Glow is ahead or level up to "
        "5,000 steps (docs/benchmarks.md has the tables); the densities show where each one's "
        "error sits.",
        paper="Sec. 5, the toy-data comparison (the reading report's Figure 1): Glow splits the "
        "coordinates and transforms one half at a time; an i-ResNet block moves both at once.",
    ),
    Scene(
        "Lift the constraint: the inverse diverges",
        "playground",
        {
            "dataset": "checkerboard",
            "models": "i-ResNet",
            "unconstrained": True,
            "pretrained": False,
        },
        do="Press Play: the same i-ResNet trains with spectral normalisation off, a plain ResNet.",
        watch="The status line: within a few dozen steps the bound Lip ≤ … passes 1 and grows "
        "into the hundreds, the inverse turns to ✗ diverged and the samples, drawn through the "
        "inverse, are gone. The density is still drawn: the forward pass needs no inverse.",
        paper="Theorem 1 and Algorithm 1 (Sec. 2): xₙ₊₁ = y − g(xₙ) (reading report eq. 12) "
        "finds the inverse when g is a contraction, Lip(g) < 1 (eq. 2); without that, Banach's "
        "theorem promises nothing.",
    ),
    Scene(
        "Lift the constraint: the plane folds",
        "lipschitz",
        {**_LENS, "lip_free": True},
        do="The pre-trained model's raw weights, without spectral normalisation (Unconstrained "
        "is on in the sidebar).",
        watch="Below, the warped grid: red where det J ≤ 0, where the map folds the plane and two "
        "points land on the same z. The strip under it bends the same weights for c = 0.3 … "
        "0.99: no fold until the constraint is gone.",
        paper="Theorem 1 (Sec. 2): x + g(x) is invertible when Lip(g) < 1; then det(I + J_g) > 0 "
        "everywhere (reading report eq. 17), and the change of variables holds.",
    ),
    Scene(
        "c towards 0.99: the inverse slows down",
        "inverse",
        {**_LENS, "inv_c": 0.99, "inv_n": 100},
        do="c is set to 0.99 and the iterations run to 100; move c back towards 0.5.",
        watch="The red curve (c = 0.99) falls far slower than those for 0.5, 0.7 and 0.9, and so "
        "does its dashed Banach bound; the table counts the iterations each c needs to the "
        "tolerance.",
        paper="Algorithm 1 and Banach's bound ‖x* − xₙ‖ ≤ Lⁿ/(1 − L) ‖x₁ − x₀‖ (reading report "
        "eq. 36): as L nears 1 each iteration gains only a factor L and the 1/(1 − L) in front "
        "grows; the paper keeps c between 0.5 and 0.9.",
    ),
    Scene(
        "Few series terms: the truncation bias",
        "logdet",
        {**_LENS, "ld_N": 2},
        do="The log-determinant's power series is cut after N = 2 terms; move N up to 20.",
        watch="The series metric's bias against the exact value, and on the left the truncation "
        "error against N under its bound: both fall as N grows, the bound always above.",
        paper="Sec. 3, Theorem 3: cut after N terms, ln det(I + J_g) = Σₖ (−1)ᵏ⁺¹ tr(J_gᵏ)/k "
        "(reading report eq. 20-21) is off by at most d(−ln(1 − c) − Σ_{k≤N} cᵏ/k) per block.",
    ),
    Scene(
        "Hutchinson's spread against Russian roulette",
        "logdet",
        {**_LENS, "ld_N": 2, "ld_probes": 16},
        do="Still N = 2 terms, now 16 Gaussian probes per point; move the probes down to 1.",
        watch="Below, the draws and their running means: Hutchinson's settle on the truncated "
        "series (the green diamond), Russian roulette's on the exact value (dashed). More probes "
        "narrow Hutchinson's spread, never its bias.",
        paper="Sec. 3: tr(A) = E[vᵀAv] (Hutchinson; reading report eq. 22-23) makes the series "
        "cheap but leaves the truncation bias; Russian roulette (Chen et al. 2019, Residual "
        "Flows) draws the number of terms at random and reweights them to remove it.",
    ),
    Scene(
        "Power iteration underestimates σ",
        "lipschitz",
        {**_LENS, "lip_k": 3},
        do="Three power iterations from a random start; raise k step by step.",
        watch="Each layer's estimate climbs towards the SVD's σ (dashed) from below and never "
        "passes it; the first metric, the largest underestimate over all layers, shrinks slowly "
        "as k grows.",
        paper="Sec. 2 (power iteration: the reading report's Appendix B, eq. 32-34): uᵀWv ≤ "
        "‖W‖₂, so normalising by an underestimated σ can leave the true norm above c; in "
        "training the persistent u, v make one iteration per step enough.",
    ),
    Scene(
        "Table 1, in 2D",
        "classify",
        {"clf_dataset": "moons"},
        do="Below the charts, press “Fill the table”: the same classifier is trained without the "
        "constraint and with c = 0.9 … 0.5 (the results are cached: a rehearsal makes it "
        "instant).",
        watch="The test error changes little from vanilla down to the larger c and grows for "
        "the smallest, while only the constrained rows have a guaranteed inverse, with a "
        "reconstruction error near zero.",
        paper="Table 1 (Sec. 5): on CIFAR10 6.69 % vanilla against 6.78 % at c = 0.9 and 8.71 % "
        "at c = 0.5, and only the constrained networks have a guaranteed inverse.",
    ),
)


def scene(number: int) -> Scene:
    """Scene ``number``, counted from 1."""
    if not 1 <= number <= len(SCENES):
        raise IndexError(f"scene {number} of {len(SCENES)}")
    return SCENES[number - 1]


def counter(number: int) -> str:
    """``"3 / 8"``."""
    return f"{number} / {len(SCENES)}"


def link(number: int, presentation: bool = False) -> str:
    """The link that opens scene ``number`` directly (for a slide); in presentation mode with
    ``presentation=True``."""
    return f"/{TOUR_PATH}?{SCENE_PARAM}={number}" + ("&presentation=true" if presentation else "")


def parse_scene(value: str | None, param: str = SCENE_PARAM) -> tuple[int | None, str | None]:
    """A scene number from the URL's ``param`` and what to say about it: ``(number, note)``. A
    number out of range is clamped to the nearest scene (with a note); anything else is no scene
    (with a note).

    >>> parse_scene("3"), parse_scene(None)
    ((3, None), (None, None))
    >>> parse_scene("0")
    (1, 'scene=0 is before the first scene: showing scene 1')
    >>> parse_scene("three")
    (None, "scene=three is not a scene number (1 to 8): showing the tour's start")
    """
    if value is None or value == "":
        return None, None
    try:
        number = int(str(value).strip())
    except ValueError:
        return None, (
            f"{param}={value} is not a scene number (1 to {len(SCENES)}): showing the tour's start"
        )
    if number < 1:
        return 1, f"{param}={value} is before the first scene: showing scene 1"
    if number > len(SCENES):
        last = len(SCENES)
        return last, f"{param}={value} is past the last scene: showing scene {last}"
    return number, None


def preset_keys(page: str) -> frozenset[str]:
    """Every key that some scene of the tour sets on ``page``."""
    return frozenset(k for s in SCENES if s.page == page for k in s.params)


def preset(number: int) -> tuple[dict[str, Value], tuple[str, ...]]:
    """What opening scene ``number`` does to the controls: ``(values, cleared)``, the values it
    sets and the keys (set by other scenes on its page) that go back to the page's defaults."""
    s = scene(number)
    cleared = tuple(sorted(preset_keys(s.page) - set(s.params)))
    return dict(s.params), cleared
