"""dist_torch.py: PyTorch's data-parallel equivalent of `plumb train --nproc N` on the CPU, for
scripts/bench/bench_dist_cpu.sh: DistributedDataParallel over the gloo backend (PyTorch's CPU
transport; NCCL has none), N processes of `--threads` threads each, the quickstart model
(simplecnn 16,32 with batch norm) on Fashion-MNIST, a global batch split over the ranks, one
epoch of `--limit` images timed from the first step to the last (data assembly, forward,
backward with DDP's bucketed all-reduce, SGD step). Also times one all-reduce of the model's
gradient size alone. Prints `torch_ranks=N torch_images_per_second=R torch_allreduce_ms=M`.

    python3 scripts/bench/dist_torch.py --ranks 2 --threads 1 --batch 128 --limit 8192
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quickstart_torch import read_idx, simplecnn  # noqa: E402


def worker(rank, a, port, out):
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=a.ranks)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    images = torch.from_numpy(read_idx(f"{a.data}/train-images-idx3-ubyte.gz")[: a.limit].copy())
    labels = torch.from_numpy(read_idx(f"{a.data}/train-labels-idx1-ubyte.gz")[: a.limit].astype(np.int64))
    model = nn.parallel.DistributedDataParallel(simplecnn([16, 32]))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    b = a.batch // a.ranks
    perm = torch.randperm(a.limit)
    steps = a.limit // a.batch
    dist.barrier()
    t0 = time.perf_counter()
    for s in range(steps):
        idx = perm[s * a.batch + rank * b: s * a.batch + (rank + 1) * b]
        x = (images[idx].float().div_(255).sub_(0.5).div_(0.5)).unsqueeze(1)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), labels[idx])
        loss.backward()
        opt.step()
    dist.barrier()
    secs = time.perf_counter() - t0
    g = torch.zeros(sum(p.numel() for p in model.parameters()))
    for _ in range(3):
        dist.all_reduce(g)
    t1 = time.perf_counter()
    for _ in range(20):
        dist.all_reduce(g)
    ar = (time.perf_counter() - t1) / 20
    if rank == 0:
        out.put((steps * a.batch / secs, 1e3 * ar))
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--limit", type=int, default=8192)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    a = ap.parse_args()
    q = mp.get_context("spawn").SimpleQueue()
    port = 29500 + os.getpid() % 1000
    mp.start_processes(worker, args=(a, port, q), nprocs=a.ranks, start_method="spawn")
    ips, ar = q.get()
    print(f"torch_ranks={a.ranks} torch_images_per_second={ips:.1f} torch_allreduce_ms={ar:.3f}")


if __name__ == "__main__":
    main()
