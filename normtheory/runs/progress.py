"""Progress bars on long work (tqdm), or none (``--no-progress``): one interface for both."""

from __future__ import annotations

from typing import Iterable

from tqdm import tqdm


class NoBar:
    """A progress bar that shows nothing."""

    def set_postfix_str(self, *args, **kwargs) -> None:
        pass

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def bar(total: int, desc: str, unit: str, enabled: bool):
    """A bar over ``total`` units (a :class:`NoBar` when not ``enabled``)."""
    if not enabled:
        return NoBar()
    return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True)


def iterate(iterable: Iterable, total: int, desc: str, enabled: bool, position: int = 0) -> Iterable:
    """``iterable`` with a bar (nested bars at ``position`` > 0 are cleared when done)."""
    if not enabled:
        return iterable
    return tqdm(iterable, total=total, desc=desc, leave=position == 0, position=position,
                dynamic_ncols=True)
