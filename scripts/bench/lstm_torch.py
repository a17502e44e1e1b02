#!/usr/bin/env python3
"""lstm_torch.py: nn.LSTM timed the way `plumb bench --op lstm` times plumb's LSTM op
(engine/cli/bench_op.c): synthetic data already on the device, W warm-up steps of forward +
backward, then S timed steps per figure between two device synchronisations. Prints
`lstm: inference forward A ms, training forward B ms, forward+backward C ms` in plumb's format.

    python3 scripts/bench/lstm_torch.py [--device cpu|cuda] [--seq 25] [--batch 64] [--input 512]
        [--hidden 512] [--layers 1] [--bidirectional 0|1] [--dropout 0] [--steps 50] [--warmup 10]
        [--threads N] [--tf32 on|off]

The same work as plumb's: x [T, N, D] (batch_first False), no initial state, every sequence of
length T (no packing); inference = eval mode under no_grad; training forward = train mode with
x requiring grad; forward + backward = y.backward(dy) with a fixed dy (dx and every weight
gradient, accumulated as plumb's dw is). float32; on CUDA nn.LSTM runs on cuDNN, TF32 as --tf32
says (torch.backends.cudnn.allow_tf32: PyTorch's cuDNN RNN follows it; plumb's [run] tf32 the same).
"""
import argparse
import os
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seq", type=int, default=25)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--input", type=int, default=512)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--bidirectional", type=int, choices=[0, 1], default=0)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0 = all cores)")
    ap.add_argument("--tf32", choices=["on", "off"], default="on")
    a = ap.parse_args()
    dev = torch.device(a.device)
    torch.set_num_threads(a.threads or os.cpu_count())
    if dev.type == "cuda":
        torch.backends.cudnn.allow_tf32 = a.tf32 == "on"
        torch.backends.cuda.matmul.allow_tf32 = a.tf32 == "on"
        where = f"GPU {torch.cuda.get_device_name(dev)}, cuDNN {torch.backends.cudnn.version()}, tf32 {a.tf32}"
    else:
        where = f"CPU, {torch.get_num_threads()} threads, tf32 n/a"
    torch.manual_seed(1)
    lstm = torch.nn.LSTM(a.input, a.hidden, num_layers=a.layers, bidirectional=bool(a.bidirectional),
                         dropout=a.dropout).to(dev)
    dirs = 2 if a.bidirectional else 1
    x = (torch.rand(a.seq, a.batch, a.input, device=dev) * 2 - 1).requires_grad_(True)
    dy = torch.rand(a.seq, a.batch, dirs * a.hidden, device=dev) * 2 - 1
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def infer():
        with torch.no_grad():
            lstm(x)

    def fwd():
        lstm(x)

    def step():
        y, _ = lstm(x)
        y.backward(dy)

    def timed(fn, mode, n):
        lstm.train(mode)
        sync()
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        sync()
        return 1e3 * (time.perf_counter() - t0) / n

    print(f"lstm T {a.seq} N {a.batch} D {a.input} H {a.hidden} L {a.layers} "
          f"{'bidirectional' if a.bidirectional else 'unidirectional'} dropout {a.dropout:g}, float32, "
          f"PyTorch {torch.__version__}, {where}, {a.steps} timed steps after {a.warmup} warm-up")
    timed(step, True, max(a.warmup, 1))
    ms_eval = timed(infer, False, a.steps)
    ms_fwd = timed(fwd, True, a.steps)
    ms_step = timed(step, True, a.steps)
    print(f"lstm: inference forward {ms_eval:.3f} ms, training forward {ms_fwd:.3f} ms, "
          f"forward+backward {ms_step:.3f} ms")


if __name__ == "__main__":
    main()
