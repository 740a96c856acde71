"""Training throughput: normtheory's loop against a plain fp32 PyTorch loop, same model, same run.

The baseline is the way typical CIFAR scripts train: a DataLoader over CPU-side uint8-free
float tensors with per-sample random crop and flip in Python, an fp32 model, batches moved to
the device each step. normtheory's loop keeps the data on the device and augments whole
batches there (bf16 autocast and channels_last on CUDA). Prints images/s of each and the
ratio. CIFAR-shaped random data (3x32x32, 100 classes); no download.

    python bench/train_throughput.py --arch resnet56 --images 1024 --batch-size 128
    python bench/train_throughput.py --arch vgg10 --images 512 --batch-size 64 --seeds 4

With ``--seeds S`` it also times S seeds trained at once (``normtheory train --seeds S``,
``torch.func.vmap`` over stacked models) against one seed at a time, the same loop.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from normtheory.montecarlo.networks import resolve_device
from normtheory.nets import build
from normtheory.training import TrainConfig, train
from normtheory.training.data import standardize


class AugmentedImages(Dataset):
    """Per-sample 4-pixel-padded random crop and flip on the CPU, as torchvision transforms do."""

    def __init__(self, x, y, seed=0):
        self.x, self.y = x, y
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        img = np.pad(self.x[i], ((0, 0), (4, 4), (4, 4)))
        dx, dy = self.rng.integers(0, 9, 2)
        img = img[:, dy:dy + 32, dx:dx + 32]
        if self.rng.random() < 0.5:
            img = img[:, :, ::-1]
        return torch.from_numpy(np.ascontiguousarray(img)), int(self.y[i])


def baseline(arch, norm, data, batch_size, device, epochs):
    torch.manual_seed(0)
    model = build(arch, norm, num_classes=data.num_classes).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1 * batch_size / 256, momentum=0.9, weight_decay=1e-4)
    loader = DataLoader(AugmentedImages(data.x_train, data.y_train), batch_size=batch_size, shuffle=True,
                        drop_last=True, num_workers=0)
    seen, t0 = 0, None
    for epoch in range(epochs + 1):  # the first epoch warms up and is not timed
        if epoch == 1:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        for xb, yb in loader:
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if epoch >= 1:
                seen += xb.shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - t0)


def ours(arch, norm, data, batch_size, device, epochs, compile_model=False, seeds=1):
    """images/s of normtheory's loop (all seeds together when ``seeds > 1``: stacked models)."""
    from normtheory.training import read_log

    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(arch=arch, norm=norm, epochs=epochs + 1, batch_size=batch_size, device=str(device),
                          crop=True, probe_every=0, compile=compile_model, seeds=seeds)
        train(cfg, data, tmp, progress=False)
        log = read_log(f"{tmp}/seed_0/log.jsonl" if seeds > 1 else f"{tmp}/log.jsonl")
    return float(np.mean([r["images_per_s"] for r in log[1:]]))  # epoch 0 warms up


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="resnet56")
    p.add_argument("--norm", default="batchnorm")
    p.add_argument("--images", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--epochs", type=int, default=1, help="timed epochs (after one warm-up epoch)")
    p.add_argument("--device", default="auto")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--seeds", type=int, default=0,
                   help="also time this many seeds trained at once against one seed at a time (0: skip)")
    args = p.parse_args()
    device = resolve_device(args.device)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.images + 256, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 100, args.images + 256)
    data = standardize("cifar-shaped", x[:args.images], y[:args.images], x[args.images:], y[args.images:], 100)
    base = baseline(args.arch, args.norm, data, args.batch_size, device, args.epochs)
    fast = ours(args.arch, args.norm, data, args.batch_size, device, args.epochs, args.compile)
    print(f"device={device} arch={args.arch} norm={args.norm} batch={args.batch_size} images={args.images}")
    print(f"plain fp32 DataLoader loop : {base:10.1f} images/s")
    print(f"normtheory loop            : {fast:10.1f} images/s")
    print(f"ratio (normtheory / plain) : {fast / base:10.2f}x")
    if args.seeds > 1:
        many = ours(args.arch, args.norm, data, args.batch_size, device, args.epochs, seeds=args.seeds)
        print(f"{args.seeds} seeds at once         : {many:10.1f} images/s (all seeds)")
        print(f"ratio (stacked / one seed) : {many / fast:10.2f}x")


if __name__ == "__main__":
    main()
