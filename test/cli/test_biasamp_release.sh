# The bias-amplification study's released Fashion-MNIST setup (configs/biasamp/fmnist_inversion.ini,
# data/biasamp/, REFERENCES.md "Bias amplification"):
#  (a) for assignment 7 at eps 35 and assignment 0 at eps 50, the inversion flags and labels
#      plumb trains and tests on (plumb info --data) equal the released draw recomputed by
#      scripts/biasamp_lists.py's numpy reference (legacy np.random.seed + shuffle of the
#      released lists, mapped through ../shared/data/biasamp/{train,test}_ids.csv) and the
#      super-class of each sample's class; the model is the released CustomResNet: plumb's
#      parameter count equals scripts/biasamp_model_torch.py's (PyTorch) and its checkpoint
#      tensor count equals the torch state_dict's;
#  (b) a tiny real run of the config (1000 training images, 1 epoch, cpu) trains, reports
#      test_biasamp; plumb eval's predictions give the same number recomputed here from the
#      study's formula (attribute = the inversion flag, task = the super-class);
#  (c) bad files and settings are clear errors naming the file / key.
# Parts needing numpy / torch / ../shared skip (with a message) when those are absent.
source "$(dirname "$0")/lib.sh"
need_data
PY=${PYTHON:-/usr/bin/python3}
CFG=$PLUMB_SRC/configs/biasamp/fmnist_inversion.ini
IDS=${PLUMB_BIASAMP_IDS:-$PLUMB_SRC/../shared/data/biasamp}
cd "$PLUMB_SRC" || exit 1 # the config's data paths are relative to the repository root
SETS=(--set "data.dir=$DATA" --set "run.out_dir=$T/runs" --set run.device=cpu --set run.threads=2)

# (a) the per-sample lists against the numpy reference
if "$PY" -c "import numpy" 2>/dev/null && [[ -r $IDS/train_ids.csv ]]; then
  for ae in "7 35" "0 50"; do
    set -- $ae
    "$PLUMB" info --data "$CFG" "${SETS[@]}" --set data.class_assignment=$1 --set data.eps=$2 > "$T/data_$1.csv"
    check "info --data assignment $1 eps $2 (exit 0)" test $? -eq 0
    check "assignment $1 eps $2: inversion flags and super-class labels = the released numpy draw" \
      "$PY" - "$T/data_$1.csv" "$1" "$2" "$IDS" <<'PY'
import csv, sys
sys.path.insert(0, "scripts")
import numpy as np
import biasamp_lists as b
path, a, eps, ids = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = list(csv.reader(open(path)))[1:]
cls = np.array(b.read_assignments(ids)[a])
ok = True
for split in ("train", "test"):
    g = np.array([int(r[3]) for r in rows if r[0] == split])
    lab = np.array([int(r[2]) for r in rows if r[0] == split])
    ref = b.released_list(a, eps, split, ids)
    sc = cls[b.read_ids(ids, split)[:, 0]]
    same_g, same_l = np.array_equal(g, ref), np.array_equal(lab, sc)
    print("  %s: %d samples, %d inverted (released %d), groups equal: %s, labels equal: %s"
          % (split, len(g), g.sum(), ref.sum(), same_g, same_l))
    ok &= same_g and same_l
sys.exit(0 if ok else 1)
PY
  done
else
  echo "skipped (a) lists: no numpy for $PY or no $IDS/train_ids.csv"
fi
if "$PY" -c "import torch, torchvision" 2>/dev/null; then
  out=$("$PLUMB" info --model cifar_resnet --set model.depth=14 --set model.width=4 --set model.num_classes=2 \
    --set model.in_channels=1 --set model.input_size=28)
  mine=$(echo "$out" | sed -n 's/^parameters: \([0-9]*\) trainable; \([0-9]*\) tensors.*/\1 \2/p')
  torch_n=$("$PY" scripts/biasamp_model_torch.py | sed -n 's/^parameters: //p')
  torch_k=$("$PY" scripts/biasamp_model_torch.py --keys | tail -n +2 | wc -l)
  echo "  plumb: $mine (parameters, tensors); torch CustomResNet: $torch_n $torch_k"
  check "model: plumb cifar_resnet depth 14 width 4 = the released CustomResNet (parameters and tensors)" \
    test "$mine" = "$torch_n $torch_k"
else
  echo "skipped (a) model: no torch / torchvision for $PY"
fi

# (b) a tiny real run
RUN=(--set data.limit_train=1000 --set data.limit_test=300 --set train.epochs=1 --set data.eps=30
  --set data.class_assignment=4)
