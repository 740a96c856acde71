"""Claims R1-R4, informative forward propagation (stable rank, cosine similarity);
`normtheory verify` restricted to them (same options, `--help`)."""
from normtheory.verify.cli import script

script(__name__, "rank", "verify/rank.py")
