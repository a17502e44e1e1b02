# scripts/plot.py on real run folders: a small inversion-biased CNN on Fashion-MNIST evaluated on
# both test variants (plumb train, then plumb eval for eval.json) gives every figure under its
# documented name, each a valid PNG that matplotlib reads back, the curves with one line per
# metrics.csv column of their kind; two more eps values and a second seed give the bias
# amplification against eps (mean, std error bar); a missing metrics.csv, a metrics.csv with
# no rows and an eval.json without calibration (a real one with its calibration taken out) exit 2 naming the
# file, with nothing written. matplotlib is installed by scripts/setup.sh: its absence fails.
source "$(dirname "$0")/lib.sh"
need_data
PLOT=$PLUMB_SRC/scripts/plot.py
PY=
for p in ${PYTHON:-} /usr/bin/python3 python3; do
  if command -v "$p" > /dev/null && "$p" -c "import matplotlib, numpy" 2> /dev/null; then PY=$p; break; fi
done
if [[ -z $PY ]]; then
  echo "FAIL: no python3 (\$PYTHON, /usr/bin/python3, python3) imports matplotlib and numpy (bash scripts/setup.sh installs python3-matplotlib)"
  exit 1
fi
echo "    python: $PY (matplotlib $("$PY" -c "import matplotlib; print(matplotlib.__version__)"))"

# train NAME EPS SEED: 2 epochs of a tiny simplecnn, then plumb eval (CHECKPOINT.eval.json).
train() {
  cat > "$T/$1.ini" <<INI
[run]
name = $1
out_dir = $T/runs
seed = $3
device = cpu
threads = 2
[data]
dir = $DATA
limit_train = 512
limit_test = 256
bias = inversion
eps = $2
test_variants = biased,unbiased
[model]
arch = simplecnn
channels = 4,8
[train]
epochs = 2
batch_size = 64
[optim]
name = sgd
lr = 0.05
momentum = 0.9
INI
  "$PLUMB" train "$T/$1.ini" > "$T/$1.train.log" 2>&1 &&
    "$PLUMB" eval "$T/$1.ini" --checkpoint "$T/runs/$1/checkpoints/step-0000000016.safetensors" \
      > "$T/$1.eval.log" 2>&1
}
train a 40 1
check "train + eval, eps 40" test $? -eq 0
R=$T/runs/a
EJ=$R/checkpoints/step-0000000016.eval.json
check "eval.json beside the checkpoint" test -f "$EJ"

