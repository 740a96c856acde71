"""The on-disk cache of sympy derivations (normtheory.bounds.derived)."""

from __future__ import annotations

import sympy as sp

from normtheory.bounds import derived


def _counting(calls):
    @derived.derivation
    def square_expr(power: int):
        calls.append(power)
        x = sp.Symbol("x", positive=True)
        return x, sp.integrate(x ** power, (x, 0, 1))
    return square_expr


def test_a_derivation_runs_once_across_processes_and_again_when_its_file_is_bad(tmp_path, monkeypatch):
    monkeypatch.setenv(derived.ENV, str(tmp_path))
    calls = []
    first = _counting(calls)
    x, value = first(3)
    assert value == sp.Rational(1, 4) and calls == [3]
    assert first(3)[1] == value and calls == [3]  # in memory
    again = _counting(calls)  # a new process's function: nothing in memory
    loaded = again(3)
    assert loaded == (x, value) and loaded[0].is_positive and calls == [3]  # from disk, assumptions kept
    assert again(2)[1] == sp.Rational(1, 3) and calls == [3, 2]  # other arguments: derived
    for path in tmp_path.iterdir():
        path.write_bytes(b"not a pickle")
    assert _counting(calls)(3)[1] == value and calls == [3, 2, 3]  # unreadable: derived again


def test_the_key_follows_the_sources(tmp_path, monkeypatch):
    monkeypatch.setenv(derived.ENV, str(tmp_path))
    calls = []
    _counting(calls)(3)
    monkeypatch.setattr(derived, "sources_digest", lambda: "another version of the sources")
    _counting(calls)(3)
    assert calls == [3, 3]
