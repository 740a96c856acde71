"""Figure: rank collapse with depth for LN and unnormalized nets (R3).

Run: python figures/rank_collapse.py [--out DIR] [--tiny | --full] [--seed N] [--force]
[--no-progress]; writes rank_collapse.png, .pdf, .csv and .caption.txt into --out (default
figures-out/). The same as `normtheory figures --only rank_collapse`; the figure's code is
normtheory/figures/rank_collapse.py.
"""

import sys

from normtheory.figures.cli import main

if __name__ == "__main__":
    sys.exit(main(name="rank_collapse", prog="figures/rank_collapse.py"))
