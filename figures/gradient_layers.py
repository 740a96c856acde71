"""Figure: gradient norm vs layer for several group sizes (B1, B3).

Run: python figures/gradient_layers.py [--out DIR] [--tiny | --full] [--seed N] [--force]
[--no-progress]; writes gradient_layers.png, .pdf, .csv and .caption.txt into --out (default
figures-out/). The same as `normtheory figures --only gradient_layers`; the figure's code is
normtheory/figures/gradient_layers.py.
"""

import sys

from normtheory.figures.cli import main

if __name__ == "__main__":
    sys.exit(main(name="gradient_layers", prog="figures/gradient_layers.py"))
