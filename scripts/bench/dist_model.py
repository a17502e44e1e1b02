"""dist_model.py: the expected data-parallel efficiency of plumb on 8 GPUs (one node, NVLink) and
4 x 8 GPUs (InfiniBand between nodes), from a measured single-GPU step time, the gradient bytes
and the links' bandwidths. Prints the table of results/dist-scaling-2026-11-29.md.

Model (ring all-reduce, as NCCL's busbw is defined in nccl-tests): moving S bytes through an
all-reduce over N ranks takes t = 2 (N - 1) / N * S / B, B the bus bandwidth of the slowest link
the ring crosses. plumb's GPU path today exchanges the whole gradient once, after the backward
pass (no overlap), so a step costs T + t and the efficiency is T / (T + t); with DDP-style buckets
overlapping the backward pass only the part of t longer than the backward (about 2/3 of T) plus the
last bucket would show. Per-step host collectives (the stop check, 8 bytes) add a latency L.

    python3 scripts/bench/dist_model.py
"""

# Measured (results/gpu-2026-11-23-h100.md, H100 SXM, fp32 with TF32, batch 256 per GPU, 1024 MiB
# workspace): resnet50 1749.6 img/s, seresnet50 1372.7 img/s. SE-ResNet-101 was not measured: its
# step is taken as seresnet50's times the ratio of their forward FLOPs (7.8 / 3.9 GFLOPs at 224).
MODELS = {
    "resnet50": {"params": 25_557_032, "img_s": 1749.6, "note": "measured"},
    "seresnet101": {"params": 49_326_872, "img_s": 1372.7 * 3.9 / 7.8, "note": "derived from seresnet50"},
    # the stress case: resnet50 at MLPerf's ~7,000 img/s per H100 (GPU-SPEED.md section 6), what
    # mixed precision and the rest of the GPU-speed work aim towards; gradients still fp32
    "resnet50@7000": {"params": 25_557_032, "img_s": 7000.0, "note": "MLPerf speed"},
}
BATCH = 256
# Bus bandwidths assumed (not measured here; see the results file): NVLink 4 within an H100 node,
# NCCL all-reduce busbw; InfiniBand NDR 400 Gb/s, one NIC per GPU, between nodes.
LINKS = {"8 GPUs (1 node, NVLink)": (8, 300e9), "4 x 8 GPUs (NDR InfiniBand)": (32, 40e9)}
LATENCY = 50e-6  # per-step host collectives and NCCL launch, seconds (assumed)


def main():
    print(f"{'model':<12} {'GPUs':<28} {'grad MB':>8} {'step ms':>8} {'allreduce ms':>13} {'efficiency':>11} "
          f"{'with overlap':>13}")
    for name, m in MODELS.items():
        S = 4.0 * m["params"]
        T = BATCH / m["img_s"]
        for link, (n, bw) in LINKS.items():
            t = 2 * (n - 1) / n * S / bw
            eff = T / (T + t + LATENCY)
            last = t / 5  # the last of ~5 buckets (25 MB each for resnet50) cannot overlap
            exposed = max(0.0, t - 2 / 3 * T) + last
            eff_o = T / (T + exposed + LATENCY)
            print(f"{name:<12} {link:<28} {S / 1e6:>8.1f} {1e3 * T:>8.1f} {1e3 * t:>13.2f} {100 * eff:>10.1f}% "
                  f"{100 * eff_o:>12.1f}%")


if __name__ == "__main__":
    main()
