#!/usr/bin/env bash
# bench_triplet.sh: the triplet loss op alone in plumb (`plumb bench --op triplet`,
# engine/cli/bench_triplet.c) and the same loss in plain PyTorch (scripts/bench/triplet_torch.py),
# forward + backward on the same batch of embeddings (PyTorch writes it, plumb reads it with --emb),
# same steps, repeats and threads; prints both, the ratio plumb / PyTorch (time: below 1 means
# plumb is faster) and both losses, which must agree (relative difference <= 1e-5, else exit 1).
# PyTorch runs twice: pairwise distances by direct differences (plumb's form) and by torch.cdist.
#   bash scripts/bench/bench_triplet.sh [--device cpu|cuda] [--P 18] [--K 4] [--dim 128]
#        [--mode hard,all] [--soft 0|1] [--squared 0|1] [--margin 0.2] [--reduction all|nonzero]
#        [--steps 50] [--warmup 10] [--repeat 5] [--threads T] [--plumb PATH]
# Defaults: the paper's batch (issue 13 point 7: P 18 x K 4 = 72, D 128), batch-hard then
# batch-all, hinge with margin 0.2, Euclidean, mean over all terms; 50 timed steps after 10
# warm-up, median of 5 repeats; on the CPU all cores on both sides.
# Needs build/plumb (or --plumb) and python3 with torch ($PYTHON, else /usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
DEVICE=cpu P=18 K=4 DIM=128 MODES=hard,all SOFT=0 SQUARED=0 MARGIN=0.2 RED=all STEPS=50 WARMUP=10 REPEAT=5 THREADS=0
PLUMB=${PLUMB:-build/plumb}
PY=${PYTHON:-/usr/bin/python3}
while (($#)); do
  case $1 in
    --device) DEVICE=$2 ;; --P) P=$2 ;; --K) K=$2 ;; --dim) DIM=$2 ;; --mode) MODES=$2 ;; --soft) SOFT=$2 ;;
    --squared) SQUARED=$2 ;; --margin) MARGIN=$2 ;; --reduction) RED=$2 ;; --steps) STEPS=$2 ;;
    --warmup) WARMUP=$2 ;; --repeat) REPEAT=$2 ;; --threads) THREADS=$2 ;; --plumb) PLUMB=$2 ;;
    *) echo "usage: $0 [--device cpu|cuda] [--P P] [--K K] [--dim D] [--mode hard,all] [--soft 0|1] [--squared 0|1] [--margin M] [--reduction all|nonzero] [--steps S] [--warmup W] [--repeat R] [--threads T] [--plumb PATH]" >&2; exit 2 ;;
  esac
  shift 2
done
[[ $DEVICE == cpu ]] && ! ((THREADS)) && THREADS=$(nproc)
EMB=$(mktemp "${TMPDIR:-/tmp}/triplet-emb.XXXXXX.npy")
trap 'rm -f "$EMB"' EXIT
common=(--P "$P" --K "$K" --dim "$DIM" --soft "$SOFT" --squared "$SQUARED" --margin "$MARGIN" --reduction "$RED"
        --steps "$STEPS" --warmup "$WARMUP" --repeat "$REPEAT")
# "triplet: forward+backward X ms (min A, max B), loss L[, ...]" on both sides
ms() { grep -E "^triplet: " <<<"$1" | grep -oE "forward\+backward [0-9.]+" | cut -d' ' -f2; }
loss() { grep -E "^triplet: " <<<"$1" | grep -oE "loss [-+0-9.eE]+" | cut -d' ' -f2; }
echo "== triplet loss op, device $DEVICE, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
bad=0
SUMMARY=()
for mode in ${MODES//,/ }; do
  echo "-- batch-$mode: PyTorch, direct differences (writes the embeddings)"
  tout=$("$PY" scripts/bench/triplet_torch.py --device "$DEVICE" --mode "$mode" "${common[@]}" --threads "$THREADS" \
    --dist diff --save-emb "$EMB")
  echo "$tout"
  echo "-- batch-$mode: plumb, the same embeddings"
  pout=$("$PLUMB" bench --op triplet --mode "$mode" "${common[@]}" --emb "$EMB" --set run.device="$DEVICE" \
    --set run.threads="$THREADS")
  echo "$pout"
  echo "-- batch-$mode: PyTorch, torch.cdist"
  cout=$("$PY" scripts/bench/triplet_torch.py --device "$DEVICE" --mode "$mode" "${common[@]}" --threads "$THREADS" \
    --dist cdist)
  echo "$cout"
  line=$(awk -v pm="$(ms "$pout")" -v tm="$(ms "$tout")" -v cm="$(ms "$cout")" -v pl="$(loss "$pout")" \
      -v tl="$(loss "$tout")" -v cl="$(loss "$cout")" -v m="$mode" -v p="$P" -v k="$K" -v d="$DIM" -v dev="$DEVICE" '
    function rd(a, b) { s = (a > b ? a - b : b - a); n = (b < 0 ? -b : b); return s / (n > 1 ? n : 1) }
    BEGIN {
      r1 = rd(pl, tl); r2 = rd(pl, cl); ok = (r1 <= 1e-5 && r2 <= 1e-5)
      printf "triplet batch-%s N %d (P %d x K %d) D %d on %s: forward+backward plumb %.4f ms, PyTorch %.4f ms (direct differences) plumb/PyTorch = %.2fx, %.4f ms (cdist) = %.2fx; loss plumb %s, PyTorch %s (cdist %s): %s (rel diff %.2g, %.2g)\n",
             m, p * k, p, k, d, dev, pm, tm, pm / tm, cm, pm / cm, pl, tl, cl, ok ? "agree" : "DISAGREE", r1, r2 }')
  SUMMARY+=("$line")
  [[ $line == *DISAGREE* ]] && bad=1
done
echo "-- summary"
printf '%s\n' "${SUMMARY[@]}"
exit $bad
