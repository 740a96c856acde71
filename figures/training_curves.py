"""Figure: training curves in the layout of the paper's Figure 1 (T1).

Run: python figures/training_curves.py --runs DIR [--out DIR] [--tiny | --full] [--seed N] [--force]
[--no-progress]; writes training_curves.png, .pdf, .csv and .caption.txt into --out (default
figures-out/). The same as `normtheory figures --only training_curves`; the figure's code is
normtheory/figures/training_curves.py.
"""

import sys

from normtheory.figures.cli import main

if __name__ == "__main__":
    sys.exit(main(name="training_curves", prog="figures/training_curves.py"))
