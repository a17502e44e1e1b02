# Multi-head training end to end ([model] heads, the 8-bit Bias Bounty shape): a generated CSV +
# PNG dataset with three label columns (some cells empty: missing labels, out-of-distribution
# rows), a tiny ResNet with heads skin:4, gender:2, age:3 trained for a few steps. Checks: the
# loss goes down, per-head accuracies print in the log and metrics.csv, exact resume, plumb
# eval plans for inference (no gradients, nothing saved for backward) and prints each head's
# accuracy and disparity; bad head configs are clear errors; an embedding model is refused for
# training but shown by plumb info.
source "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "skipped: python3 (standard library) writes the PNGs"; exit 77; }
python3 "$PLUMB_SRC/scripts/make_multihead_pngs.py" "$T/data" 192 1 || { echo "FAIL: dataset generator"; exit 1; }
# Single-label runs need every label: the rows with a skin label.
for f in train test; do awk -F, 'NR == 1 || $2 != ""' "$T/data/$f.csv" > "$T/data/${f}_skin.csv"; done
cat > "$T/mh.ini" <<INI
[run]
name = mh
out_dir = $T/runs
seed = 1
device = cpu
threads = 2
log_interval = 2
[data]
dataset = csv
dir = $T/data
train_path = train.csv
test_path = test.csv
std = 0.25
[augment]
size = 16
[model]
arch = resnet18
width = 0.125
heads = skin:4,gender:2,age:3
head_weights = 1,0.5,1
[train]
epochs = 2
batch_size = 32
[optim]
name = adam
lr = 0.003
INI
out=$("$PLUMB" train "$T/mh.ini" 2>&1); rc=$?
echo "$out" | grep -E "done" | cut -c1-220 | sed 's/^/    /'
check "train exits 0" test $rc -eq 0
first=$(grep -m1 -oE "\(total 2\) loss [0-9.]+" <<<"$out" | awk '{print $NF}')
last=$(grep "epoch 2/2 done" <<<"$out" | grep -oE "train_loss=[0-9.]+" | cut -d= -f2)
echo "    loss after 2 steps $first, epoch-2 mean $last"
check "loss goes down (epoch 2 mean < 0.8 x the first log point)" awk -v a="$first" -v b="$last" 'BEGIN{exit !(b < 0.8*a)}'
check "progress lines carry each head's loss and accuracy" grep -qE "skin: loss [0-9.]+ acc [0-9.]+, gender: loss [0-9.]+ acc [0-9.]+, age: loss" <<<"$out"
check "epoch lines carry each head's test accuracy and disparity" grep -qE "test_skin_acc=[0-9.]+ test_skin_disparity=[0-9.]+ test_gender_loss" <<<"$out"
R=$T/runs/mh
check "metrics.csv has per-head columns" grep -q "^epoch,step,lr,train_loss,skin_train_loss,skin_train_acc" "$R/metrics.csv"
check "metrics.csv has header + 2 rows" test "$(wc -l < "$R/metrics.csv")" -eq 3
check "checkpoint names the heads as PyTorch would" grep -qa "heads.skin.weight" "$R/checkpoints/"step-0000000012.safetensors
"$PLUMB" train "$T/mh.ini" --set run.name=mh2 --set train.max_steps=3 >/dev/null 2>&1
res=$("$PLUMB" train "$T/mh.ini" --set run.name=mh2 2>&1)
a=$(grep "epoch 2/2 done" <<<"$out" | sed -e 's/.*done in [^:]*://' -e 's/ loader_wait=.*//')
b=$(grep "epoch 2/2 done" <<<"$res" | sed -e 's/.*done in [^:]*://' -e 's/ loader_wait=.*//')
check "resume from the middle of an epoch is exact (every head's figures)" test "$a" = "$b"
ck=$R/checkpoints/step-0000000012.safetensors
ev=$("$PLUMB" eval "$T/mh.ini" --checkpoint "$ck" --set train.eval_batch_size=2048 2>&1)
echo "$ev" | sed 's/^/    /'
check "eval plans for inference with no gradients and nothing saved" \
  grep -qE "planned memory \(inference, batch 2048\).* gradients 0\.0 .* saved for backward 0\.0 .* activation gradients 0\.0" <<<"$ev"
ta=$(grep "epoch 2/2 done" <<<"$out" | grep -oE "test_skin_acc=[0-9.]+ test_skin_disparity=[0-9.]+")
check "eval reproduces the final per-head test figures" grep -q "$ta" <<<"$ev"
check "eval prints per-class accuracy per head" grep -q "age per-class accuracy" <<<"$ev"
# eval.json: each head's figures and the 8-bit Bias Bounty score from them (REFERENCES.md)
check "eval.json holds the Bias Bounty score of the skin / age / gender heads" python3 - "${ck%.safetensors}.eval.json" <<'PYEOF'
import json, sys
s = json.load(open(sys.argv[1]))["sets"]["test"]
h = s["terms"]
score = (10 * h["skin"]["accuracy"] * (1 - h["skin"]["disparity"] ** 5) + 4 * h["age"]["accuracy"] * (1 - h["age"]["disparity"] ** 2)
         + 2 * h["gender"]["accuracy"] * (1 - h["gender"]["disparity"]))
