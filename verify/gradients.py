"""Claims B1-B3, stable backward propagation (gradient growth).

Run: python verify/gradients.py [--quick | --full] [--claims IDS] [--seed N] [--json PATH]
[--report PATH] [--cache-dir DIR]; the options and exit status of `normtheory verify`,
restricted to the gradients claims (normtheory/verify/claims_gradients.py).
"""

import sys

from normtheory.verify.cli import main

if __name__ == "__main__":
    sys.exit(main(family="gradients", prog="verify/gradients.py"))
