"""The paper's properties at initialization for any ``torch.nn.Module``.

>>> from normtheory import diagnose, nets  # doctest: +SKIP
>>> d = diagnose.diagnose(lambda: nets.build("resnet56", "groupnorm"), input_shape=(3, 32, 32),
...                       batch=32, inits=16)  # doctest: +SKIP
>>> print(d.summary())  # doctest: +SKIP

:func:`diagnose` probes ``inits`` fresh models from a factory at their probe points
(:mod:`normtheory.diagnose.points`: ``model.probe_points()``, else every normalization
module; :func:`register_norm` adds a type) with :func:`normtheory.probes.probe`, and judges
the paper's properties (variance growth, rank, similarity drift, gradient growth) by the
rules of :mod:`normtheory.verify.stats` (:mod:`normtheory.diagnose.properties`). The result
(:class:`Diagnosis`) has tidy records, a summary table, a DataFrame, plots and strict JSON.
``normtheory diagnose`` is its command line. Setting and assumptions: docs/diagnose.md.
"""

from normtheory.diagnose.points import norm_types, register_norm
from normtheory.diagnose.result import Diagnosis
from normtheory.diagnose.run import diagnose

__all__ = ["Diagnosis", "diagnose", "norm_types", "register_norm"]
