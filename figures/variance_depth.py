"""Figure: activation variance vs depth in residual nets (F1-F4);
`normtheory figures --only variance_depth` (same options, `--help`)."""
from normtheory.figures.cli import script

script(__name__, "variance_depth")
