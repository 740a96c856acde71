"""numba kernels for the MLP form ``(B, d)`` of the activation-based normalizers.

Forward and backward in closed form (no autograd), float64, used by the Monte Carlo
engines in :mod:`normtheory.montecarlo`. See :mod:`normtheory.kernels.mlp_norms`.
"""

from normtheory.kernels.numba_cache import drop_stale_cache

drop_stale_cache()

from normtheory.kernels.mlp_norms import (  # noqa: E402  (after the stale cache is gone)
    KERNEL_CODES,
    PHI_CODES,
    norm_backward,
    norm_code,
    norm_forward,
    phi_code,
)

__all__ = ["KERNEL_CODES", "PHI_CODES", "norm_backward", "norm_code", "norm_forward", "phi_code"]
