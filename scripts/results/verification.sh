#!/bin/bash
# verification.sh: the verification results of issue 13 (results/verification-cpu.md): for each
# kind of track data, the seed-004 baseline (the mean of a track's frame descriptors, no training)
# beside the LSTM embedding trained with the triplet loss (configs/verification/KIND_lstm.ini),
# both scored by the same evaluator (plumb verify: every pair of the test tracks, cosine, TPR at
# FPR 1e-3 .. 1e-6, AUC, EER, per group).
#
#   bash scripts/results/verification.sh synthetic|fmnist|both OUT [-- --set key=value ...]
#
# Generates the data into OUT/data (scripts/make_tracks.py with a nuisance subspace,
# scripts/make_fmnist_tracks.py; kept when already there), trains into OUT/runs (a finished run is
# not retrained), embeds the test set with the last epoch's checkpoint (no model selection on the
# test set), and writes OUT/KIND/table.md with every figure and OUT/KIND/*.json.
# PLUMB (default build/plumb) and PYTHON (default /usr/bin/python3: numpy) may be set;
# SYNTHETIC_SIZE / FMNIST_SIZE replace the generators' size arguments (the test's small data),
# FMNIST_DIR the folder of the Fashion-MNIST files.
set -euo pipefail
kind=${1:?usage: verification.sh synthetic|fmnist|both OUT [-- --set ...]}
out=${2:?usage: verification.sh synthetic|fmnist|both OUT [-- --set ...]}
shift 2
[[ ${1:-} == -- ]] && shift
SRC=$(cd "$(dirname "$0")/../.." && pwd)
PLUMB=${PLUMB:-$SRC/build/plumb}
PY=${PYTHON:-/usr/bin/python3}
mkdir -p "$out"
out=$(cd "$out" && pwd)

gen() { # gen KIND DIR
  [[ -f $2/test_group.npy ]] && return 0
  if [[ $1 == synthetic ]]; then
    "$PY" "$SRC/scripts/make_tracks.py" "$2" ${SYNTHETIC_SIZE:---identities 1000 --tracks 4 --test-tracks 4} \
      --steps 10 --dim 512 --groups 2 --noise 0.6,1.2 --min-len 3 --test-identities disjoint --nuisance 16,4,4 --seed 1
  else
    "$PY" "$SRC/scripts/make_fmnist_tracks.py" "$2" ${FMNIST_SIZE:---train-identities 2000 --test-identities 1000} \
      --tracks 4 --test-tracks 2 --seed 1 ${FMNIST_DIR:+--fmnist "$FMNIST_DIR"}
  fi
}

one() { # one KIND [--set ...]
  local k=$1
  shift
  local cfg=$SRC/configs/verification/${k}_lstm.ini data=$out/data/tracks-$k res=$out/$k
  mkdir -p "$res"
  gen "$k" "$data"
  "$PY" "$SRC/scripts/results/verification_baseline.py" "$data/test_x.npy" "$data/test_len.npy" "$data/test_y.npy" \
    "$data/test_group.npy" "$res/mean_of_frames.npy"
  "$PLUMB" verify --emb "$res/mean_of_frames.npy" --rows "$res/mean_of_frames.csv" --group-column group \
    --json "$res/mean_of_frames.json"
  local S=(--set "data.dir=$data" --set "run.out_dir=$out/runs" "$@")
  "$PLUMB" train "$cfg" "${S[@]}" 2>&1 | tee "$res/train.log" | grep -E "done in|resumed|already complete|error" || true
  local name
  name=$(sed -n 's/^name = //p' "$cfg" | head -1)
  local ck last
  ck=$out/runs/$name/checkpoints
  last=$(ls "$ck"/step-*.safetensors | grep -v '\.state\.' | sort | tail -1)
  "$PLUMB" embed "$cfg" "${S[@]}" --checkpoint "$last" --out "$res/lstm_final.npy"
  "$PLUMB" verify --emb "$res/lstm_final.npy" --rows "$res/lstm_final.csv" --group-column group \
    --json "$res/lstm_final.json"
  cp "$out/runs/$name/metrics.csv" "$res/metrics.csv"
  "$PY" - "$res" "$k" "$last" <<'PYEOF'
import json, os, sys
res, kind, last = sys.argv[1:4]
rows = [("mean of frame descriptors (no training)", "mean_of_frames"),
        (f"LSTM + triplet, last epoch ({os.path.basename(last)})", "lstm_final")]
out = [f"| {kind} | AUC | EER | TPR@1e-3 | TPR@1e-4 | TPR@1e-5 | TPR@1e-6 | TPR@1e-3 group 0 / 1 (global threshold) |",
       "|---|---|---|---|---|---|---|---|"]
for label, f in rows:
    p = os.path.join(res, f + ".json")
    if not os.path.exists(p):
        continue
    v = json.load(open(p))
    pts = [x["tpr"] for x in v["tpr_at_fpr"]]
    flag = ["" if not x["below_resolution"] else " (n/a)" for x in v["tpr_at_fpr"]]
    g = " / ".join(f"{x['at_global_threshold'][0]['tpr']:.3f}" for x in v["groups"])
    out.append(f"| {label} | {v['auc']:.4f} | {v['eer']:.4f} | " + " | ".join(f"{t:.3f}{fl}" for t, fl in zip(pts, flag))
               + f" | {g} |")
out.append(f"\nN_gen {v['n_gen']}, N_imp {v['n_imp']} (test tracks of identities never seen in training).")
open(os.path.join(res, "table.md"), "w").write("\n".join(out) + "\n")
print("\n".join(out))
PYEOF
}

case $kind in
  both) one synthetic "$@"; one fmnist "$@" ;;
  synthetic | fmnist) one "$kind" "$@" ;;
  *) echo "verification.sh: unknown kind $kind (synthetic, fmnist or both)" >&2; exit 2 ;;
esac
