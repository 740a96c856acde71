"""Claims F1-F4, stable forward propagation (variance growth in residual nets);
`normtheory verify` restricted to them (same options, `--help`)."""
from normtheory.verify.cli import script

script(__name__, "forward", "verify/forward_variance.py")
