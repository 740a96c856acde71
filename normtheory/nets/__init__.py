"""Random networks at initialization, built from any normalizer name.

:func:`build` makes the paper's non-residual CNNs (its ``cfg_10/20/40`` and the uniform
width-64 CNN), ResNet-56 (post- and pre-activation, SkipInit) and the theory MLP, in the
layouts of the paper's code; each network lists its probed layers in ``probe_points()``
for :func:`normtheory.probes.probe`. :func:`check_norm`: the normalizer names they take
(``normalizers.check_name``'s and ``normalizers.EXTRA_NAMES``).
"""

from normtheory.nets.blocks import authors_num_groups, check_norm
from normtheory.nets.factory import ARCHS, build, check_arch, layout_version
from normtheory.nets.mlp import MLP
from normtheory.nets.resnet import ResNet
from normtheory.nets.vgg import VGG

__all__ = ["ARCHS", "MLP", "ResNet", "VGG", "authors_num_groups", "build", "check_arch", "check_norm",
           "layout_version"]
