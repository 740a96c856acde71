"""Figure: training curves in the layout of the paper's Figure 1 (T1);
`normtheory figures --only training_curves` (same options, `--help`)."""
from normtheory.figures.cli import script

script(__name__, "training_curves")