"$PLUMB" train "$CFG" "${SETS[@]}" "${RUN[@]}" > "$T/train.log" 2>&1
rc=$?
check "tiny run of the config trains (exit 0)" test $rc -eq 0
((rc)) && tail -5 "$T/train.log"
M=$T/runs/biasamp_fmnist/metrics.csv
ba=$(awk -F, 'NR==1{for(i=1;i<=NF;i++) if($i=="test_biasamp") c=i} NR==2{print $c}' "$M" 2>/dev/null)
echo "  test_biasamp = $ba"
check "metrics.csv reports a finite test_biasamp" "$PY" -c "import math,sys; sys.exit(0 if math.isfinite(float('$ba')) else 1)"
CK=$(ls "$T"/runs/biasamp_fmnist/checkpoints/step-*.safetensors 2>/dev/null | grep -v state | tail -1)
"$PLUMB" eval "$CFG" --checkpoint "$CK" "${SETS[@]}" "${RUN[@]}" --predictions "$T/pred.csv" --json "$T/eval.json" \
  > "$T/eval.log" 2>&1
check "plumb eval of the checkpoint (exit 0)" test $? -eq 0
check "test_biasamp = the study's A->T from the predictions (attribute = inversion, task = super-class)" \
  "$PY" - "$T/pred.csv" "$ba" "$T/eval.json" <<'PY'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
a = [int(r["group"]) for r in rows]; t = [int(r["label"]) for r in rows]; p = [int(r["pred"]) for r in rows]
n = len(rows)
assert set(t) <= {0, 1} and set(a) <= {0, 1}, "labels are super-classes, groups inversion flags"
tot = 0.0
for ai in (0, 1):
    na = sum(1 for x in a if x == ai)
    for ti in (0, 1):
        pat = sum(1 for x, y in zip(a, t) if x == ai and y == ti) / n
        y = 1 if pat > (na / n) * (sum(1 for y in t if y == ti) / n) else 0
        d = (sum(1 for x, y in zip(a, p) if x == ai and y == ti) - sum(1 for x, y in zip(a, t) if x == ai and y == ti)) / na
        tot += y * d + (1 - y) * (-d)
ref = tot / 4
got = float(sys.argv[2])
js = json.load(open(sys.argv[3]))
def find(o):
    if isinstance(o, dict):
        if "study_a_to_t" in o: return o["study_a_to_t"]
        for v in o.values():
            r = find(v)
            if r is not None: return r
    if isinstance(o, list):
        for v in o:
            r = find(v)
            if r is not None: return r
print("  recomputed %.9f, metrics.csv %.6f, eval.json %s" % (ref, got, find(js)))
sys.exit(0 if abs(ref - got) <= 1e-6 and abs(find(js) - ref) <= 1e-9 else 1)
PY

# (c) bad files and settings
printf 'assignment,class0\n0,1\n' > "$T/bad.csv"
expect_fail "corrupt class_assignment_file" "bad.csv:1: header" \
  "$PLUMB" info --data "$CFG" "${SETS[@]}" --set "data.class_assignment_file=$T/bad.csv"
expect_fail "missing class_assignment_file" "cannot open the class assignments" \
  "$PLUMB" info --data "$CFG" "${SETS[@]}" --set "data.class_assignment_file=$T/none.csv"
expect_fail "class_assignment past the released 20" "holds 20 assignments" \
  "$PLUMB" info --data "$CFG" "${SETS[@]}" --set data.class_assignment=20
mkdir -p "$T/lists" && cp data/biasamp/inversion_test.npy "$T/lists/"
expect_fail "missing inversion_train.npy" "inversion_train.npy: cannot open" \
  "$PLUMB" info --data "$CFG" "${SETS[@]}" --set "data.inversion_lists=$T/lists"
head -c 5000 data/biasamp/inversion_train.npy > "$T/lists/inversion_train.npy"
expect_fail "truncated inversion_train.npy" "inversion_train.npy: shape (20, 60000)" \
  "$PLUMB" info --data "$CFG" "${SETS[@]}" --set "data.inversion_lists=$T/lists"
expect_fail "eps off the lists' grid" "eps 0, 5, ..., 50 only" \
  "$PLUMB" info --data "$CFG" "${SETS[@]}" --set data.eps=12
expect_fail "inversion_lists without class_assignment_file" "set [data] class_assignment_file" \
  "$PLUMB" info --data "$CFG" "${SETS[@]}" --set data.class_assignment_file=
expect_fail "task = superclass with 10 outputs" "num_classes = 2, not 10" \
  "$PLUMB" train "$CFG" "${SETS[@]}" --set model.num_classes=10
expect_fail "task = superclass without inversion" "needs bias = inversion" \
  "$PLUMB" info --data "$CFG" "${SETS[@]}" --set data.bias=none
expect_fail "factors not one per milestone" "one factor per milestone" \
  "$PLUMB" train "$CFG" "${SETS[@]}" --set schedule.factors=10,0.1 --set data.limit_train=64 --set data.limit_test=64
finish
