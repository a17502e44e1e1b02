#!/usr/bin/env bash
# bench_rebias.sh: the ReBias training step (f = SimpleConvNet k7, g = SimpleConvNet k1, the
# unbiased HSIC min-max, Adam; configs/rebias/bench.ini) in plumb (`plumb bench --config`) and in
# PyTorch (scripts/bench/rebias_torch.py), same batch, steps, threads and precision, on synthetic
# 3x28x28 batches already on the device; prints both and the ratio plumb / PyTorch.
#   bash scripts/bench/bench_rebias.sh [--device cpu|cuda] [--batch N] [--steps S] [--warmup W]
#                                      [--threads T] [--tf32 on|off] [--plumb PATH] [--config INI]
# Defaults are sized for a small CPU (batch 64, 8 steps after 2 warm-up: under a minute on 2
# cores); on a GPU: --device cuda --batch 256 (then 50 steps after 10 warm-up unless given).
# Needs build/plumb (or --plumb) and python3 with torch ($PYTHON, else /usr/bin/python3:
# scripts/setup.sh --torch installs Debian's).
set -euo pipefail
cd "$(dirname "$0")/../.."
DEVICE=cpu BATCH=64 STEPS="" WARMUP="" THREADS=0 TF32=on
PLUMB=${PLUMB:-build/plumb}
CONFIG=configs/rebias/bench.ini
PY=${PYTHON:-/usr/bin/python3}
while (($#)); do
  case $1 in
    --device) DEVICE=$2 ;;
    --batch) BATCH=$2 ;;
    --steps) STEPS=$2 ;;
    --warmup) WARMUP=$2 ;;
    --threads) THREADS=$2 ;;
    --tf32) TF32=$2 ;;
    --plumb) PLUMB=$2 ;;
    --config) CONFIG=$2 ;;
    *) echo "usage: $0 [--device cpu|cuda] [--batch N] [--steps S] [--warmup W] [--threads T] [--tf32 on|off] [--plumb PATH] [--config INI]" >&2; exit 2 ;;
  esac
  shift 2
done
if [[ $DEVICE == cpu ]]; then
  STEPS=${STEPS:-8} WARMUP=${WARMUP:-2}
  ((THREADS)) || THREADS=$(nproc)
else
  STEPS=${STEPS:-50} WARMUP=${WARMUP:-10}
fi
[[ $TF32 == on ]] && tf32_bool=true || tf32_bool=false
echo "== ReBias step, batch $BATCH, $STEPS timed steps after $WARMUP warm-up, device $DEVICE, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "-- plumb"
pout=$("$PLUMB" bench --config "$CONFIG" --batch "$BATCH" --steps "$STEPS" --warmup "$WARMUP" \
  --set run.device="$DEVICE" --set run.threads="$THREADS" --set run.tf32="$tf32_bool")
echo "$pout"
echo "-- PyTorch"
tout=$("$PY" scripts/bench/rebias_torch.py --device "$DEVICE" --batch "$BATCH" --steps "$STEPS" --warmup "$WARMUP" \
  --threads "$THREADS" --tf32 "$TF32")
echo "$tout"
# "train: R images/s, P steps/s (M ms per step)" on both sides
pst=$(grep -oE "^train: .* ([0-9.]+) steps/s" <<<"$pout" | grep -oE "[0-9.]+ steps/s" | cut -d' ' -f1)
tst=$(grep -oE "^train: .* ([0-9.]+) steps/s" <<<"$tout" | grep -oE "[0-9.]+ steps/s" | cut -d' ' -f1)
pim=$(grep -oE "^train: [0-9.]+ images/s" <<<"$pout" | grep -oE "[0-9.]+" | head -1)
tim=$(grep -oE "^train: [0-9.]+ images/s" <<<"$tout" | grep -oE "[0-9.]+" | head -1)
echo "-- summary"
awk -v ps="$pst" -v ts="$tst" -v pi="$pim" -v ti="$tim" -v b="$BATCH" -v d="$DEVICE" 'BEGIN {
  printf "rebias batch %d on %s: plumb %.3f steps/s (%.1f images/s), PyTorch %.3f steps/s (%.1f images/s), plumb/PyTorch = %.2fx\n",
         b, d, ps, pi, ts, ti, ps / ts }'
