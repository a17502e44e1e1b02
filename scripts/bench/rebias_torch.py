#!/usr/bin/env python3
"""rebias_torch.py: the ReBias training step (REFERENCES.md "ReBias"; configs/rebias/bench.ini)
in PyTorch, timed the way `plumb bench --config` times plumb's: a synthetic batch already on the
device, W warm-up steps, then S timed steps between two device synchronisations. Prints
`train: R images/s, P steps/s (M ms per step)` in plumb's format.

    python3 scripts/bench/rebias_torch.py [--device cpu|cuda] [--batch 64] [--steps 20]
        [--warmup 5] [--threads N] [--tf32 on|off]

One step = one batch of the min-max, as plumb's rebias trainer runs it:
1. g: loss = CE(g(x), y) - lambda_g * HSIC(g_feat, f_feat.detach()), f run forward in train
   mode (its batch-norm statistics move); g's Adam steps.
2. f: loss = CE(f(x), y) + lambda_f * HSIC(f_feat, g_feat.detach()), g run forward in train
   mode; f's Adam steps.
The features are the pooled 128-d inputs of each model's fc. The released code does not detach
f's features in g's step: its g backward runs on through f (gradients zeroed before f's step,
so the training is the same). plumb computes only what the update needs, so this script
detaches too: both sides do the same arithmetic.
Models: SimpleConvNet (4 x [conv(k, padding k//2, bias) -> BN -> ReLU], 16/32/64/128 channels,
global average pool, fc 128 -> 10), f with k = 7, g with k = 1, kaiming_normal_(fan_out, relu),
BN 1/0. HSIC: unbiased (Song et al. 2012), RBF kernels, sigma 1 for both arguments, diagonals
zeroed. Optimizers: torch.optim.Adam(lr 1e-3, weight_decay 1e-4) (coupled L2), PyTorch's default
implementation (foreach on CUDA), zero_grad(set_to_none=True). float32 NCHW, eager mode (no
torch.compile). On CUDA: cudnn.benchmark = True; TF32 for convolutions and matmuls as --tf32
says (on by default, as plumb's [run] tf32 = true).
"""
import argparse
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class SimpleConvNet(nn.Module):
    """ReBias's SimpleConvNet (models/mnist_models.py of the released code)."""

    def __init__(self, kernel_size, num_classes=10):
        super().__init__()
        layers, c = [], 3
        for w in (16, 32, 64, 128):
            layers += [nn.Conv2d(c, w, kernel_size, padding=kernel_size // 2), nn.BatchNorm2d(w),
                       nn.ReLU(inplace=True)]
            c = w
        self.extracter = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(128, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        feat = self.avgpool(self.extracter(x)).flatten(1)
        return self.fc(feat), feat


def rbf(x, sigma):
    """K_ij = exp(-|x_i - x_j|^2 / (2 sigma^2)), distances as |x_i|^2 + |x_j|^2 - 2 x_i.x_j."""
    xx = x @ x.t()
    sq = torch.diagonal(xx)
    d = sq.unsqueeze(1) + sq.unsqueeze(0) - 2 * xx
    return torch.exp(-d / (2 * sigma * sigma))


def hsic_unbiased(x, y, sigma_x=1.0, sigma_y=1.0):
    n = x.shape[0]
    off = 1 - torch.eye(n, device=x.device, dtype=x.dtype)
    k = rbf(x, sigma_x) * off
    l = rbf(y, sigma_y) * off
    h = (torch.sum(k * l)  # tr(K L) for symmetric K, L
         + k.sum() * l.sum() / ((n - 1) * (n - 2))
         - 2.0 / (n - 2) * torch.dot(k.sum(1), l.sum(1)))
    return h / (n * (n - 3))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0 = all cores)")
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--tf32", choices=["on", "off"], default="on")
    ap.add_argument("--lambda-f", type=float, default=1.0)
    ap.add_argument("--lambda-g", type=float, default=1.0)
    a = ap.parse_args()
    dev = torch.device(a.device)
    torch.set_num_threads(a.threads or os.cpu_count())
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = a.tf32 == "on"
        torch.backends.cuda.matmul.allow_tf32 = a.tf32 == "on"
        where = f"GPU {torch.cuda.get_device_name(dev)}, cudnn.benchmark on, tf32 {a.tf32}"
    else:
        where = f"CPU, {torch.get_num_threads()} threads, tf32 n/a"
    torch.manual_seed(1)
    f, g = SimpleConvNet(7).to(dev), SimpleConvNet(1).to(dev)
    f.train()
    g.train()
    opt_f = torch.optim.Adam(f.parameters(), lr=1e-3, weight_decay=1e-4)
    opt_g = torch.optim.Adam(g.parameters(), lr=1e-3, weight_decay=1e-4)
    x = torch.rand(a.batch, 3, a.size, a.size, device=dev) * 2 - 1
    y = torch.randint(0, 10, (a.batch,), device=dev)
    sums = torch.zeros(3, dtype=torch.float64, device=dev)  # f CE, g CE, HSIC(f, g): summed on the device

    def step():
        # g: CE(g) - lambda_g HSIC(g, f), f's features detached
        _, f_feat = f(x)
        g_logits, g_feat = g(x)
        g_ce = F.cross_entropy(g_logits, y)
        g_loss = g_ce - a.lambda_g * hsic_unbiased(g_feat, f_feat.detach())
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        # f: CE(f) + lambda_f HSIC(f, g), g's features detached
        f_logits, f_feat = f(x)
        _, g_feat = g(x)
        f_ce = F.cross_entropy(f_logits, y)
        h = hsic_unbiased(f_feat, g_feat.detach())
        f_loss = f_ce + a.lambda_f * h
        opt_f.zero_grad(set_to_none=True)
        f_loss.backward()
        opt_f.step()
        sums.add_(torch.stack([f_ce.detach(), g_ce.detach(), h.detach()]).double())

    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for _ in range(a.warmup):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    sync()
    dt = time.perf_counter() - t0
    print(f"torch {torch.__version__}, {where}")
    print(f"batch {a.batch}, input 3x{a.size}x{a.size} (synthetic, on the device), float32 NCHW, "
          f"{a.steps} timed steps after {a.warmup} warm-up")
    print(f"train: {a.batch * a.steps / dt:.1f} images/s, {a.steps / dt:.3f} steps/s ({1e3 * dt / a.steps:.2f} ms per step)")
    m = (sums / (a.warmup + a.steps)).tolist()
    print(f"mean loss over the {a.warmup + a.steps} steps: f {m[0]:.4g}, g {m[1]:.4g}, hsic {m[2]:.4g}")
    if dev.type == "cuda":
        print(f"  peak device memory allocated: {torch.cuda.max_memory_allocated(dev) / 2 ** 20:.1f} MiB "
              f"(max_memory_allocated)")


if __name__ == "__main__":
    main()
