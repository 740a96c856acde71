"""Per-layer probes of a network at initialization (definitions: docs/settings.md).

- :func:`activation_variance`: per-channel variance over batch and space, averaged over channels.
- :func:`mean_cosine_similarity`: mean over ordered pairs ``i ≠ j`` of ``cos(x_i, x_j)``.
- :func:`stable_rank`: two definitions (:data:`STABLE_RANKS`), ours by default:
  ``"samples"``, ``‖X‖_F² / ‖X‖_2²`` of the ``B × (C·H·W)`` sample matrix; ``"rownorm"``,
  the paper's code: trace / spectral norm of the Gram matrix of the samples after each is
  scaled to unit norm (``B / λ_max``; every sample counts alike whatever its norm).
- :func:`probe`: all of them, plus gradient norms at two placements
  (:data:`GRADIENT_PLACEMENTS`), ours by default: ``"layer_output"``, the squared norm
  ``‖∂ℓ/∂X_l‖²`` at each probed layer's output (after its normalizer and nonlinearity);
  ``"conv_output"``, the paper's code: the Frobenius norm (not squared) of the gradient
  with respect to the probed layer's conv outputs, before the normalizer. For any network
  of :mod:`normtheory.nets`, as tidy records.

The numba engine (:mod:`normtheory.montecarlo.explicit`) computes the same quantities on
``(B, d)`` arrays; tests hold the two against each other.
"""

from __future__ import annotations

import math

import numpy as np
import torch


#: stable-rank definitions: ours (the default) and the paper's code's
__all__ = ["GRADIENT_PLACEMENTS", "STABLE_RANKS", "Overflow", "activation_variance", "as_columns",
           "mean_cosine_similarity", "probe", "stable_rank"]

STABLE_RANKS = ("samples", "rownorm")
#: where a gradient norm is taken: ours (the default) and the paper's code's
GRADIENT_PLACEMENTS = ("layer_output", "conv_output")


class Overflow(ValueError):
    """A probed representation became non-finite (an exploding network)."""

    def __init__(self, layer: int, name: str, stage: str = "forward", nonfinite=("representation",)):
        what = "activations" if stage == "forward" else "gradients"
        super().__init__(f"{what} became non-finite (inf/NaN) at layer {layer} ({name}): "
                         f"{', '.join(nonfinite)}")
        self.layer = layer
        self.name = name
        self.stage = stage
        self.nonfinite = list(nonfinite)


def _as_tensor(x) -> torch.Tensor:
    t = torch.as_tensor(x)
    if t.dim() < 2:
        raise ValueError(f"x must have shape (B, C) or (B, C, H, W), got {tuple(t.shape)}")
    if t.shape[0] < 2:
        raise ValueError(f"x needs at least 2 samples, got batch size {t.shape[0]}")
    return t.detach()


def activation_variance(x) -> float:
    """Per-channel biased variance over batch and space, averaged over channels."""
    t = _as_tensor(x)
    per_channel = t.transpose(0, 1).reshape(t.shape[1], -1)
    return float(per_channel.var(dim=1, unbiased=False).mean())


def _gram(x) -> torch.Tensor:
    t = _as_tensor(x)
    flat = t.reshape(t.shape[0], -1).to(torch.float64)
    return flat @ flat.T


def mean_cosine_similarity(x) -> float:
    """Mean cosine similarity over ordered pairs of distinct samples (uncentred)."""
    return _cosine_of_gram(_gram(x))


def _cosine_of_gram(k: torch.Tensor) -> float:
    nrm = torch.sqrt(torch.diagonal(k))
    if bool((nrm == 0).any()):
        raise ValueError("a sample's representation is identically zero: its cosine similarity is undefined")
    c = k / (nrm[:, None] * nrm[None, :])
    b = c.shape[0]
    return float((c.sum() - torch.diagonal(c).sum()) / (b * (b - 1)))


def stable_rank(x, definition: str = "samples") -> float:
    """Stable rank of the samples of ``x`` (between 1 and ``B``).

    ``definition="samples"`` (default): ``‖X‖_F² / ‖X‖_2²`` = trace / largest eigenvalue of
    the Gram matrix of the flattened samples. ``"rownorm"`` (the paper's code): the same of
    the Gram matrix after each sample is scaled to unit norm, ``B / λ_max``."""
    if definition not in STABLE_RANKS:
        raise ValueError(f"definition must be one of {', '.join(STABLE_RANKS)}, got {definition!r}")
    return _stable_rank_of_gram(_gram(x), definition)


