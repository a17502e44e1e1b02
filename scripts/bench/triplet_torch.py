#!/usr/bin/env python3
"""triplet_torch.py: the triplet loss (Hermans et al. 2017) in plain PyTorch, timed the way
`plumb bench --op triplet` times plumb's fused op (engine/cli/bench_triplet.c): one batch of
embeddings already on the device, W warm-up steps of forward + backward, then R repeats of S
timed steps between two device synchronisations; the figure is the median of the R per-step
means. Prints `triplet: forward+backward X ms (min A, max B), loss L` in plumb's format.

    python3 scripts/bench/triplet_torch.py [--device cpu|cuda] [--batch 72] [--P 18] [--K 4]
        [--dim 128] [--mode hard|all] [--soft 0|1] [--squared 0|1] [--margin 0.2]
        [--reduction all|nonzero] [--dist diff|cdist] [--steps 50] [--warmup 10] [--repeat 5]
        [--threads N] [--seed 1] [--save-emb FILE.npy]

The same computation as plumb's op (kernels/ops.h "triplet loss"), in float32:
  e [N, D] = torch.randn (torch.manual_seed(seed), on the CPU) with every row L2-normalised;
    --save-emb writes it (float32 .npy, written without numpy) so that `plumb bench --op triplet --emb FILE` runs on
    the very same batch and the two losses can be compared (scripts/bench/bench_triplet.sh);
  labels: row i has label i // K (P identities x K samples); each step builds the masks from
    the labels, as the op does;
  distances: --dist diff: s_ij = sum_k (e_ik - e_jk)^2 by direct differences ([N, N, D]),
    d = sqrt(s + 1e-12) (plumb's form, REFERENCES.md), or s itself with --squared 1;
    --dist cdist: d = torch.cdist(e, e) (the matmul form for N > 25), squared with --squared 1;
  batch-hard: per anchor the largest d over its positives (same label, not itself) and the
    smallest over its negatives, x = d_ap - d_an; batch-all: x = d_ap - d_an for every valid
    (a, p, n); anchors with no positive or no negative add no term;
  m(x) = relu(x + margin), or softplus(x) with --soft 1;
  loss = the mean of the terms (--reduction all) or their sum over the number of terms > 0
    (nonzero; 0 when none is);
  backward: torch.autograd.grad(loss, e), the embedding gradient (plumb overwrites de the same).
"""
import argparse
import array
import os
import sys
import time

import torch
import torch.nn.functional as F


def save_npy(path, x):
    """x (2-d float32) as a version 1.0 .npy, without numpy (the GPU machine's python may lack it)."""
    head = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % tuple(x.shape)
    head += " " * (-(10 + len(head) + 1) % 64) + "\n"
    data = array.array("f", x.flatten().tolist())
    if sys.byteorder != "little":
        data.byteswap()
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + len(head).to_bytes(2, "little") + head.encode("latin1"))
        f.write(data.tobytes())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=None, help="must be P x K (default P x K)")
    ap.add_argument("--P", type=int, default=18)
    ap.add_argument("--K", type=int, default=4)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--mode", choices=["hard", "all"], default="hard")
    ap.add_argument("--soft", type=int, choices=[0, 1], default=0)
    ap.add_argument("--squared", type=int, choices=[0, 1], default=0)
    ap.add_argument("--margin", type=float, default=0.2)
    ap.add_argument("--reduction", choices=["all", "nonzero"], default="all")
    ap.add_argument("--dist", choices=["diff", "cdist"], default="diff")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0 = all cores)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--save-emb", default=None, help="write the embeddings here (float32 .npy)")
    a = ap.parse_args()
    n = a.P * a.K
    if a.batch is not None and a.batch != n:
        ap.error(f"--batch {a.batch} is not --P {a.P} x --K {a.K} = {n}")
    dev = torch.device(a.device)
    torch.set_num_threads(a.threads or os.cpu_count())
    if dev.type == "cuda":
        # No matmul in the direct-difference form; cdist's matmul form in full float32.
        torch.backends.cuda.matmul.allow_tf32 = False
        where = f"GPU {torch.cuda.get_device_name(dev)}"
    else:
        where = f"CPU, {torch.get_num_threads()} threads"

    torch.manual_seed(a.seed)
    e_host = F.normalize(torch.randn(n, a.dim, dtype=torch.float32), dim=1)
    if a.save_emb:
        save_npy(a.save_emb, e_host)
    e = e_host.to(dev).requires_grad_(True)
    labels = (torch.arange(n) // a.K).to(dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def distances(x):
        if a.dist == "cdist":
            d = torch.cdist(x, x)
            return d * d if a.squared else d
        s = (x[:, None, :] - x[None, :, :]).pow(2).sum(-1)
        return s if a.squared else torch.sqrt(s + 1e-12)

    def loss_fn(x):
        d = distances(x)
        same = labels[:, None] == labels[None, :]
        pos = same & ~torch.eye(n, dtype=torch.bool, device=dev)
        neg = ~same
        if a.mode == "hard":
            d_ap = d.masked_fill(~pos, float("-inf")).amax(1)
            d_an = d.masked_fill(~neg, float("inf")).amin(1)
            z = (d_ap - d_an)[pos.any(1) & neg.any(1)]
        else:
            z = (d[:, :, None] - d[:, None, :])[pos[:, :, None] & neg[:, None, :]]
        t = F.softplus(z) if a.soft else F.relu(z + a.margin)
        if a.reduction == "all":
            return t.sum() / max(t.numel(), 1)
        return t.sum() / (t > 0).sum().clamp_min(1)

    def step():
        loss = loss_fn(e)
        torch.autograd.grad(loss, e)
        return loss

    def timed(steps):
        sync()
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        return 1e3 * (time.perf_counter() - t0) / steps

    fn = "soft-margin" if a.soft else f"hinge margin {a.margin:g}"
    print(f"triplet N {n} (P {a.P} x K {a.K}) D {a.dim} batch-{a.mode} {fn} "
          f"{'squared' if a.squared else 'euclidean'} mean-{a.reduction}, float32, PyTorch {torch.__version__}, "
          f"{where}, distances by {'torch.cdist' if a.dist == 'cdist' else 'direct differences'}, "
          f"{a.steps} timed steps after {a.warmup} warm-up, median of {a.repeat}")
    timed(max(a.warmup, 1))
    ms = sorted(timed(a.steps) for _ in range(a.repeat))
    r = len(ms)
    med = ms[r // 2] if r % 2 else 0.5 * (ms[r // 2 - 1] + ms[r // 2])
    loss = step().item()
    print(f"triplet: forward+backward {med:.4f} ms (min {ms[0]:.4f}, max {ms[-1]:.4f}), loss {loss:.9g}")


if __name__ == "__main__":
    main()
