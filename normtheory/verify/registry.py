"""The claim registry: what each claim states, where it is checked, and how it passes.

A :class:`Claim` bundles, stated in advance of any simulation:

- ``statement`` -- the claim in words (ids F1..F6b, R1..R4c, B1..B3b, as ``normtheory verify --list`` shows them);
- ``grid`` -- for each mode (``"quick"``, ``"full"``) the settings it is checked at, each a
  :class:`Point` (a dict of parameters and a number of independent trials);
- ``theory(setting) -> float`` -- the closed form (from :mod:`normtheory.bounds`), or a
  :class:`~normtheory.verify.stats.ComputedTheory` (with ``theory_looks``);
- ``measure(setting, trials, seed) -> Measurement`` -- the simulator (from
  :mod:`normtheory.montecarlo`), returning per-trial arrays;
- ``estimate(measurement, level, setting) -> Interval`` -- the statistic and its confidence
  interval (from :mod:`normtheory.verify.stats`), with ``statistic`` and ``interval``
  saying in words what is estimated (which expectation the closed form predicts) and how
  the interval is built;
- ``rule`` -- the verdict rule with its precision (:class:`~normtheory.verify.stats.Equivalence`
  with a :class:`~normtheory.verify.stats.Precision` ``δ``,
  :class:`~normtheory.verify.stats.BoundHolds`, :class:`~normtheory.verify.stats.SideOfBoundary`);
- ``form`` -- what the closed form is (:data:`FORMS`): exact at every width, a finite-width
  computation, an infinite-width limit (a disagree at small width is then a finding about
  the limit), a large-depth limit, a calibrated constant, or a predicted ordering/regime;
- ``backend`` -- ``"numba"`` or ``"torch"``: the torch simulations run on a device, which is
  part of the cache key;
- ``theory_looks`` -- for a computed theory (``theory`` returns a
  :class:`~normtheory.verify.stats.ComputedTheory`, a Monte Carlo computation where no closed
  form exists), the most intervals it computes per setting (its adaptive doublings), counted
  in the run's simultaneous level; 0 for a closed form;
- ``rivals`` -- the forms the claimed one must be told from (:class:`Rival`: the paper's
  infinite-width limit, an earlier form, an alternative definition), each judged by the same
  rule on the same interval (:mod:`normtheory.verify.judging`);
- ``probe_keys`` -- setting names that choose what is read from a simulation (a layer, say)
  rather than what is simulated: settings differing only there share their seed, hence
  their simulation.

The grid's trial counts are the first look of the adaptive schedule
(:mod:`normtheory.verify.runner`): an undecided setting gets more trials.

Claims register themselves when their module is imported; :func:`load_claims` imports the
three claim modules and :func:`select` picks claims by id or family. Heavy imports (numba,
torch) happen inside ``measure``, so that loading the registry stays fast.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from normtheory.runs.seeds import setting_key
from normtheory.stats import Interval
from normtheory.verify.stats import BoundHolds, Equivalence, SideOfBoundary

MODES = ("quick", "full")
FORMS = ("exact", "finite-width", "finite-width (exact in law, computed)", "infinite-width limit",
         "large-depth limit", "calibrated", "ordering",
         "asymptotic regime")
BACKENDS = ("numba", "torch")
FAMILIES = ("forward", "rank", "gradients")
CLAIM_MODULES = {
    "forward": "normtheory.verify.claims_forward",
    "rank": "normtheory.verify.claims_rank",
    "gradients": "normtheory.verify.claims_gradients",
}
#: modules of further claims, imported with a family (they register claims of that family)
EXTRA_CLAIM_MODULES = {"forward": ("normtheory.verify.claims_finite_width",),
                       "gradients": ("normtheory.verify.claims_gradients_relu",),
                       "rank": ("normtheory.verify.claims_rank_finite_width", "normtheory.verify.claims_corrections")}


@dataclass(frozen=True)
class Point:
    """One setting of a claim's grid and the number of independent trials run there."""

    setting: Mapping[str, object]
    trials: int

    def __post_init__(self):
        if self.trials < 2:
            raise ValueError(f"trials must be >= 2 for an interval, got {self.trials}")

    @property
    def key(self) -> str:
        return setting_key(self.setting)


