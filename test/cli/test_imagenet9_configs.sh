# The ImageNet-9 configs (configs/rebias/imagenet9_*.ini) end to end, and the cell-averaged
# ("unbiased") accuracy: scripts/fixtures/make_imagenet9_synthetic.py writes a tiny ImageNet tree,
# scripts/imagenet9_manifest.py its manifests (val.csv with cluster1..3), then each config this
# build can run trains one epoch (learnedmixin: after one epoch of g's pretraining) shrunk for CI
# (32x32 crops of 40x40 JPEGs, batch 16, 2 threads; min_cell 1, since no cell of the tiny val set
# holds the protocol's 10 images). Checks: the
# f_test_cell_acc / g_test_cell_acc columns of metrics.csv in [0, 1], the last epoch line's
# test_f_cell_acc=, best.safetensors by [run] select on the cell column; then plumb eval
# --predictions of the run's checkpoint, and the cell accuracy recomputed from those predictions
# and val.csv's clusters with scikit-learn (accuracy_score per (true class, cluster) cell) equal
# to metrics.csv's and plumb eval's at min_cell 1 and 2 (and 10 for vanilla: nan, no cell).
# Bad input: a test_group_columns column the test manifest lacks, a non-integer / negative / empty cluster
# value (file:line, column and key named), min_cell 0, test_group_columns without dataset = csv,
# select on the cell column without groupings; each a clear message and a non-zero exit.
# imagenet9_rubi.ini and imagenet9_learnedmixin.ini run once this build has those methods (until
# then their "[method] name = ... is not one of" is reported and passed over). With
# PLUMB_SANITIZED (the ASan build) only the vanilla config trains: the other two add no code of
# this feature and take minutes there.
# Needs a python3 with PIL, numpy and scikit-learn ($PYTHON, python3 or /usr/bin/python3; Debian
# python3-sklearn); without one, pip installs scikit-learn (and Pillow) into ./pydeps of the build
# folder; exit 77 when neither works.
source "$(dirname "$0")/lib.sh"
[[ -n ${T:-} && -d $T ]] || { echo "FAIL: lib.sh did not set up \$T"; exit 1; }
CANDS=(${PYTHON:-} python3 /usr/bin/python3)
PY=
for p in "${CANDS[@]}"; do
  if command -v "$p" >/dev/null && "$p" -c "import PIL, numpy, sklearn" 2>/dev/null; then PY=$p; break; fi
done
if [[ -z $PY ]]; then
  DEPS=$PWD/pydeps
  for p in "${CANDS[@]}"; do
    command -v "$p" >/dev/null || continue
    if ! PYTHONPATH=$DEPS "$p" -c "import PIL, numpy, sklearn" 2>/dev/null; then
      "$p" -m pip --version >/dev/null 2>&1 || continue
      echo "    installing scikit-learn and Pillow for $p into $DEPS (pip)"
      "$p" -m pip install --quiet --disable-pip-version-check --target "$DEPS" scikit-learn Pillow >/dev/null 2>&1
    fi
    if PYTHONPATH=$DEPS "$p" -c "import PIL, numpy, sklearn" 2>/dev/null; then
      PY=$p; export PYTHONPATH=$DEPS; break
    fi
  done
fi
[[ -n $PY ]] || { echo "skipped: no python3 with PIL, numpy and scikit-learn (python3-sklearn), and pip could not install them"; exit 77; }
echo "    python: $PY ($("$PY" -c "import sklearn; print('scikit-learn', sklearn.__version__)"))"
GEN=$PLUMB_SRC/scripts/fixtures/make_imagenet9_synthetic.py
MAN=$PLUMB_SRC/scripts/imagenet9_manifest.py
CFG=$PLUMB_SRC/configs/rebias
R=$T/in9
CL=$("$PY" "$GEN" "$R" --train 2 --val 2 --size 40 --seed 1) || { echo "FAIL: generator"; exit 1; }
"$PY" "$MAN" --root "$R" --out "$T/m" --clusters "$CL" >/dev/null || { echo "FAIL: manifest script"; exit 1; }
check "val.csv has the cluster columns, train.csv none" \
  test "$(head -1 "$T/m/val.csv")/$(head -1 "$T/m/train.csv")" = "path,label,category,cluster1,cluster2,cluster3/path,label,category"

# The CI shrink of the protocol: every key a --set, the config's own values otherwise.
SHRINK=(--set data.dir="$T/m" --set data.image_root="$R" --set run.out_dir="$T/runs" --set run.device=cpu
        --set run.threads=2 --set loader.workers=2 --set train.epochs=1 --set train.batch_size=16
        --set augment.size=32 --set augment.resize=36 --set data.min_cell=1)