def _stable_rank_of_gram(k: torch.Tensor, definition: str) -> float:
    if definition == "rownorm":
        nrm = torch.sqrt(torch.diagonal(k))
        if bool((nrm == 0).any()):
            raise ValueError("a sample's representation is identically zero: its scaled stable rank is undefined")
        k = k / (nrm[:, None] * nrm[None, :])
    scale = k.abs().max()
    if float(scale) <= 0:
        raise ValueError("the representation is identically zero: its stable rank is undefined")
    k = k / scale  # stable rank is scale invariant; this keeps eigvalsh well conditioned
    return float(torch.trace(k) / torch.linalg.eigvalsh(k)[-1])


def _weights_of(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p for n, p in module.named_parameters() if n.endswith("weight") and p.dim() >= 2]


_WEIGHT_LAYERS = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d, torch.nn.Linear)


def _weight_layers(module: torch.nn.Module) -> list[torch.nn.Module]:
    """The convs (linear layers in an MLP) inside a probed module, in registration order."""
    return [m for m in module.modules() if isinstance(m, _WEIGHT_LAYERS)]


def _retain(store: list):
    def hook(_mod, _inp, out):
        if out.requires_grad:
            out.retain_grad()
        store.append(out)
    return hook


def _retain_input(store: list):
    def hook(_mod, inp):
        if inp and isinstance(inp[0], torch.Tensor) and inp[0].requires_grad:
            inp[0].retain_grad()
            store.append(inp[0])
    return hook


def probe(model: torch.nn.Module, x: torch.Tensor, *, loss="random", seed: int = 0,
          on_overflow: str = "raise", points=None) -> list[dict]:
    """Forward ``x`` through ``model`` and probe every point of ``points``, a list of
    ``(name, module)`` pairs (default ``model.probe_points()``) whose outputs are tensors of
    shape ``(B, C, ...)``, each module called once per forward pass (``ValueError`` when one
    is not called, is called twice, returns no tensor, or has its output changed in place
    later in the pass, as an in-place ReLU does).

    ``loss="random"`` backpropagates ``<G, output>`` with ``G`` i.i.d. ``N(0, 1)`` drawn from
    ``seed`` (docs/settings.md); a callable ``loss(output) -> scalar`` is used as is. Returns
    one record per probe point: layer, name, variance, cosine, stable_rank (``"samples"``),
    stable_rank_rownorm (the paper's, ``"rownorm"``), grad_input_sq (``‖∂ℓ/∂X_l‖²``, our
    placement), grad_conv_out_norm (the paper's placement: ``‖∂ℓ/∂Y‖_F``, not squared, for
    ``Y`` the output of the probed module's conv, before its normalizer; with several convs
    in the module (a residual block's, its shortcut's) the norm over all of them together,
    ``sqrt(Σ_convs ‖∂ℓ/∂Y_c‖²)``; linear layers in an MLP; for a module without convs or
    linear layers, a normalizer, the norm of the gradient with respect to its input, which
    is its conv's output when a conv feeds it) and grad_weight_sq (the squared
    gradient norm of the conv / linear weights inside the probed module, summed; NaN where
    it has none). A non-finite
    value raises :class:`Overflow` naming the first layer that has one, or with
    ``on_overflow="record"`` returns the records of the layers below it, every value finite,
    and last a record ``{"layer", "name", "overflow": True, "nonfinite": [...],
    "stage": "forward" | "backward"}`` for that layer (the names of its non-finite
    quantities; its values are not returned). Non-finite means the representation itself,
    or any quantity computed from it or from the backward pass: a representation with
    finite entries can still have an infinite variance or squared gradient norm in its own
    dtype (float32 entries near ``1e20``). The gradient columns of the records below a
    forward overflow are NaN: no loss can be formed on a non-finite output, so no backward
    pass is run (NaN there means "not computed", as for ``grad_weight_sq`` of a module
    without weights).
    """
    if on_overflow not in ("raise", "record"):
        raise ValueError(f"on_overflow must be 'raise' or 'record', got {on_overflow!r}")
    points = list(model.probe_points() if points is None else points)
    outputs: dict[int, torch.Tensor] = {}
    versions: dict[int, int] = {}
    conv_outputs: dict[int, list] = {idx: [] for idx in range(len(points))}
    hooks = []

    def keep(idx, name):
        def hook(_mod, inp, out):
            if idx in outputs:
                raise ValueError(f"probe point {name!r} is called more than once per forward pass: probe the "
                                 f"modules that call it instead")
            if not isinstance(out, torch.Tensor):
                raise ValueError(f"probe point {name!r} returns {type(out).__name__}, not a tensor")
            if out.requires_grad:
                out.retain_grad()
            outputs[idx], versions[idx] = out, out._version
        return hook

    for idx, (name, mod) in enumerate(points):
        hooks.append(mod.register_forward_hook(keep(idx, name)))
        layers = _weight_layers(mod)
        hooks += [m.register_forward_hook(_retain(conv_outputs[idx])) for m in layers]
        if not layers:  # a normalizer: the gradient at its input (its conv's output)
            hooks.append(mod.register_forward_pre_hook(_retain_input(conv_outputs[idx])))
    try:
        model.zero_grad(set_to_none=True)
        out = model(x)
    finally:
        for h in hooks:
            h.remove()
    for idx, (name, _mod) in enumerate(points):
        if idx not in outputs:
            raise ValueError(f"probe point {name!r} is not called in the forward pass")
        if outputs[idx]._version != versions[idx]:
            raise ValueError(f"the output of probe point {name!r} is changed in place later in the forward pass "
                             f"(an in-place activation?): make that module out of place (inplace=False)")
    forward, first_bad = [], None
    for idx in range(len(points)):  # up to the first layer with a non-finite forward value
        forward.append(_forward_quantities(outputs[idx].detach()))
        if _nonfinite(forward[-1]):
            first_bad = idx
            break
    backward_ran = first_bad is None
    if backward_ran:
        if loss == "random":
            gen = torch.Generator().manual_seed(int(seed))
            g = torch.randn(out.shape, generator=gen, dtype=out.dtype).to(out.device)
            scalar = (out * g).sum()
        elif callable(loss):
            scalar = loss(out)
        else:
            raise ValueError("loss must be 'random' or a callable(output) -> scalar")
        scalar.backward()
    records = []
    for idx, (name, mod) in enumerate(points):
        if first_bad is not None and idx > first_bad:
            break
        quantities = dict(forward[idx])
        if backward_ran:
            grads = _backward_quantities(outputs[idx].grad, conv_outputs[idx], _weights_of(mod))
            quantities.update(grads)
        else:
            quantities.update(dict.fromkeys(_GRADIENT_KEYS, _MISSING))
        bad = _nonfinite(quantities)
        if bad:
            stage = "forward" if idx == first_bad else "backward"
            if on_overflow == "raise":
                raise Overflow(idx, name, stage, bad)
            records.append({"layer": idx, "name": name, "overflow": True, "nonfinite": bad, "stage": stage})
            break
        records.append({"layer": idx, "name": name,
                        **{k: (float("nan") if v is _MISSING else v) for k, v in quantities.items()}})
    return records


