"""quickstart_torch.py: the quickstart model (configs/quickstart.ini) in PyTorch, one training
epoch on the CPU, timed the same way plumb times its epoch (data assembly + forward + backward
+ optimizer step; evaluation excluded). Prints `torch_epoch_seconds=S torch_images_per_second=R`.

    python3 scripts/bench/quickstart_torch.py --threads 2 --batch 128
"""
import argparse
import gzip
import time

import numpy as np
import torch
import torch.nn as nn


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def simplecnn(channels, num_classes=10, in_ch=1, hw=28):
    layers, c = [], in_ch
    for w in channels:
        layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                   nn.MaxPool2d(2)]
        c, hw = w, hw // 2
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * hw * hw, num_classes))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--channels", default="16,32")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--epochs", type=int, default=1, help="timed: the last epoch (the first warms up on a GPU)")
    a = ap.parse_args()
    dev = torch.device(a.device)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    images = read_idx(f"{a.data}/train-images-idx3-ubyte.gz")
    labels = torch.from_numpy(read_idx(f"{a.data}/train-labels-idx1-ubyte.gz").astype(np.int64))
    images = torch.from_numpy(images.copy())  # uint8, as plumb keeps it
    if dev.type == "cuda":
        images, labels = images.pin_memory(), labels.pin_memory()
    model = simplecnn([int(c) for c in a.channels.split(",")]).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    n = images.shape[0]
    epochs = max(a.epochs, 2 if dev.type == "cuda" else 1)
    for _ in range(epochs):
        perm = torch.randperm(n)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for off in range(0, n, a.batch):
            idx = perm[off:off + a.batch]
            x = images[idx].to(dev, non_blocking=True).unsqueeze(1).float()
            x = (x / 255.0 - 0.5) / 0.5
            y = labels[idx].to(dev, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        secs = time.perf_counter() - start
    print(f"torch {torch.__version__} device={a.device} threads={torch.get_num_threads()} batch={a.batch}")
    print(f"torch_epoch_seconds={secs:.2f} torch_images_per_second={n / secs:.0f}")


if __name__ == "__main__":
    main()