# cellacc PRED.csv MODEL MIN_CELL: the cell-averaged accuracy of MODEL's predictions, by
# scikit-learn, joined with val.csv on the manifest row (and its path checked).
cellacc() {
  "$PY" - "$1" "$2" "$3" "$T/m/val.csv" <<'PY'
import csv, math, sys
import numpy as np
from sklearn.metrics import accuracy_score
pred_csv, model, min_cell, val_csv = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
val = list(csv.DictReader(open(val_csv, newline="")))
rows = list(csv.DictReader(open(pred_csv, newline="")))
assert len(rows) == len(val), "%d predictions for %d val rows" % (len(rows), len(val))
y, p, g = [], [], []
for r in rows:
    v = val[int(r["index"])]
    assert r["path"].endswith("/" + v["path"]), (r["path"], v["path"])
    assert int(r[model + "_label"]) == int(v["label"])
    y.append(int(v["label"])); p.append(int(r[model + "_pred"]))
    g.append([int(v["cluster%d" % k]) for k in (1, 2, 3)])
y, p, g = np.array(y), np.array(p), np.array(g)
accs = []
for j in range(3):
    cells = [accuracy_score(y[(y == c) & (g[:, j] == k)], p[(y == c) & (g[:, j] == k)])
             for c in np.unique(y) for k in np.unique(g[:, j])
             if ((y == c) & (g[:, j] == k)).sum() >= min_cell]
    accs.append(np.mean(cells) if cells else math.nan)
print("%.9f" % np.mean(accs) if not any(math.isnan(a) for a in accs) else "nan")
PY
}
# csvcol FILE COLUMN: the value of COLUMN in FILE's last row.
csvcol() { awk -F, -v c="$2" 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == c) k = i} END {if (k) print $k}' "$1"; }
# near A B TOL: |A - B| <= TOL, or both nan.
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN {if (a == "nan" || b == "nan") exit !(a == b); d = a - b; exit !(d <= t && -d <= t)}'; }

methods=(vanilla biased rebias rubi learnedmixin)
[[ ${PLUMB_SANITIZED:-} == 1 || ${PLUMB_SANITIZED:-} == ON || ${PLUMB_SANITIZED:-} == TRUE ]] && methods=(vanilla rubi learnedmixin)
ran=0 passed_over=0
for m in "${methods[@]}"; do
  ini=$CFG/imagenet9_$m.ini
  cfg_out=$("$PLUMB" config "$ini" 2>&1)
  if [[ $cfg_out == *"[method] name = $m is not one of"* && ($m == rubi || $m == learnedmixin) ]]; then
    echo "    $m: this build has no [method] name = $m yet; imagenet9_$m.ini passed over"
    passed_over=$((passed_over + 1))
    continue
  fi
  check "$m: plumb config resolves imagenet9_$m.ini" test -n "$(grep -m1 'test_group_columns = cluster1,cluster2,cluster3' <<<"$cfg_out")"
  extra=()
  [[ $m == learnedmixin ]] && extra=(--set method.g_pretrain_epochs=1)
  "$PLUMB" train "$ini" "${SHRINK[@]}" "${extra[@]}" > "$T/train_$m.log" 2>&1; rc=$?
  out=$(cat "$T/train_$m.log")
  echo "$out" | grep -E "^data:|epoch [0-9]+/[0-9]+ done|best so far|rror" | cut -c1-260 | sed 's/^/    /'
  last=$(grep -E "epoch [0-9]+/[0-9]+ done" <<<"$out" | tail -1) # learnedmixin: g's pretraining epoch first
  check "$m: trains one epoch (exit 0)" test $rc -eq 0
  run=$T/runs/imagenet9_$m
  mc=$run/metrics.csv
  sel=f; [[ $m == biased ]] && sel=g
  for model in f g; do
    v=$(csvcol "$mc" ${model}_test_cell_acc)
    check "$m: metrics.csv ${model}_test_cell_acc = '$v' in [0, 1]" \
      awk -v v="$v" 'BEGIN {exit !(v != "" && v != "nan" && v + 0 >= 0 && v + 0 <= 1)}'
  done
  for model in f g; do
    check "$m: the last epoch line has test_${model}_cell_acc=" grep -qE " test_${model}_cell_acc=[0-9.]+ " <<<"$last"
  done
  check "$m: best.safetensors by [run] select = ${sel}_test_cell_acc" \
    bash -c "grep -q 'best so far by \[run\] select = ${sel}_test_cell_acc' '$T/train_$m.log' && test -f '$run/checkpoints/best.safetensors'"
  ck=$(ls "$run"/checkpoints/step-*.safetensors 2>/dev/null | grep -v '\.[a-z_]*\.safetensors$' | tail -1)
  mcells=(1 2); [[ $m == vanilla ]] && mcells=(1 2 10) # 10: no cell of the tiny val set, nan
  for mcell in "${mcells[@]}"; do
    "$PLUMB" eval "$ini" "${SHRINK[@]}" "${extra[@]}" --set data.min_cell=$mcell --checkpoint "$ck" \
      --predictions "$T/pred_${m}_$mcell.csv" > "$T/eval_${m}_$mcell.log" 2>&1; erc=$?
    ev=$(cat "$T/eval_${m}_$mcell.log")
    check "$m: plumb eval --predictions at min_cell $mcell (exit 0)" test $erc -eq 0
    for model in f g; do
      got=$(grep -oE "test_${model}_cell_acc=[0-9.na]+" <<<"$ev" | cut -d= -f2)
      want=$(cellacc "$T/pred_${m}_$mcell.csv" $model $mcell)
      # plumb eval prints 4 decimals
      check "$m: $model min_cell $mcell: plumb eval $got = scikit-learn $want" near "$got" "$want" 0.00005
      if ((mcell == 1)); then
        csvv=$(csvcol "$mc" ${model}_test_cell_acc)
        # metrics.csv has 6 decimals; the training run's last evaluation is the checkpoint's
        check "$m: $model: metrics.csv $csvv = scikit-learn $want" near "$csvv" "$want" 0.0000006
      fi
    done
  done
  grep -m1 "f cell accuracy" "$T/eval_${m}_1.log" | cut -c1-200 | sed 's/^/    /'
  ran=$((ran + 1))
