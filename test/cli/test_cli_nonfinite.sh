# [run] on_nonfinite (engine/trainers/guard.c) end to end: npy features where training sample 37
# holds an infinite value (its batch's gradient is NaN: step 6 of the first epoch, 19 of the
# second, under this seed's order):
#   - stop (the default): exit 1 naming the step and the first tensor with a non-finite gradient;
#     the checkpoint of the last good step holds exactly the tensors and epoch figures of a run
#     stopped by max_steps at that step (the cursor is past the bad batch);
#   - resuming it with skip goes on from there and finishes;
#   - skip: both bad steps logged as skipped, the run finishes with finite losses;
#   - off: no check; the loss becomes NaN and the log point stops the run as before.
source "$(dirname "$0")/lib.sh"
PY=${PYTHON:-/usr/bin/python3}
"$PY" - "$T" <<'PYEOF' || { echo "FAIL: data"; exit 1; }
import sys
import numpy as np
t = sys.argv[1]
rng = np.random.default_rng(0)
X = rng.normal(size=(200, 8)).astype(np.float32)
y = (X[:, 0] > 0).astype(np.int64)
X[37, 3] = np.inf
np.save(f"{t}/x.npy", X); np.save(f"{t}/y.npy", y)
Xt = rng.normal(size=(50, 8)).astype(np.float32)
np.save(f"{t}/xt.npy", Xt); np.save(f"{t}/yt.npy", (Xt[:, 0] > 0).astype(np.int64))
PYEOF
cat > "$T/c.ini" <<INI
[run]
name = nf
out_dir = $T/runs
device = cpu
threads = 1
log_interval = 1
[data]
dataset = npy
dir = $T
train_path = x.npy
train_targets = y.npy
test_path = xt.npy
test_targets = yt.npy
[model]
arch = mlp
hidden = 16
num_classes = 2
[train]
epochs = 2
batch_size = 20
[optim]
lr = 0.1
INI
out=$("$PLUMB" train "$T/c.ini" 2>&1); rc=$?
check "stop: exit 1" test $rc -eq 1
check "stop: the message names the step and the tensor" grep -q "error: step 6: NaN gradient of layers.1.weight (element [0-9]* of 128): the step was not taken; the state of the last good step (5) is in $T/runs/nf/checkpoints/step-0000000005.safetensors" <<< "$out"
"$PLUMB" train "$T/c.ini" --set run.name=ref --set train.max_steps=5 > /dev/null 2>&1
"$PY" - "$T/runs/nf/checkpoints/step-0000000005.safetensors" "$T/runs/ref/checkpoints/step-0000000005.safetensors" <<'PYEOF'
import json, struct, sys
def load(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n]); d = b[8 + n:]
    meta = h.pop("__metadata__")
    return meta, {k: d[v["data_offsets"][0]:v["data_offsets"][1]] for k, v in h.items()}
(ma, a), (mb, b) = load(sys.argv[1]), load(sys.argv[2])
assert a == b, "tensors differ"
for k in ("step", "epoch", "epoch_loss_sum", "epoch_correct", "epoch_seen"):
    assert ma[k] == mb[k], (k, ma[k], mb[k])
assert ma["cursor"] == "6" and mb["cursor"] == "5", (ma["cursor"], mb["cursor"])
print("    the stop checkpoint = the max_steps = 5 checkpoint (tensors and epoch figures); its cursor is past the bad batch")
PYEOF
check "stop: the checkpoint holds the last good step" test $? -eq 0
out=$("$PLUMB" train "$T/c.ini" --set run.on_nonfinite=skip 2>&1); rc=$?
check "resumed with skip: the run finishes" test $rc -eq 0
check "resumed with skip: step 19's bad batch is skipped" grep -q "warning: step 19: NaN gradient of layers.1.weight" <<< "$out"
out=$("$PLUMB" train "$T/c.ini" --set run.name=sk --set run.on_nonfinite=skip 2>&1); rc=$?
check "skip: exit 0" test $rc -eq 0
check "skip: two steps skipped, each logged" bash -c "grep -c 'the step was skipped' <<< '$out' | grep -qx 2 && grep -q '2 skipped so far' <<< '$out'"
check "skip: the training losses are finite" awk -F, 'NR>1 && ($4 == "nan" || $4 == "-nan" || $4 == "inf") {bad=1} END {exit bad}' "$T/runs/sk/metrics.csv"
out=$("$PLUMB" train "$T/c.ini" --set run.name=off --set run.on_nonfinite=off 2>&1); rc=$?
check "off: no guard, the loss becomes NaN and the log point stops the run" bash -c "(( $rc == 1 )) && grep -q 'the loss became' <<< '$out'"
finish
