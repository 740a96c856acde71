"""Datasets for training: CIFAR-10/100 from the official pickles, and an embedded default.

CIFAR: the standard ``cifar-100-python/{train,test,meta}`` or
``cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}`` pickles (Krizhevsky
2009) in a directory the user gives; nothing is downloaded. The embedded default is
scikit-learn's copy of the UCI handwritten digits (1797 grayscale 8x8 images, 10 classes),
which ships inside the package, so training works on a fresh machine.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATASETS = ("digits", "cifar10", "cifar100")

CIFAR_LAYOUT = {
    "cifar100": ("cifar-100-python", ["train", "test", "meta"], b"fine_labels", 100),
    "cifar10": ("cifar-10-batches-py",
                [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"], b"labels", 10),
}


class DataError(ValueError):
    """A dataset file is missing or not in the expected format."""


@dataclass
class ImageData:
    """Float32 images ``(N, C, H, W)`` standardized per channel with training statistics."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

    @property
    def in_channels(self) -> int:
        return self.x_train.shape[1]

    @property
    def image_size(self) -> int:
        return self.x_train.shape[2]


def _expected(dataset: str) -> str:
    folder, files, _, _ = CIFAR_LAYOUT[dataset]
    return f"expected DATA_DIR/{folder}/ (or DATA_DIR itself) holding {', '.join(files)}"


def _unpickle(path: Path, dataset: str) -> dict:
    if not path.is_file():
        raise DataError(f"missing file {path}; {_expected(dataset)}")
    try:
        with open(path, "rb") as fh:
            obj = pickle.load(fh, encoding="bytes")
    except Exception as exc:  # any unpickling failure means a corrupted or foreign file
        raise DataError(f"{path} is not a readable CIFAR pickle ({type(exc).__name__}: {exc}); "
                        f"{_expected(dataset)}") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path} holds a {type(obj).__name__}, expected a dict; {_expected(dataset)}")
    return obj


def _batch(path: Path, dataset: str, label_key: bytes, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    obj = _unpickle(path, dataset)
    for key in (b"data", label_key):
        if key not in obj:
            raise DataError(f"{path} lacks the key {key!r}; {_expected(dataset)}")
    data = np.asarray(obj[b"data"])
    labels = np.asarray(obj[label_key])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{path}: b'data' must be uint8 of shape (N, 3072), got {data.dtype} {data.shape}")
    if labels.shape != (data.shape[0],):
        raise DataError(f"{path}: {len(labels)} labels for {data.shape[0]} images")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(f"{path}: labels must lie in [0, {num_classes}), got [{labels.min()}, {labels.max()}]")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


NORMALIZATIONS = ("standard", "half")
PIXEL_MAX = {"cifar10": 255.0, "cifar100": 255.0, "digits": 16.0}


def load_cifar(data_dir, dataset: str = "cifar100", normalize: str = "standard") -> ImageData:
    """Read the official CIFAR pickles from ``data_dir`` (or ``data_dir/<folder>``);
    ``normalize`` as in :func:`normalized`."""
    if dataset not in CIFAR_LAYOUT:
        raise DataError(f"dataset must be one of {', '.join(CIFAR_LAYOUT)}, got {dataset!r}")
    folder, files, label_key, num_classes = CIFAR_LAYOUT[dataset]
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"data directory {root} does not exist; {_expected(dataset)}")
    if (root / folder).is_dir():
        root = root / folder
    if dataset == "cifar100":
        xtr, ytr = _batch(root / "train", dataset, label_key, num_classes)
        xte, yte = _batch(root / "test", dataset, label_key, num_classes)
        _unpickle(root / "meta", dataset)
    else:
        parts = [_batch(root / f, dataset, label_key, num_classes) for f in files[:5]]
        xtr = np.concatenate([p[0] for p in parts])
        ytr = np.concatenate([p[1] for p in parts])
        xte, yte = _batch(root / "test_batch", dataset, label_key, num_classes)
        _unpickle(root / "batches.meta", dataset)
    return normalized(normalize, dataset, xtr, ytr, xte, yte, num_classes)