# valid_png FILE: PNG magic and > 5 kB (read_back below has matplotlib read every one of them).
valid_png() {
  [[ -f $1 ]] && [[ $(head -c 8 "$1" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] &&
    (($(stat -c %s "$1") > 5000))
}
# read_back FILE...: matplotlib.image.imread reads each as an RGB(A) picture over 200 x 200 pixels.
read_back() {
  "$PY" -c "import sys, matplotlib; matplotlib.use('Agg'); import matplotlib.image as m
for f in sys.argv[1:]:
    a = m.imread(f); assert a.ndim == 3 and a.shape[0] > 200 and a.shape[1] > 200, (f, a.shape)
print('    read back', len(sys.argv) - 1, 'PNGs')" "$@"
}

"$PY" "$PLOT" all "$R" > "$T/all.log" 2>&1
check "plot.py all exits 0" test $? -eq 0
cat "$T/all.log"
for f in curves_loss curves_acc curves_bias_acc curves_lr reliability_biased reliability_unbiased \
  reliability_biased_groups reliability_unbiased_groups groups_biased groups_unbiased; do
  check "$f.png is a valid PNG in RUN_DIR/plots" valid_png "$R/plots/$f.png"
done
check "matplotlib reads back every PNG of plots/" read_back "$R"/plots/*.png
check "no temporary file left in plots/" bash -c "! ls -A '$R/plots' | grep -q tmp"
# the lines of each curves figure: the metrics.csv columns of its kind (all-nan ones, like the
# val columns without a validation set and biased_conflicting_acc, left out)
check "curves_loss: 3 lines" grep -qx "wrote curves_loss.png: 3 lines (train_loss, biased_loss, unbiased_loss), 2 epochs" "$T/all.log"
check "curves_acc: 3 lines" grep -qx "wrote curves_acc.png: 3 lines (train_acc, biased_acc, unbiased_acc), 2 epochs" "$T/all.log"
check "curves_bias_acc: 3 lines" grep -qx "wrote curves_bias_acc.png: 3 lines (biased_aligned_acc, unbiased_aligned_acc, unbiased_conflicting_acc), 2 epochs" "$T/all.log"
check "curves_lr: 1 line" grep -qx "wrote curves_lr.png: 1 line (lr), 2 epochs" "$T/all.log"
check "the columns of metrics.csv are as the test expects" \
  grep -qx "epoch,step,lr,train_loss,train_acc,val_loss,val_acc,biased_loss,biased_acc,biased_ece,biased_mce,biased_worst_group_acc,biased_group_disparity,biased_biasamp,unbiased_loss,unbiased_acc,unbiased_ece,unbiased_mce,unbiased_worst_group_acc,unbiased_group_disparity,unbiased_biasamp,biased_aligned_acc,biased_conflicting_acc,unbiased_aligned_acc,unbiased_conflicting_acc,epoch_seconds,images_per_second" "$R/metrics.csv"
check "reliability: 15 bins, the ECE of eval.json" bash -c "grep -q \"wrote reliability_unbiased.png: 15 bins (.* with images), ECE \$('$PY' -c \"import json; print('%.4f' % json.load(open('$EJ'))['sets']['unbiased']['terms']['']['calibration']['ece'])\")\" '$T/all.log'"
check "groups: 2 groups, 10 classes" grep -q "wrote groups_unbiased.png: 2 groups, 10 classes" "$T/all.log"

# the subcommands one by one, --out elsewhere
"$PY" "$PLOT" curves "$R" --out "$T/o1" > "$T/c.log" 2>&1 && "$PY" "$PLOT" reliability "$EJ" --out "$T/o2" > /dev/null 2>&1 &&
  "$PY" "$PLOT" groups "$EJ" --out "$T/o3" > /dev/null 2>&1
check "curves / reliability / groups with --out exit 0" test $? -eq 0
check "curves --out: the curves only" bash -c "[[ \$(ls '$T/o1' | tr '\n' ' ') == 'curves_acc.png curves_bias_acc.png curves_biasamp.png curves_ece.png curves_group_disparity.png curves_loss.png curves_lr.png curves_mce.png curves_worst_group_acc.png ' ]]"
check "reliability --out: 4 PNGs" bash -c "[[ \$(ls '$T/o2'/reliability_*.png | wc -l) == 4 ]]"
check "groups --out: groups_biased.png" valid_png "$T/o3/groups_biased.png"
check "groups --out: groups_unbiased.png" valid_png "$T/o3/groups_unbiased.png"
check "matplotlib reads back the PNGs of --out" read_back "$T"/o[123]/*.png
# several rows of an epoch (rows appended again by hand): the last one of each epoch counts
mkdir -p "$T/dup" && cp "$R/metrics.csv" "$T/dup/" && tail -n +2 "$R/metrics.csv" >> "$T/dup/metrics.csv"
"$PY" "$PLOT" curves "$T/dup" > "$T/dup.log" 2>&1
check "metrics.csv with an epoch twice: 2 epochs" grep -qx "wrote curves_acc.png: 3 lines (train_acc, biased_acc, unbiased_acc), 2 epochs" "$T/dup.log"

# bias amplification across eps 0, 20, 40 (a second seed at 40: mean and std)
train b 20 1 && train c 0 1 && train a2 40 2
check "train + eval, eps 20, 0 and 40 with another seed" test $? -eq 0
"$PY" "$PLOT" biasamp "$R" "$T/runs/b" "$T/runs/c/checkpoints/step-0000000016.eval.json" "$T/runs/a2" \
  --out "$T/ba" > "$T/ba.log" 2>&1
check "plot.py biasamp exits 0" test $? -eq 0
cat "$T/ba.log"
check "biasamp_eps.png is a valid PNG" valid_png "$T/ba/biasamp_eps.png"
check "matplotlib reads it back" read_back "$T/ba/biasamp_eps.png"
check "biasamp: study and wang lines per variant, 3 eps values, 4 runs" grep -qx \
  "wrote biasamp_eps.png: 4 lines (biased study, biased wang, unbiased study, unbiased wang), 3 data.eps values, 4 runs" "$T/ba.log"
"$PY" "$PLOT" biasamp "$R" "$T/runs/b" --key data.limit_train --out "$T/ba2" > "$T/ba2.log" 2>&1
check "biasamp --key data.limit_train: biasamp_limit_train.png" valid_png "$T/ba2/biasamp_limit_train.png"

# bad input: exit 2, the file named, nothing written
mkdir -p "$T/empty"
out=$("$PY" "$PLOT" curves "$T/empty" 2>&1); rc=$?
check "a run without metrics.csv: exit 2" test $rc -eq 2
check "  ... naming the file: $out" grep -q "$T/empty/metrics.csv: no such file" <<< "$out"
check "  ... nothing written" test ! -e "$T/empty/plots"
mkdir -p "$T/norows" && head -1 "$R/metrics.csv" > "$T/norows/metrics.csv"
out=$("$PY" "$PLOT" all "$T/norows" 2>&1); rc=$?
check "a metrics.csv without rows: exit 2" test $rc -eq 2
check "  ... naming the file: $out" grep -q "$T/norows/metrics.csv: no rows" <<< "$out"
check "  ... nothing written" test ! -e "$T/norows/plots"
mkdir -p "$T/tta" && "$PLUMB" eval "$T/a.ini" --checkpoint "$R/checkpoints/step-0000000016.safetensors" \
  --set augment.tta=flip --json "$T/tta/e.json" > /dev/null 2>&1
check "an eval.json under tta has calibration (the view-averaged confidences)" grep -q '"calibration": {' "$T/tta/e.json"
# an eval.json without calibration, as a multi-model method writes it: the figures taken out of a real one
"$PY" - "$T/tta/e.json" "$T/tta/nocal.json" <<'PYEOF'
import json, sys
e = json.load(open(sys.argv[1]))
for s in e["sets"].values():
    for t in s["terms"].values():
        t.pop("calibration", None); t.pop("calibration_per_group", None)
    s["skipped"]["calibration"] = "no per-image confidences: a multi-model method keeps its logits to itself"
json.dump(e, open(sys.argv[2], "w"))
PYEOF
out=$("$PY" "$PLOT" reliability "$T/tta/nocal.json" --out "$T/tta/plots" 2>&1); rc=$?
check "reliability of an eval.json without calibration: exit 2" test $rc -eq 2
check "  ... naming the file and the reason: $out" grep -q "$T/tta/nocal.json: no \"calibration\" in any test set or head.*multi-model" <<< "$out"
check "  ... nothing written" test ! -e "$T/tta/plots"
out=$("$PY" "$PLOT" groups "$T/nope.eval.json" --out "$T/nope" 2>&1); rc=$?
check "a missing eval.json: exit 2 naming it" bash -c "(($rc == 2)) && grep -q '$T/nope.eval.json: no such file' <<< '$out'"
out=$("$PY" "$PLOT" biasamp "$T/empty" --out "$T/nope" 2>&1); rc=$?
check "biasamp of a folder without eval.json: exit 2 naming it" bash -c "(($rc == 2)) && grep -q '$T/empty: no \*.eval.json' <<< '$out'"
check "  ... nothing written" test ! -e "$T/nope"
finish
