"""Claims R1-R4, informative forward propagation (stable rank, cosine similarity).

Run: python verify/rank.py [--quick | --full] [--claims IDS] [--seed N] [--json PATH]
[--report PATH] [--cache-dir DIR]; the options and exit status of `normtheory verify`,
restricted to the rank claims (normtheory/verify/claims_rank.py).
"""

import sys

from normtheory.verify.cli import main

if __name__ == "__main__":
    sys.exit(main(family="rank", prog="verify/rank.py"))
