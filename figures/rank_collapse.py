"""Figure: rank collapse with depth for LN and unnormalized nets (R3);
`normtheory figures --only rank_collapse` (same options, `--help`)."""
from normtheory.figures.cli import script

script(__name__, "rank_collapse")