@dataclass
class Measurement:
    """What a claim's simulator returns for one setting.

    ``data`` maps names to arrays with one leading entry per independent trial (the
    estimator decides how to combine them). ``diverged_layer`` is the first layer where
    any trial overflowed (inf/NaN), ``diverged_trials`` how many trials did, and
    ``backward_trials`` how many of those overflowed in the backward pass only (a finite
    forward pass, a non-finite gradient); such trials carry NaN in ``data``. A non-finite entry in a trial that no divergence accounts for
    is a failed trial (:meth:`failed_trials`): the runner turns it into an error verdict.
    """

    data: dict[str, np.ndarray]
    trials: int
    diverged_layer: int | None = None
    diverged_trials: int = 0
    backward_trials: int = 0

    def __post_init__(self):
        self.data = {k: np.asarray(v, dtype=np.float64) for k, v in self.data.items()}
        for name, arr in self.data.items():
            if arr.ndim == 0 or arr.shape[0] != self.trials:
                raise ValueError(
                    f"measurement {name!r} must have one entry per trial ({self.trials}), "
                    f"got shape {arr.shape}")

    def nonfinite_trials(self) -> int:
        """How many trials carry a non-finite entry anywhere in ``data``."""
        bad = np.zeros(self.trials, dtype=bool)
        for arr in self.data.values():
            bad |= ~np.all(np.isfinite(arr.reshape(self.trials, -1)), axis=1)
        return int(bad.sum())

    def failed_trials(self) -> int:
        """Trials with a non-finite entry beyond those a recorded divergence explains."""
        return max(self.nonfinite_trials() - self.diverged_trials, 0)

    @classmethod
    def concat(cls, parts: Sequence["Measurement"]) -> "Measurement":
        """The trials of several independent batches (the looks of a setting), in order."""
        if not parts:
            raise ValueError("concat needs at least one measurement")
        names = list(parts[0].data)
        if any(list(p.data) != names for p in parts):
            raise ValueError("measurements to concatenate must carry the same arrays")
        layers = [p.diverged_layer for p in parts if p.diverged_layer is not None]
        return cls({k: np.concatenate([p.data[k] for p in parts]) for k in names},
                   sum(p.trials for p in parts), min(layers) if layers else None,
                   sum(p.diverged_trials for p in parts), sum(p.backward_trials for p in parts))

    def to_json(self) -> dict:
        return {"data": {k: v.tolist() for k, v in self.data.items()}, "trials": self.trials,
                "diverged_layer": self.diverged_layer, "diverged_trials": self.diverged_trials,
                "backward_trials": self.backward_trials}

    @classmethod
    def from_json(cls, obj: Mapping) -> "Measurement":
        data = {k: np.array(v, dtype=np.float64) for k, v in obj["data"].items()}
        return cls(data, int(obj["trials"]), obj.get("diverged_layer"),
                   int(obj.get("diverged_trials", 0)), int(obj.get("backward_trials", 0)))


#: a rival is discriminated at a setting where it lies more than this many δ from the claimed form
DISCRIMINATING_GAP = 3.0


@dataclass(frozen=True)
class Rival:
    """A form the claimed one must be told from, judged on the claim's own intervals.

    ``theory(setting)`` is the rival's value (a float) at a setting of the claim's grid, or
    None where it does not apply (a GroupNorm rival at a LayerNorm setting). ``provenance``
    says in one line where the rival comes from (the paper's infinite-width limit, a form
    the claimed one replaced, the alternative definition). A rival is *discriminated* at a
    setting where it lies more than :data:`DISCRIMINATING_GAP`·δ from the claimed form, and
    *rejected* where the claim's interval lies entirely outside ``rival ± δ``.
    """

    name: str
    provenance: str
    theory: Callable[[Mapping], float | None]

    def __post_init__(self):
        if not self.name or not self.provenance:
            raise ValueError("a rival needs a name and a one-line provenance")


