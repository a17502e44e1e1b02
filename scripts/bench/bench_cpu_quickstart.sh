#!/usr/bin/env bash
# bench_cpu_quickstart.sh: one training epoch of the quickstart model in plumb and in PyTorch
# on the CPU, same batch size and thread count, in the same run; prints both and the ratio.
#   bash scripts/bench/bench_cpu_quickstart.sh [THREADS] [BATCH]
# Needs build/plumb (scripts/setup.sh) and python3 with torch (scripts/setup.sh --torch).
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS=${1:-$(nproc)}
BATCH=${2:-128}
PY=${PYTHON:-/usr/bin/python3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
./build/plumb train configs/quickstart.ini --set run.out_dir="$out" --set run.name=bench \
  --set train.epochs=1 --set run.threads="$THREADS" --set train.batch_size="$BATCH" \
  --set run.log_interval=1000000 > "$out/plumb.log"
ips=$(grep -oE "done in [0-9.]+s \([0-9]+ img/s\)" "$out/plumb.log" | grep -oE "[0-9]+ img/s" | cut -d' ' -f1)
psecs=$(awk -v i="$ips" 'BEGIN{printf "%.2f", 60000/i}')
echo "plumb $(./build/plumb --version | cut -d' ' -f2) threads=$THREADS batch=$BATCH"
echo "plumb_epoch_seconds=$psecs plumb_images_per_second=$ips"
tline=$("$PY" scripts/bench/quickstart_torch.py --threads "$THREADS" --batch "$BATCH")
echo "$tline"
tsecs=$(grep -oE "torch_epoch_seconds=[0-9.]+" <<<"$tline" | cut -d= -f2)
awk -v p="$psecs" -v t="$tsecs" 'BEGIN{printf "speedup (torch time / plumb time) = %.2fx\n", t/p}'
