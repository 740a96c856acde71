"""Setting keys and seeds: the one rule by which every run seeds its simulations.

A *setting* is a dict of parameters (JSON-able values). :func:`setting_key` is its canonical
text, the same for equal settings whatever the order of their keys. A run with seed ``s``
simulates a setting of a namespace (a claim id for ``normtheory verify``, the engine's
name for the figures) from :func:`setting_seed` ``(s, namespace, key)``: distinct settings
get independent streams, and the same setting gets the same stream in every run with the
same seed, on every machine and executor. :func:`derived_seed` gives further independent
streams from a seed (a look of verify's adaptive schedule, the second network of a pair).

Every seed stays below ``2**31 − 2**20``, so that per-trial seeds ``seed + trial`` remain
valid numpy seeds.
"""

from __future__ import annotations

import json
import zlib
from typing import Mapping

SEED_RANGE = 2**31 - 2**20


def setting_key(setting: Mapping) -> str:
    """Canonical text of a setting (sorted JSON), used for caching and seeding."""
    return json.dumps(dict(setting), sort_keys=True, separators=(",", ":"), default=str)


def setting_seed(seed: int, namespace: str, key: str) -> int:
    """Seed of one setting (``key``, from :func:`setting_key`) of ``namespace`` in the run
    with seed ``seed``: distinct settings get independent streams, reproducibly."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    mixed = zlib.crc32(f"{namespace}|{key}".encode()) + 1_000_003 * int(seed)
    return int(mixed % SEED_RANGE)


def derived_seed(seed: int, label: str) -> int:
    """A seed for an independent stream derived from ``seed`` and a ``label`` (a look of the
    adaptive schedule, the second network of a pair): hashed, so that derived streams do
    not overlap the per-trial seeds ``seed + trial`` of the parent."""
    return int(zlib.crc32(f"{int(seed)}|{label}".encode()) % SEED_RANGE)