@dataclass(frozen=True)
class Claim:
    """A claim with its grid, closed form, simulator, statistic and pass rule."""

    id: str
    family: str
    title: str
    statement: str
    statistic: str
    interval: str
    rule: Equivalence | BoundHolds | SideOfBoundary
    form: str
    grid: Mapping[str, Sequence[Point]]
    theory: Callable[[Mapping], object]  # float, or a ComputedTheory (see theory_looks)
    measure: Callable[[Mapping, int, int], Measurement]
    estimate: Callable[[Measurement, float, Mapping], Interval]
    backend: str = "numba"
    source: str = ""
    version: str = "1"
    notes: str = field(default="")
    probe_keys: tuple = ()
    theory_looks: int = 0
    rivals: tuple = ()

    def __post_init__(self):
        if not self.id or not self.id.replace("_", "").isalnum():
            raise ValueError(f"claim id must be alphanumeric, got {self.id!r}")
        if self.form not in FORMS:
            raise ValueError(f"claim {self.id}: form must be one of {FORMS}, got {self.form!r}")
        if self.backend not in BACKENDS:
            raise ValueError(f"claim {self.id}: backend must be one of {BACKENDS}, got {self.backend!r}")
        if isinstance(self.theory_looks, bool) or not isinstance(self.theory_looks, int) or self.theory_looks < 0:
            raise ValueError(f"claim {self.id}: theory_looks must be an integer >= 0, got {self.theory_looks!r}")
        if self.rivals and not isinstance(self.rule, Equivalence):
            raise ValueError(f"claim {self.id}: rivals need an Equivalence rule (a precision δ)")
        names = [r.name for r in self.rivals]
        if len(set(names)) != len(names) or not all(isinstance(r, Rival) for r in self.rivals):
            raise ValueError(f"claim {self.id}: rivals must be Rival objects with distinct names")
        for mode in MODES:
            if not self.grid.get(mode):
                raise ValueError(f"claim {self.id}: grid has no settings for mode {mode!r}")
        for mode, points in self.grid.items():
            if mode not in MODES:
                raise ValueError(f"claim {self.id}: unknown mode {mode!r}; expected {MODES}")
            keys = [p.key for p in points]
            if len(set(keys)) != len(keys):
                raise ValueError(f"claim {self.id}: mode {mode!r} repeats a setting")

    def points(self, mode: str) -> Sequence[Point]:
        check_mode(mode)
        return self.grid[mode]

    @property
    def precision(self):
        """The claim's ``δ`` (:class:`~normtheory.verify.stats.Precision`), or None for orderings and bounds."""
        return getattr(self.rule, "precision", None)

    def seed_key(self, point: Point) -> str:
        """The setting without its ``probe_keys``: what selects the simulation (and its seed)."""
        return setting_key({k: v for k, v in point.setting.items() if k not in self.probe_keys})


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return mode


_CLAIMS: dict[str, Claim] = {}


def register(claim: Claim, *, replace: bool = False) -> Claim:
    """Add a claim to the registry (``replace=True`` to redefine an id)."""
    if claim.id in _CLAIMS and not replace:
        raise ValueError(f"claim {claim.id!r} is already registered")
    _CLAIMS[claim.id] = claim
    return claim


def unregister(claim_id: str) -> None:
    _CLAIMS.pop(claim_id, None)


def load_claims(families: Sequence[str] = FAMILIES) -> None:
    """Import the claim modules of the given families (they register their claims)."""
    for family in families:
        if family not in CLAIM_MODULES:
            raise ValueError(f"unknown claim family {family!r}; expected one of {FAMILIES}")
        importlib.import_module(CLAIM_MODULES[family])
        for module in EXTRA_CLAIM_MODULES.get(family, ()):
            importlib.import_module(module)


def registered() -> list[Claim]:
    """All registered claims: by family in :data:`FAMILIES` order (other families after
    them), and in registration order within a family. Within a family the order is fixed by
    the modules (an extra module imports its family's main module first); across families
    it must not depend on which module a program happened to import first."""
    rank = {family: i for i, family in enumerate(FAMILIES)}
    return sorted(_CLAIMS.values(), key=lambda c: rank.get(c.family, len(FAMILIES)))


def select(ids: str | Sequence[str] | None = None, *, family: str | None = None) -> list[Claim]:
    """Claims by comma-separated ids (case-insensitive) and/or family, registry order.

    Unknown ids raise ValueError naming the closest registered ids.
    """
    claims = registered()
    if family is not None:
        if family not in FAMILIES and family not in {c.family for c in claims}:
            raise ValueError(f"unknown claim family {family!r}; expected one of {FAMILIES}")
        claims = [c for c in claims if c.family == family]
    if ids is None:
        return claims
    if isinstance(ids, str):
        ids = [s for s in ids.split(",")]
    wanted = [s.strip().upper() for s in ids if s.strip()]
    if not wanted:
        raise ValueError("claims: no claim id given")
    known = {c.id.upper(): c for c in claims}
    for w in wanted:
        if w not in known:
            close = difflib.get_close_matches(w, list(known), n=3, cutoff=0.3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"claims: unknown claim id {w!r}{hint} "
                             f"(known: {', '.join(c.id for c in claims)})")
    return [c for c in claims if c.id.upper() in wanted]
