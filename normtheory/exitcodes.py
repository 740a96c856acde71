"""The exit statuses of the ``normtheory`` commands, and their one-line error message.

0: success. 1: findings (a run diverged, no stable LR found; for ``verify``: claims that
disagree). 2: usage or input errors -- a bad option, a missing or damaged input file, an
output path that cannot be written -- reported as one line ``normtheory <cmd>: error: ...``
before any work starts where they can be known then.
"""

from __future__ import annotations

import sys

OK, FINDINGS, USAGE = 0, 1, 2

INPUT_ERRORS = (ValueError, OSError)  # DataError and CorruptFile are ValueErrors


def epilog(findings: str) -> str:
    """The ``--help`` epilog stating the convention; ``findings`` says what exit 1 means."""
    return (f"exit status: 0 success; 1 {findings}; 2 usage or input error (bad option, missing or damaged "
            f"input file, unwritable output path), with a one-line message on stderr")


def usage_error(command: str, exc: BaseException | str) -> int:
    """Print ``normtheory <command>: error: <exc>`` (one line) to stderr and return 2."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    print(f"normtheory {command}: error: {text}", file=sys.stderr)
    return USAGE
