"""Claims B1-B3, stable backward propagation (gradient growth);
`normtheory verify` restricted to them (same options, `--help`)."""
from normtheory.verify.cli import script

script(__name__, "gradients", "verify/gradients.py")
