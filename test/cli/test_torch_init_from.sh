# torchvision weights into plumb: scripts/torch_to_plumb.py writes a torchvision resnet18 (fresh
# initialisation, --random: no download) as safetensors; plumb's [model] init_from loads every
# tensor (the report says 122 loaded, none left out), and after one SGD step with lr = 0 the
# checkpoint holds every trainable tensor bit for bit as torchvision had it (BN running
# statistics move with the training forward, so buffers are not compared). An empty label
# cell in a single-label CSV is an error naming its line. Needs python3 with torch +
# torchvision (exit 77 otherwise; CI has none).
source "$(dirname "$0")/lib.sh"
PY=${PYTHON:-/usr/bin/python3}
if ! "$PY" -c "import torch, torchvision" 2>/dev/null; then echo "skipped: no torch"; exit 77; fi
"$PY" "$PLUMB_SRC/scripts/make_multihead_pngs.py" "$T/data" 64 1 >/dev/null || { echo "FAIL: dataset generator"; exit 1; }
for f in train test; do awk -F, 'NR == 1 || $2 != ""' "$T/data/$f.csv" > "$T/data/${f}_skin.csv"; done
"$PY" "$PLUMB_SRC/scripts/torch_to_plumb.py" resnet18 "$T/r18.safetensors" --random --num-classes 4 --seed 1
check "torch_to_plumb.py wrote the file" test -s "$T/r18.safetensors"
cat > "$T/t.ini" <<INI
[run]
name = t
out_dir = $T/runs
device = cpu
threads = 2
[data]
dataset = csv
dir = $T/data
train_path = train_skin.csv
test_path = test_skin.csv
label_columns = skin
[augment]
size = 32
[model]
arch = resnet18
num_classes = 4
stem = imagenet
init_from = $T/r18.safetensors
[train]
epochs = 1
batch_size = 16
max_steps = 1
[optim]
name = sgd
lr = 0
momentum = 0
INI
out=$("$PLUMB" train "$T/t.ini" 2>&1); rc=$?
check "train with init_from exits 0" test $rc -eq 0
echo "$out" | grep "init_from" | sed 's/^/    /'
check "init_from loaded all 122 tensors" grep -q "loaded 122 tensors, 0 left at their initialisation" <<<"$out"
ck=$T/runs/t/checkpoints/step-0000000001.safetensors
cmp=$("$PY" - "$T/r18.safetensors" "$ck" <<'PY'
import sys, os
sys.path.insert(0, os.path.join(os.environ["PLUMB_SRC"], "scripts", "fixtures"))
import numpy as np, stwrite
a, _ = stwrite.load(sys.argv[1])
b, _ = stwrite.load(sys.argv[2])
train = [k for k in a if k.endswith(("weight", "bias"))]
diff = [k for k in train if a[k].shape != b[k].shape or not np.array_equal(a[k], b[k])]
print(f"{len(train)} trainable tensors compared, {len(diff)} differ {diff[:3]}; keys equal: {sorted(a) == sorted(b)}")
PY
)
echo "    $cmp"
check "every trainable tensor is torchvision's, bit for bit" grep -q "62 trainable tensors compared, 0 differ" <<<"$cmp"
check "the checkpoint has torchvision's keys exactly" grep -q "keys equal: True" <<<"$cmp"
expect_fail "an empty label cell in a single-label CSV" "train.csv:9: empty value in label column 'skin'" \
  "$PLUMB" train "$T/t.ini" --set run.name=e1 --set data.train_path=train.csv
finish
