"""Figure: speed-stability trade-off over the group size (B2);
`normtheory figures --only speed_stability` (same options, `--help`)."""
from normtheory.figures.cli import script

script(__name__, "speed_stability")
