"""Claims F1-F4, stable forward propagation (variance growth in residual nets).

Run: python verify/forward_variance.py [--quick | --full] [--claims IDS] [--seed N] [--json PATH]
[--report PATH] [--cache-dir DIR]; the options and exit status of `normtheory verify`,
restricted to the forward claims (normtheory/verify/claims_forward.py).
"""

import sys

from normtheory.verify.cli import main

if __name__ == "__main__":
    sys.exit(main(family="forward", prog="verify/forward_variance.py"))
