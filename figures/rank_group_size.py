"""Figure: stable rank and cosine similarity vs group size (R1, R2, R4).

Run: python figures/rank_group_size.py [--out DIR] [--tiny | --full] [--seed N] [--force]
[--no-progress]; writes rank_group_size.png, .pdf, .csv and .caption.txt into --out (default
figures-out/). The same as `normtheory figures --only rank_group_size`; the figure's code is
normtheory/figures/rank_group_size.py.
"""

import sys

from normtheory.figures.cli import main

if __name__ == "__main__":
    sys.exit(main(name="rank_group_size", prog="figures/rank_group_size.py"))
