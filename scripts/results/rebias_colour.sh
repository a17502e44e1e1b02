#!/usr/bin/env bash
# The ReBias comparison on colour-biased Fashion-MNIST (configs/rebias/colour_*.ini): every
# method at every rho, one run folder each under OUT, then the table (rebias_colour_table.py).
#
#   scripts/results/rebias_colour.sh OUT [METHODS] [RHOS] [-- plumb --set overrides...]
#
# METHODS: comma-separated (default vanilla,biased,rubi,learnedmixin,rebias); RHOS: default
# 0.997,0.990. The overrides shorten the protocol on a CPU, e.g.
#   -- --set data.limit_train=6000 --set data.limit_test=2000 --set train.epochs=5
# A finished run is skipped (plumb resumes a run folder and reports it complete), so the
# script can be run again after an interruption. PLUMB: the binary (default build/plumb).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: rebias_colour.sh OUT [METHODS] [RHOS] [-- overrides...]}
shift
methods=vanilla,biased,rubi,learnedmixin,rebias
rhos=0.997,0.990
[[ $# -gt 0 && $1 != -- ]] && { methods=$1; shift; }
[[ $# -gt 0 && $1 != -- ]] && { rhos=$1; shift; }
[[ $# -gt 0 && $1 == -- ]] && shift
plumb=${PLUMB:-$here/build/plumb}
mkdir -p "$out"
IFS=, read -ra M <<<"$methods"
IFS=, read -ra R <<<"$rhos"
for rho in "${R[@]}"; do
  for m in "${M[@]}"; do
    cfg=$here/configs/rebias/colour_$m.ini
    [[ -f $cfg ]] || { echo "rebias_colour.sh: no config $cfg for method '$m'" >&2; exit 2; }
    echo "== $m rho=$rho"
    "$plumb" train "$cfg" --set "run.out_dir=$out" --set "run.name=$m-$rho" --set "data.rho=$rho" "$@" \
      >"$out/$m-$rho.out" 2>&1 || { echo "rebias_colour.sh: $m rho=$rho failed, see $out/$m-$rho.out" >&2; exit 1; }
    tail -n 3 "$out/$m-$rho.out"
  done
done