done
check "every config ran but those of methods this build lacks: $ran of ${#methods[@]}" test $ran -eq $((${#methods[@]} - passed_over))

# Bad input. Each runs plumb eval's start (data loading) or train's, on the vanilla config.
V=$CFG/imagenet9_vanilla.ini
ck=$(ls "$T"/runs/imagenet9_vanilla/checkpoints/step-*.safetensors | grep -v '\.[a-z_]*\.safetensors$' | tail -1)
expect_fail "a test_group_columns column the test manifest lacks" \
  "val.csv:1: no column named 'cluster9' ([data] test_group_columns)" \
  "$PLUMB" train "$V" "${SHRINK[@]}" --set run.name=bad1 --set data.test_group_columns=cluster1,cluster9
bad_manifest() { # bad_manifest NAME VALUE: val.csv with row 3's cluster2 set to VALUE
  awk -F, -v OFS=, -v v="$2" 'NR == 3 {$5 = v} {print}' "$T/m/val.csv" > "$T/m/$1.csv"
}
bad_manifest val_x x
expect_fail "a non-integer cluster value" \
  "val_x.csv:3: 'x' in column 'cluster2' is not a group id (an integer >= 0; [data] test_group_columns)" \
  "$PLUMB" train "$V" "${SHRINK[@]}" --set run.name=bad2 --set data.test_path=val_x.csv
bad_manifest val_neg -1
expect_fail "a negative cluster value" "val_neg.csv:3: '-1' in column 'cluster2' is not a group id" \
  "$PLUMB" eval "$V" "${SHRINK[@]}" --set data.test_path=val_neg.csv --checkpoint "$ck"
bad_manifest val_frac 2.5
expect_fail "a fractional cluster value" "val_frac.csv:3: '2.5' in column 'cluster2' is not a group id" \
  "$PLUMB" eval "$V" "${SHRINK[@]}" --set data.test_path=val_frac.csv --checkpoint "$ck"
bad_manifest val_empty ""
expect_fail "an empty cluster value" "val_empty.csv:3: '' in column 'cluster2' is not a group id" \
  "$PLUMB" eval "$V" "${SHRINK[@]}" --set data.test_path=val_empty.csv --checkpoint "$ck"
expect_fail "min_cell 0" "[data] min_cell = 0 is out of range [1, " "$PLUMB" train "$V" "${SHRINK[@]}" --set run.name=bad3 --set data.min_cell=0
expect_fail "test_group_columns without dataset = csv" "[data] test_group_columns = cluster1,cluster2,cluster3 needs dataset = csv" \
  "$PLUMB" train "$V" "${SHRINK[@]}" --set run.name=bad4 --set data.dataset=idx
expect_fail "select on the cell column without test_group_columns" \
  "[run] select = f_test_cell_acc is not a column of this run's metrics.csv" \
  "$PLUMB" train "$V" "${SHRINK[@]}" --set run.name=bad5 --set data.test_group_columns=
check "nothing was trained by the bad runs" bash -c "! ls '$T'/runs/bad*/checkpoints/*.safetensors 2>/dev/null | grep -q ."
finish
