#!/usr/bin/env python3
"""rebias_colour_torch.py: the colour Fashion-MNIST ReBias comparison end to end in PyTorch, written
from ../shared/REFERENCES.md ("ReBias") and the released code's main_biased_mnist.py, independently
of plumb: its own idx reader, colour bias, loader, training loop and evaluation. It answers one
question about results/rebias-colour-cpu.md: does the released algorithm, run on the same shortened
protocol, give what plumb gives (then the protocol, not plumb, decides the numbers), or more?

    python3 scripts/results/rebias_colour_torch.py OUT_DIR --method vanilla|rebias [--rho 0.997]
        [--limit-train 6000] [--limit-test 2000] [--epochs 5] [--seed 1] [--threads 0]
        [--data /usr/share/datasets/fashion-mnist]

Writes OUT_DIR/metrics.csv (epoch, f_train_loss, g_train_loss, hsic_train_loss, f_biased_acc,
f_unbiased_acc, g_biased_acc, g_unbiased_acc, epoch_seconds), one row per epoch, and prints each row.

The protocol, as the released code runs Biased MNIST:
- Data: the first LIMIT images of each idx file; binarised (non-zero -> 255, white foreground),
  the class colour on the background; per class of n, the first int(n * rho) shuffled samples take
  their own colour, the other r go in consecutive chunks of ceil(r / 9) to a shuffled list of the
  other labels (label + 1 .. label + 9 mod 10). Test sets: rho = 1 ("biased") and rho = 0.1
  ("unbiased"). Normalised with mean 0.5, std 0.5. Unlike the released code, the colouring is seeded.
- Models: SimpleConvNet, f with k = 7, g with k = 1 (scripts/bench/rebias_torch.py's definition).
- Training: batch 256, reshuffled every epoch, the last partial batch kept; Adam lr 1e-3, coupled
  L2 1e-4, StepLR(20, 0.1) stepped per epoch. vanilla: CE(f). rebias, per batch: g on
  CE(g) - HSIC(g_feat, f_feat) with f run forward in train mode, then f on CE(f) + HSIC(f_feat,
  g_feat) with g run forward in train mode; unbiased HSIC, sigma 1 for both arguments.
- Evaluation after every epoch, models in eval mode, on both test sets.
"""
import argparse
import csv
import gzip
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from rebias_torch import SimpleConvNet, hsic_unbiased  # noqa: E402

COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (225, 225, 0), (225, 0, 225), (0, 255, 255),
           (255, 128, 0), (255, 0, 128), (128, 0, 255), (128, 128, 128)]


def read_idx(path, limit):
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    magic = struct.unpack(">I", raw[:4])[0]
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    a = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
    return a[:limit] if limit > 0 else a


def colour_bias(images, labels, rho, rng):
    """[n, 28, 28] uint8 + labels -> [n, 3, 28, 28] float32, normalised (REFERENCES.md)."""
    bias = labels.copy()
    for label in range(10):
        idx = np.flatnonzero(labels == label)
        idx = idx[rng.permutation(len(idx))]
        n_corr = int(len(idx) * rho)
        rest = idx[n_corr:]
        if len(rest):
            chunk = math.ceil(len(rest) / 9)
            others = [(label + k) % 10 for k in range(1, 10)]
            rng.shuffle(others)
            for j in range(0, len(rest), chunk):
                bias[rest[j:j + chunk]] = others[j // chunk]
    fg = (images != 0)[:, None, :, :]
    col = np.asarray(COLOURS, dtype=np.float32)[bias][:, :, None, None]
    x = np.where(fg, np.float32(255), col).astype(np.float32) / 255.0
    return torch.from_numpy((x - 0.5) / 0.5), torch.from_numpy(labels.astype(np.int64))


@torch.no_grad()
def accuracy(model, x, y):
    model.eval()
    correct = 0
    for i in range(0, len(x), 1000):
        logits, _ = model(x[i:i + 1000])
        correct += int((logits.argmax(1) == y[i:i + 1000]).sum())
    model.train()
    return correct / len(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--method", choices=["vanilla", "rebias"], required=True)
    ap.add_argument("--rho", type=float, default=0.997)
    ap.add_argument("--limit-train", type=int, default=6000)
    ap.add_argument("--limit-test", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    a = ap.parse_args()
    torch.set_num_threads(a.threads or os.cpu_count())
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)

    d = a.data
    tr_x, tr_y = colour_bias(read_idx(f"{d}/train-images-idx3-ubyte.gz", a.limit_train),
                             read_idx(f"{d}/train-labels-idx1-ubyte.gz", a.limit_train), a.rho, rng)
    te_img = read_idx(f"{d}/t10k-images-idx3-ubyte.gz", a.limit_test)
    te_lab = read_idx(f"{d}/t10k-labels-idx1-ubyte.gz", a.limit_test)
    tests = {"biased": colour_bias(te_img, te_lab, 1.0, rng),
             "unbiased": colour_bias(te_img, te_lab, 0.1, rng)}

    f = SimpleConvNet(7)
    g = SimpleConvNet(1) if a.method == "rebias" else None
    f.train()
    opt_f = torch.optim.Adam(f.parameters(), lr=1e-3, weight_decay=1e-4)
    sch_f = torch.optim.lr_scheduler.StepLR(opt_f, 20, 0.1)
    if g is not None:
        g.train()
        opt_g = torch.optim.Adam(g.parameters(), lr=1e-3, weight_decay=1e-4)
        sch_g = torch.optim.lr_scheduler.StepLR(opt_g, 20, 0.1)

    os.makedirs(a.out, exist_ok=True)
    cols = ["epoch", "f_train_loss", "g_train_loss", "hsic_train_loss", "f_biased_acc",
            "f_unbiased_acc", "g_biased_acc", "g_unbiased_acc", "epoch_seconds"]
    with open(os.path.join(a.out, "metrics.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for epoch in range(1, a.epochs + 1):
            t0 = time.perf_counter()
            perm = torch.randperm(len(tr_x))
            sums, nb = np.zeros(3), 0
            for i in range(0, len(perm), a.batch):
                idx = perm[i:i + a.batch]
                x, y = tr_x[idx], tr_y[idx]
                g_ce = h = torch.zeros(())
                if g is not None:
                    _, f_feat = f(x)
                    g_logits, g_feat = g(x)
                    g_ce = F.cross_entropy(g_logits, y)
                    loss = g_ce - hsic_unbiased(g_feat, f_feat.detach())
                    opt_g.zero_grad(set_to_none=True)
                    loss.backward()
                    opt_g.step()
                f_logits, f_feat = f(x)
                f_ce = F.cross_entropy(f_logits, y)
                loss = f_ce
                if g is not None:
                    _, g_feat = g(x)
                    h = hsic_unbiased(f_feat, g_feat.detach())
                    loss = f_ce + h
                opt_f.zero_grad(set_to_none=True)
                loss.backward()
                opt_f.step()
                sums += [float(f_ce), float(g_ce), float(h)]
                nb += 1
            sch_f.step()
            if g is not None:
                sch_g.step()
            row = [epoch, *(sums / nb)]
            row += [accuracy(f, *tests["biased"]), accuracy(f, *tests["unbiased"])]
            row += ([accuracy(g, *tests["biased"]), accuracy(g, *tests["unbiased"])] if g is not None
                    else [float("nan")] * 2)
            row.append(time.perf_counter() - t0)
            w.writerow([row[0]] + [f"{v:.6f}" for v in row[1:]])
            fh.flush()
            print(" ".join(f"{c}={v}" for c, v in zip(cols, row)), flush=True)


if __name__ == "__main__":
    main()
