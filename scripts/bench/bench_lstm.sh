#!/usr/bin/env bash
# bench_lstm.sh: the LSTM op alone in plumb (`plumb bench --op lstm`, engine/cli/bench_op.c) and
# nn.LSTM in PyTorch (scripts/bench/lstm_torch.py), same shape, steps, threads and precision, on
# synthetic data already on the device; prints both and the ratios plumb / PyTorch (time: below
# 1 means plumb is faster).
#   bash scripts/bench/bench_lstm.sh [--device cpu|cuda] [--seq T] [--batch N] [--input D]
#        [--hidden H] [--layers L] [--bidirectional 0|1] [--dropout P] [--steps S] [--warmup W]
#        [--threads T] [--tf32 on|off] [--plumb PATH]
# Defaults: DeepBench's shape (T 25, N 64, D 512, H 512, L 1; REFERENCES.md "LSTM": V100 fp32
# forward 1.34 ms, forward + backward 3.03 ms), 50 timed steps after 10 warm-up (CPU: 5 after 1).
# Needs build/plumb (or --plumb) and python3 with torch ($PYTHON, else /usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
DEVICE=cpu SEQ=25 BATCH=64 INPUT=512 HIDDEN=512 LAYERS=1 BI=0 DROPOUT=0 STEPS="" WARMUP="" THREADS=0 TF32=on
PLUMB=${PLUMB:-build/plumb}
PY=${PYTHON:-/usr/bin/python3}
while (($#)); do
  case $1 in
    --device) DEVICE=$2 ;; --seq) SEQ=$2 ;; --batch) BATCH=$2 ;; --input) INPUT=$2 ;; --hidden) HIDDEN=$2 ;;
    --layers) LAYERS=$2 ;; --bidirectional) BI=$2 ;; --dropout) DROPOUT=$2 ;; --steps) STEPS=$2 ;;
    --warmup) WARMUP=$2 ;; --threads) THREADS=$2 ;; --tf32) TF32=$2 ;; --plumb) PLUMB=$2 ;;
    *) echo "usage: $0 [--device cpu|cuda] [--seq T] [--batch N] [--input D] [--hidden H] [--layers L] [--bidirectional 0|1] [--dropout P] [--steps S] [--warmup W] [--threads T] [--tf32 on|off] [--plumb PATH]" >&2; exit 2 ;;
  esac
  shift 2
done
if [[ $DEVICE == cpu ]]; then
  STEPS=${STEPS:-5} WARMUP=${WARMUP:-1}
  ((THREADS)) || THREADS=$(nproc)
else
  STEPS=${STEPS:-50} WARMUP=${WARMUP:-10}
fi
[[ $TF32 == on ]] && tf32_bool=true || tf32_bool=false
shape=(--seq "$SEQ" --batch "$BATCH" --input "$INPUT" --hidden "$HIDDEN" --layers "$LAYERS" --bidirectional "$BI"
       --dropout "$DROPOUT" --steps "$STEPS" --warmup "$WARMUP")
echo "== LSTM op, device $DEVICE, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "-- plumb"
pout=$("$PLUMB" bench --op lstm "${shape[@]}" --set run.device="$DEVICE" --set run.threads="$THREADS" \
  --set run.tf32="$tf32_bool")
echo "$pout"
echo "-- PyTorch"
tout=$("$PY" scripts/bench/lstm_torch.py --device "$DEVICE" "${shape[@]}" --threads "$THREADS" --tf32 "$TF32")
echo "$tout"
# "lstm: inference forward A ms, training forward B ms, forward+backward C ms" on both sides
fig() { grep -E "^lstm: " <<<"$1" | grep -oE "[0-9.]+ ms" | sed -n "$2p" | cut -d' ' -f1; }
echo "-- summary"
awk -v pi="$(fig "$pout" 1)" -v pf="$(fig "$pout" 2)" -v ps="$(fig "$pout" 3)" \
    -v ti="$(fig "$tout" 1)" -v tf="$(fig "$tout" 2)" -v ts="$(fig "$tout" 3)" \
    -v d="$DEVICE" -v t="$SEQ" -v n="$BATCH" -v h="$HIDDEN" -v l="$LAYERS" -v b="$BI" -v x="$TF32" 'BEGIN {
  printf "lstm T %d N %d H %d L %d bi %d on %s (tf32 %s): forward+backward plumb %.3f ms, PyTorch %.3f ms, plumb/PyTorch = %.2fx; training forward %.3f / %.3f ms = %.2fx; inference %.3f / %.3f ms = %.2fx\n",
         t, n, h, l, b, d, x, ps, ts, ps / ts, pf, tf, pf / tf, pi, ti, pi / ti }'
