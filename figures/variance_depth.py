"""Figure: activation variance vs depth in residual nets (F1-F4).

Run: python figures/variance_depth.py [--out DIR] [--tiny | --full] [--seed N] [--force]
[--no-progress]; writes variance_depth.png, .pdf, .csv and .caption.txt into --out (default
figures-out/). The same as `normtheory figures --only variance_depth`; the figure's code is
normtheory/figures/variance_depth.py.
"""

import sys

from normtheory.figures.cli import main

if __name__ == "__main__":
    sys.exit(main(name="variance_depth", prog="figures/variance_depth.py"))
