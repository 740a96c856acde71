"""Random networks at initialization, built from any normalizer name.

:func:`build` makes the paper's non-residual VGG-like CNNs, ResNet-56 (post- and
pre-activation, SkipInit) and the theory MLP; each network lists its probed layers in
``probe_points()`` for :func:`normtheory.probes.probe`.
"""

from normtheory.nets.factory import ARCHS, build, check_arch
from normtheory.nets.mlp import MLP
from normtheory.nets.resnet import ResNet
from normtheory.nets.vgg import VGG

__all__ = ["ARCHS", "MLP", "ResNet", "VGG", "build", "check_arch"]