def load_digits(seed: int = 0, test_fraction: float = 0.2, normalize: str = "standard") -> ImageData:
    """scikit-learn's digits as 1x8x8 images, a seeded train/test split."""
    from sklearn.datasets import load_digits as sk_digits  # lazy: ~0.5 s to import, needed for this data set only

    bunch = sk_digits()
    images = bunch.images[:, None].astype(np.float32)
    labels = bunch.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = int(round(test_fraction * len(labels)))
    te, tr = order[:n_test], order[n_test:]
    return normalized(normalize, "digits", images[tr], labels[tr], images[te], labels[te], 10)


def normalized(normalize: str, name, xtr, ytr, xte, yte, num_classes) -> ImageData:
    """``standard``: each channel to mean 0 and std 1 with the training statistics (this
    package's default); ``half``: pixels scaled to [0, 1], then mean 0.5 and std 0.5 removed,
    to [-1, 1], as the authors' code does (``transforms.Normalize((0.5,)*3, (0.5,)*3)``)."""
    if normalize == "standard":
        return standardize(name, xtr, ytr, xte, yte, num_classes)
    if normalize == "half":
        top = PIXEL_MAX[name]
        return ImageData(name, (xtr.astype(np.float32) / top - 0.5) / 0.5, ytr,
                         (xte.astype(np.float32) / top - 0.5) / 0.5, yte, num_classes)
    raise ValueError(f"normalize must be one of {', '.join(NORMALIZATIONS)}, got {normalize!r}")


def standardize(name, xtr, ytr, xte, yte, num_classes) -> ImageData:
    xtr = xtr.astype(np.float32)
    xte = xte.astype(np.float32)
    mean = xtr.mean(axis=(0, 2, 3), keepdims=True)
    std = xtr.std(axis=(0, 2, 3), keepdims=True) + 1e-8
    return ImageData(name, (xtr - mean) / std, ytr, (xte - mean) / std, yte, num_classes)


def load_dataset(name: str = "digits", data_dir=None, seed: int = 0, normalize: str = "standard") -> ImageData:
    """``digits`` (embedded) or ``cifar10`` / ``cifar100`` from ``data_dir``; ``normalize``:
    ``standard`` (per channel) or ``half`` (mean and std 0.5, the paper's protocol)."""
    if name == "digits":
        return load_digits(seed, normalize=normalize)
    if name in CIFAR_LAYOUT:
        if data_dir is None:
            raise DataError(f"{name} needs --data-dir (no download is attempted); {_expected(name)}")
        return load_cifar(data_dir, name, normalize=normalize)
    raise DataError(f"dataset must be one of {', '.join(DATASETS)}, got {name!r}")


def write_synthetic_cifar100(root, n_train: int = 200, n_test: int = 100, classes: int = 100, seed: int = 0) -> Path:
    """Write a small learnable stand-in for CIFAR-100 in its official pickle format to
    ``root/cifar-100-python/`` (for runs on a machine without the data set, and for tests):
    each of ``classes`` labels (of the 100) has a smooth random 3x32x32 colour pattern, and
    an image is its label's pattern plus pixel noise."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    coarse = rng.normal(0, 60, (classes, 3, 4, 4))
    patterns = 128 + np.kron(coarse, np.ones((1, 1, 8, 8)))
    for name, n in (("train", n_train), ("test", n_test)):
        labels = rng.integers(0, classes, n)
        images = patterns[labels] + rng.normal(0, 40, (n, 3, 32, 32))
        obj = {b"filenames": [f"{name}_{i}.png".encode() for i in range(n)], b"batch_label": name.encode(),
               b"fine_labels": labels.tolist(), b"coarse_labels": (labels // 5).tolist(),
               b"data": np.clip(images, 0, 255).astype(np.uint8).reshape(n, 3072)}
        with open(folder / name, "wb") as fh:
            pickle.dump(obj, fh, protocol=2)
    with open(folder / "meta", "wb") as fh:
        pickle.dump({b"fine_label_names": [f"c{i}".encode() for i in range(100)],
                     b"coarse_label_names": [f"s{i}".encode() for i in range(20)]}, fh, protocol=2)
    return folder
