"""Figure: speed-stability trade-off over the group size (B2).

Run: python figures/speed_stability.py [--out DIR] [--tiny | --full] [--seed N] [--force]
[--no-progress]; writes speed_stability.png, .pdf, .csv and .caption.txt into --out (default
figures-out/). The same as `normtheory figures --only speed_stability`; the figure's code is
normtheory/figures/speed_stability.py.
"""

import sys

from normtheory.figures.cli import main

if __name__ == "__main__":
    sys.exit(main(name="speed_stability", prog="figures/speed_stability.py"))