_GRADIENT_KEYS = ("grad_input_sq", "grad_conv_out_norm", "grad_weight_sq")
_MISSING = object()  # nothing to measure (no weights, no gradient, no backward pass): NaN in the record


def _forward_quantities(rep: torch.Tensor) -> dict:
    """The forward probes of one representation, or ``{"representation": inf}`` when it is
    itself non-finite (its other probes are meaningless then)."""
    if not (bool(torch.isfinite(rep).all()) and bool(torch.isfinite(rep.double().pow(2).sum()))):
        return {"representation": float("inf")}
    k = _gram(rep)  # one Gram matrix for the cosine and both stable ranks
    return {"variance": activation_variance(rep), "cosine": _cosine_of_gram(k),
            "stable_rank": _stable_rank_of_gram(k, "samples"),
            "stable_rank_rownorm": _stable_rank_of_gram(k, "rownorm")}


def _backward_quantities(grad, conv_outputs: list, weights: list) -> dict:
    """The gradient probes, summed in float64 (a float32 sum of squares overflows near
    ``3e19`` per entry although every entry is finite)."""
    conv_grads = [y.grad for y in conv_outputs if y.grad is not None]
    weight_grads = [w.grad for w in weights if w.grad is not None]
    return {
        "grad_input_sq": float(grad.double().pow(2).sum()) if grad is not None else _MISSING,
        "grad_conv_out_norm": float(sum(g.double().pow(2).sum() for g in conv_grads).sqrt())
        if conv_grads else _MISSING,
        "grad_weight_sq": float(sum(g.double().pow(2).sum() for g in weight_grads)) if weights else _MISSING,
    }


def _nonfinite(quantities: dict) -> list[str]:
    """Names of the non-finite values (those not measured, ``_MISSING``, excepted)."""
    return [key for key, value in quantities.items() if value is not _MISSING and not math.isfinite(value)]


def as_columns(records: list[dict]) -> dict[str, np.ndarray]:
    """Tidy records -> dict of columns (numpy arrays)."""
    keys = [k for k in records[0] if k != "name"]
    cols = {k: np.array([r.get(k, np.nan) for r in records], dtype=float) for k in keys}
    cols["name"] = np.array([r["name"] for r in records])
    return cols
