#!/usr/bin/env bash
# bench_verification.sh: the verification figures (TPR at FPR 1e-3..1e-6, AUC, EER, 4 groups) on
# 10,000 probes x 10,000 gallery rows (1e8 pairs) in plumb and in numpy, same thread count, same
# kind of data, in the same run; then scikit-learn (roc_auc_score + roc_curve) beside plumb on a
# 3000 x 3000 subsample (9e6 pairs: sklearn sorts float64 copies of every pair, too slow and too
# big for 1e8). Prints each tool's lines and the ratios.
#   bash scripts/bench/bench_verification.sh [THREADS] [DIM] [SUB]
# Needs build/plumb (scripts/setup.sh; BUILD=dir for another build) and python3 with numpy and
# scikit-learn (Debian python3-sklearn).
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS=${1:-$(nproc)}
DIM=${2:-128}
SUB=${3:-3000}
PY=${PYTHON:-/usr/bin/python3}
PLUMB=./${BUILD:-build}/plumb
val() { grep -oE "$1=[0-9.e+-]+" | head -1 | cut -d= -f2; }

p=$("$PLUMB" bench --verification 10000x10000 --dim "$DIM" --threads "$THREADS" --repeat 2)
echo "$p"
n=$("$PY" scripts/bench/verification_numpy.py --probes 10000 --gallery 10000 --dim "$DIM" --threads "$THREADS")
echo "$n"
ps=$(val plumb_verification_seconds <<<"$p")
awk -v p="$ps" -v t="$(val numpy_tpr_seconds <<<"$n")" -v a="$(val numpy_tpr_auc_seconds <<<"$n")" \
  'BEGIN{printf "1e8 pairs: plumb (all figures, groups) %.2f s; numpy TPR only %.2f s (%.2fx), numpy TPR + exact AUC %.2f s (%.2fx)\n", p, t, t/p, a, a/p}'

p2=$("$PLUMB" bench --verification "${SUB}x${SUB}" --dim "$DIM" --threads "$THREADS" --repeat 2)
echo "$p2"
s=$("$PY" scripts/bench/verification_numpy.py --probes "$SUB" --gallery "$SUB" --dim "$DIM" --threads "$THREADS" --sklearn)
echo "$s"
awk -v p="$(val plumb_verification_seconds <<<"$p2")" -v s="$(val sklearn_seconds <<<"$s")" -v n="$SUB" \
  'BEGIN{printf "%dx%d pairs: plumb %.3f s; sklearn roc_auc_score + roc_curve %.3f s (%.1fx, scores not counted)\n", n, n, p, s, s/p}'
