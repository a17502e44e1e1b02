#!/usr/bin/env python3
"""bench_models.py: plumb vs PyTorch, training and inference throughput of the ResNet family on
synthetic data already on the device, same batch, same precision (float32 NCHW, TF32 on for
convolutions and matmuls on a GPU, as plumb's default [run] tf32 = true), in the same run;
prints both and the ratio.

    python3 scripts/bench/bench_models.py [--device cuda|cpu] [--models resnet50,seresnet50,resnet18]
        [--batch 256] [--size 224] [--steps 20] [--threads N] [--plumb build/plumb]
        [--precision tf32|bf16|fp16] [--layout nchw|nhwc]

--precision bf16 / fp16 (issue 16): PyTorch runs torch.autocast(dtype) with the model and input in
channels_last (and GradScaler for fp16), plumb runs [run] precision = bf16 / fp16. plumb's mixed
precision is today its numerics on float32 storage (engine/device/lowp.h), so this measures the
gap to close, not a speed-up.

--layout nhwc: plumb runs [run] layout = nhwc (channels last through every image layer) and
PyTorch's model and input are channels_last too, whatever the precision (bf16 / fp16 put PyTorch
in channels_last always: that is its fast AMP setting, the one plumb is measured against).

PyTorch side: torchvision's resnets; seresnet50 is timm's when timm is importable, else the
SE-ResNet of scripts/fixtures/resnet_torch.py (same modules and parameter count). Training step:
forward, CrossEntropyLoss, backward, SGD(momentum 0.9) step; inference: model.eval() forwards
under torch.inference_mode(). Peak memory: torch.cuda.max_memory_allocated (PyTorch's own
allocations, from before its warm-up) against plumb's peak of its own device allocations (same
meaning: neither counts the CUDA context or cuDNN / cuBLAS internal memory; plumb's includes its
cuDNN workspace, [run] cudnn_workspace_mb). Inference: plumb's peak is of the timed forwards, after
the first forward searched the convolution algorithms with the whole workspace and the model
fitted the workspace to the chosen ones (plumb bench prints the warm-up's peak beside it).
"""
import argparse
import os
import re
import subprocess
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
import resnet_torch as R  # noqa: E402


def torch_model(name):
    if name.startswith("seresnet"):
        try:
            import timm
            return timm.create_model(name, pretrained=False, num_classes=1000)
        except Exception:
            pass
    return R.build(name, num_classes=1000)


def bench_torch(name, mode, batch, size, steps, warmup, dev, precision="tf32", layout="nchw"):
    m = torch_model(name).to(dev)
    x = torch.rand(batch, 3, size, size, device=dev) * 2 - 1
    half = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    if half is not None or layout == "nhwc":
        m = m.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    amp = (lambda: torch.autocast(device_type=dev, dtype=half)) if half is not None else None
    scaler = torch.cuda.amp.GradScaler() if precision == "fp16" and dev == "cuda" else None
    y = torch.randint(0, 1000, (batch,), device=dev)
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    if dev == "cuda":
        torch.cuda.reset_peak_memory_stats()
    if mode == "train":
        m.train()
        opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
        lossf = torch.nn.CrossEntropyLoss()

        def step():
            opt.zero_grad(set_to_none=True)
            if amp is None:
                lossf(m(x), y).backward()
                opt.step()
                return
            with amp():
                loss = lossf(m(x), y)
            if scaler is None:
                loss.backward()
                opt.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
    else:
        m.eval()

        def step():
            with torch.inference_mode():
                if amp is None:
                    m(x)
                else:
                    with amp():
                        m(x)
    for _ in range(warmup):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    dt = time.perf_counter() - t0
    mem = torch.cuda.max_memory_allocated() / 2 ** 20 if dev == "cuda" else float("nan")
    del m, x, y
    if dev == "cuda":
        torch.cuda.empty_cache()
    return batch * steps / dt, mem


def bench_plumb(plumb, name, mode, batch, size, steps, warmup, dev, threads, extra=()):
    cmd = [plumb, "bench", "--model", name, "--batch", str(batch), "--steps", str(steps), "--warmup", str(warmup),
           "--mode", mode, "--set", f"model.input_size={size}", "--set", f"run.device={dev}"]
    if threads:
        cmd += ["--set", f"run.threads={threads}"]
    for kv in extra:
        cmd += ["--set", kv]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    ips = float(re.search(rf"{mode}: ([0-9.]+) images/s", out).group(1))
    mem = (re.search(r"device allocations: peak ([0-9.]+) MiB", out) or
           re.search(r"planned memory \(\w+, batch \d+\): ([0-9.]+) MiB", out))
    return ips, float(mem.group(1)), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--models", default="resnet50,seresnet50,resnet18")
    ap.add_argument("--modes", default="train,infer")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--plumb-set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="extra --set for plumb (e.g. run.cudnn_workspace_mb=2048)")
    ap.add_argument("--plumb", default=os.path.join(HERE, "..", "..", "build", "plumb"))
    ap.add_argument("--precision", default="tf32", choices=["tf32", "bf16", "fp16"])
    ap.add_argument("--layout", default="nchw", choices=["nchw", "nhwc"])
    a = ap.parse_args()
    if a.precision != "tf32":
        a.plumb_set = a.plumb_set + [f"run.precision={a.precision}"]
    if a.layout != "nchw":
        a.plumb_set = a.plumb_set + [f"run.layout={a.layout}"]
    dev = a.device
    if dev == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        what = (f"TF32 on both sides; float32 {a.layout.upper()}" if a.precision == "tf32" else
                f"{a.precision}: PyTorch autocast + channels_last, plumb [run] precision = {a.precision}, "
                f"layout = {a.layout}")
        print(f"GPU: {torch.cuda.get_device_name(0)}; torch {torch.__version__}; {what}")
    else:
        torch.set_num_threads(a.threads or os.cpu_count())
        print(f"CPU: {torch.get_num_threads()} threads both sides; torch {torch.__version__}; float32 NCHW")
    print(f"{'model':<11} {'mode':<6} {'batch':>5} {'size':>4} {'plumb img/s':>12} {'torch img/s':>12} "
          f"{'plumb/torch':>11} {'plumb MiB':>10} {'torch MiB':>10}")
    for name in a.models.split(","):
        for mode in a.modes.split(","):
            pi, pm, _ = bench_plumb(a.plumb, name, mode, a.batch, a.size, a.steps, a.warmup, dev,
                                    a.threads or (0 if dev == "cuda" else torch.get_num_threads()), a.plumb_set)
            ti, tm = bench_torch(name, mode, a.batch, a.size, a.steps, a.warmup, dev, a.precision, a.layout)
            print(f"{name:<11} {mode:<6} {a.batch:>5} {a.size:>4} {pi:>12.1f} {ti:>12.1f} {pi / ti:>11.2f} "
                  f"{pm:>10.0f} {tm:>10.0f}", flush=True)


if __name__ == "__main__":
    main()
