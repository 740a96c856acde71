"""Figure: gradient norm vs layer for several group sizes (B1, B3);
`normtheory figures --only gradient_layers` (same options, `--help`)."""
from normtheory.figures.cli import script

script(__name__, "gradient_layers")
