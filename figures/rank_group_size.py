"""Figure: stable rank and cosine similarity vs group size (R1, R2, R4);
`normtheory figures --only rank_group_size` (same options, `--help`)."""
from normtheory.figures.cli import script

script(__name__, "rank_group_size")