for k in ("skin", "age", "gender"):
    pc = [a for a, n in zip(h[k]["per_class_accuracy"], h[k]["per_class_n"]) if n]
    assert abs(h[k]["disparity"] - (max(pc) - min(pc))) < 1e-12
print(f"    Bias Bounty score {s['bias_bounty_score']:.6f} (recomputed {score:.6f})")
sys.exit(abs(s["bias_bounty_score"] - score) > 1e-9)
PYEOF
# the epoch-end evaluation logs it too: metrics.csv's last row (this checkpoint) = eval.json's
check "metrics.csv's test_bias_bounty_score equals eval.json's" python3 - "${ck%.safetensors}.eval.json" "$R/metrics.csv" <<'PYEOF'
import csv, json, sys
s = json.load(open(sys.argv[1]))["sets"]["test"]
row = list(csv.DictReader(open(sys.argv[2])))[-1]
print(f"    metrics.csv test_bias_bounty_score {row['test_bias_bounty_score']}")
sys.exit(abs(float(row["test_bias_bounty_score"]) - s["bias_bounty_score"]) > 1e-6)
PYEOF
expect_fail "a head without a class count" "is not NAME:CLASSES" "$PLUMB" train "$T/mh.ini" --set run.name=e1 --set model.heads=skin,gender:2
expect_fail "head_weights of the wrong length" "head_weights has 2 values for 3 heads" \
  "$PLUMB" train "$T/mh.ini" --set run.name=e2 --set model.head_weights=1,2
expect_fail "a head without its label column" "no column named 'hair'" \
  "$PLUMB" train "$T/mh.ini" --set run.name=e3 --set model.heads=skin:4,hair:2 --set model.head_weights=
expect_fail "a head too small for its labels" "unknown label '2' in column 'skin'" \
  "$PLUMB" train "$T/mh.ini" --set run.name=e4 --set model.heads=skin:2,gender:2,age:3
expect_fail "training an embedding model" "an embedding has no classes for [train] loss = ce" \
  "$PLUMB" train "$T/mh.ini" --set run.name=e5 --set model.heads= --set model.head_weights= --set model.embedding_dim=16 \
  --set data.train_path=train_skin.csv --set data.test_path=test_skin.csv
ngpu=$("$PLUMB" info 2>/dev/null | sed -n 's/^GPUs: \([0-9]*\).*/\1/p')
if [[ -n "$ngpu" && "$ngpu" != "0" ]]; then
  # On a GPU machine: the multi-head trainer on the GPU learns too, and its checkpoint evaluated
  # on the CPU and on the GPU gives the same per-head test accuracy within 2 of the 64 images.
  g=$("$PLUMB" train "$T/mh.ini" --set run.device=cuda --set run.name=gpu 2>&1); rc=$?
  echo "$g" | grep -E "done" | cut -c1-220 | sed 's/^/    gpu: /'
  check "multi-head training on the GPU exits 0" test $rc -eq 0
  gl=($(grep -oE "train_loss=[0-9.]+" <<<"$g" | cut -d= -f2))
  check "multi-head GPU loss goes down" awk -v a="${gl[0]:-9}" -v b="${gl[-1]:-9}" 'BEGIN{exit !(b < a)}'
  gck=$(ls "$T"/runs/gpu/checkpoints/step-*[0-9].safetensors | tail -1)
  eg=$("$PLUMB" eval "$T/mh.ini" --set run.device=cuda --checkpoint "$gck" 2>&1 | grep -oE "test_skin_acc=[0-9.]+" | cut -d= -f2)
  ec=$("$PLUMB" eval "$T/mh.ini" --set run.device=cpu --checkpoint "$gck" 2>&1 | grep -oE "test_skin_acc=[0-9.]+" | cut -d= -f2)
  echo "    GPU checkpoint: skin accuracy evaluated on the GPU $eg, on the CPU $ec"
  check "GPU and CPU evaluation of a multi-head checkpoint agree" \
    awk -v a="$eg" -v b="$ec" 'BEGIN{d=a-b; if (d<0) d=-d; exit !(a != "" && d <= 2/64 + 1e-9)}'
fi
info=$("$PLUMB" info --model resnet18 --set model.embedding_dim=128 --set model.embedding_l2=true 2>&1)
check "plumb info shows the embedding head" grep -qE "embedding +linear +128x1x1" <<<"$info"
check "and its L2 normalisation" grep -qE "l2norm +l2norm +128x1x1" <<<"$info"
finish
