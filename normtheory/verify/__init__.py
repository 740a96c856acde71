"""Claim verification: every claim checked against Monte Carlo with confidence intervals.

- :mod:`normtheory.verify.registry` -- :class:`Claim`, grids, the registry;
- :mod:`normtheory.verify.stats` -- intervals, simultaneous levels, pass rules;
- :mod:`normtheory.verify.runner` -- runs claims with a resumable cache;
- :mod:`normtheory.verify.report` -- table, JSON (schema there), Markdown;
- :mod:`normtheory.verify.claims_forward`, ``claims_rank``, ``claims_gradients`` -- the
  claims (F, R, B; listed by ``normtheory verify --list``);
- :mod:`normtheory.verify.cli` -- ``normtheory verify``.
"""
