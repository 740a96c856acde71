"""Training harness: CIFAR-10/100 readers, an embedded default dataset, the training loop.

See :mod:`normtheory.training.data` and :mod:`normtheory.training.loop`; the command line is
``normtheory train``.
"""

from normtheory.training.data import DATASETS, DataError, ImageData, load_cifar, load_dataset, load_digits
from normtheory.training.common import TrainConfig
from normtheory.training.loop import find_max_lr, read_log, train
from normtheory.training.schedule import PROTOCOLS, lr_at

__all__ = ["DATASETS", "DataError", "ImageData", "PROTOCOLS", "TrainConfig", "find_max_lr", "load_cifar",
           "load_dataset", "load_digits", "lr_at", "read_log", "train"]
