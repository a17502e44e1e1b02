# [run] loss_spike_z (engine/trainers/guard.c) end to end. npy features where training sample 37
# is a confidently wrong outlier (feature 0 = 30, label 0): its batch's loss jumps (step 6 of
# the first epoch under this seed's order, and again in the second):
#   - z = 4, window 5: both bad steps skipped and logged; the first names the 5 steps before it,
#     and its running mean / std equal numpy's over those steps' losses (rebuilt from
#     TensorBoard's per-step train_loss); 18 steps taken instead of 20;
#   - a guard that never fires (z = 1e6) leaves the run bit-identical to no guard;
#   - stopped by max_steps after the first spike, the rerun resumes (the running statistics are
#     in the checkpoint) and ends bit-identical to the straight run;
#   - a model the outlier wrecks (feature 3 = 300, the right label) spikes for good: with
#     loss_spike_max_skips = 3 the run stops with exit 1, naming the run of spikes, and the
#     state of the last good step is the latest checkpoint.
source "$(dirname "$0")/lib.sh"
PY=${PYTHON:-/usr/bin/python3}
"$PY" - "$T" <<'PYEOF' || { echo "FAIL: data"; exit 1; }
import sys
import numpy as np
t = sys.argv[1]
rng = np.random.default_rng(0)
X = rng.normal(size=(200, 8)).astype(np.float32)
y = (X[:, 0] > 0).astype(np.int64)
X2, y2 = X.copy(), y.copy()
X[37, 0], y[37] = 30.0, 0
np.save(f"{t}/x.npy", X); np.save(f"{t}/y.npy", y)
X2[37, 3] = 300.0
np.save(f"{t}/x2.npy", X2); np.save(f"{t}/y2.npy", y2)
Xt = rng.normal(size=(50, 8)).astype(np.float32)
np.save(f"{t}/xt.npy", Xt); np.save(f"{t}/yt.npy", (Xt[:, 0] > 0).astype(np.int64))
PYEOF
cat > "$T/c.ini" <<INI
[run]
name = sp
out_dir = $T/runs
device = cpu
threads = 1
log_interval = 1
loss_spike_z = 4
loss_spike_window = 5
[log]
tensorboard = true
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
CK=$T/runs
"$PLUMB" train "$T/c.ini" > "$T/sp.log" 2>&1
check "z = 4: the run finishes" test $? -eq 0
check "two steps skipped as spikes" test "$(grep -c 'loss spike:.*the step was skipped' "$T/sp.log")" -eq 2
check "the first at step 6, after the window's 5 steps" \
  grep -q "warning: step 6: loss spike: [0-9.]* is [0-9.]* standard deviations above the running mean [0-9.]* (std [0-9.]* over 5 steps; \[run\] loss_spike_z = 4): the step was skipped (1 skipped so far)" "$T/sp.log"
check "18 steps taken" test -f "$CK/sp/checkpoints/step-0000000018.safetensors"
grep "loss spike" "$T/sp.log" | sed 's/^/    /'
check "the running mean and std are numpy's over the 5 steps' losses" "$PY" - "$T" <<'PYEOF'
import glob, re, sys
import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
t = sys.argv[1]
ea = EventAccumulator(f"{t}/runs/sp", size_guidance={"scalars": 0}); ea.Reload()
cum = {e.step: e.value for e in ea.Scalars("progress/train_loss")}  # the epoch's mean so far
sums = [cum[k] * 20 * k for k in range(1, 6)]
x = np.diff([0.0] + sums) / 20  # each step's mean over its 20 samples
m = re.search(r"step 6: loss spike: ([0-9.]+) is ([0-9.]+) standard deviations above the running mean ([0-9.]+) \(std ([0-9.]+)",
              open(f"{t}/sp.log").read())
v, z, mean, sd = map(float, m.groups())
print(f"    step losses {np.round(x, 6)}: mean {x.mean():.6f} std {x.std():.6f}; logged {mean} {sd}, spike {v} ({z} sd)")
assert abs(mean - x.mean()) < 2e-5 and abs(sd - x.std()) < 2e-5, (mean, sd, x.mean(), x.std())
assert v > mean + 4 * sd and abs((v - mean) / sd - z) < 0.01 * z
PYEOF

same_tensors() { "$PY" "$PLUMB_SRC/test/cli/st_compare.py" "$1" "$2" same > /dev/null; } # A B: bit for bit
"$PLUMB" train "$T/c.ini" --set run.name=off --set run.loss_spike_z=0 > "$T/off.log" 2>&1
"$PLUMB" train "$T/c.ini" --set run.name=never --set run.loss_spike_z=1e6 > "$T/never.log" 2>&1
check "no guard: 20 steps, nothing skipped" test -f "$CK/off/checkpoints/step-0000000020.safetensors" -a \
  "$(grep -c 'loss spike' "$T/off.log")" -eq 0
check "a guard that never fires: bit-identical to none" same_tensors "$CK/off/checkpoints/step-0000000020.safetensors" \
  "$CK/never/checkpoints/step-0000000020.safetensors"
differ() { ! same_tensors "$@" 2> /dev/null; }
check "the spike guard changed the run" differ "$CK/off/checkpoints/step-0000000020.safetensors" \
  "$CK/sp/checkpoints/step-0000000018.safetensors"

"$PLUMB" train "$T/c.ini" --set run.name=rs --set train.max_steps=8 > "$T/rs1.log" 2>&1
check "stopped at max_steps 8" test -f "$CK/rs/checkpoints/step-0000000008.safetensors"
check "its checkpoint holds the running statistics of the 8 steps taken" \
  "$PY" -c "
import json, struct, sys
b = open('$CK/rs/checkpoints/step-0000000008.state.safetensors', 'rb').read()
m = json.loads(b[8:8 + struct.unpack('<Q', b[:8])[0]])['__metadata__']
mean, var, n = m['loss_spike'].split()
assert int(n) == 8 and float(var) > 0, m['loss_spike']"
"$PLUMB" train "$T/c.ini" --set run.name=rs > "$T/rs2.log" 2>&1
check "the resumed run skips the second spike" test "$(grep -c 'loss spike' "$T/rs2.log")" -eq 1
check "resumed: bit-identical to the straight run" same_tensors "$CK/sp/checkpoints/step-0000000018.safetensors" \
  "$CK/rs/checkpoints/step-0000000018.safetensors"

"$PLUMB" train "$T/c.ini" --set run.name=wreck --set data.train_path=x2.npy --set data.train_targets=y2.npy \
  --set run.loss_spike_max_skips=3 > "$T/wreck.log" 2>&1
rc=$?
check "spikes for good: exit 1" test $rc -eq 1
check "the message names the run of spikes and the last good step's state" \
  grep -q "error: step [0-9]*: loss spike: .*: 3 loss spikes in a row: the loss has left its running range for good; the step was not taken; the state of the last good step (\([0-9]*\)) is in $CK/wreck/checkpoints/step-0*\1.safetensors" "$T/wreck.log"
last=$(ls "$CK"/wreck/checkpoints/step-*[0-9].safetensors | tail -1)
check "that checkpoint is the latest" grep -q "good step ([0-9]*) is in $last" "$T/wreck.log"
tail -1 "$T/wreck.log" | sed 's/^/    /'
# The multi-model trainers: each learner watches its own objective (rebias: g its CE, n_g_update
# steps a batch; f its CE + lambda_f HSIC) and keeps its own statistics in the checkpoint.
if [[ -r $DATA/train-images-idx3-ubyte.gz ]]; then
  cat > "$T/rb.ini" <<INI
[run]
out_dir = $T/runs
seed = 7
device = cpu
threads = 2
log_interval = 8
[data]
dir = $DATA
bias = colour
limit_train = 128
limit_test = 64
[model]
arch = simpleconvnet
num_classes = 10
[model.f]
kernel_size = 3
[model.g]
kernel_size = 1
[train]
epochs = 1
batch_size = 32
[optim]
name = adam
lr = 0.001
[method]
name = rebias
n_g_update = 2
INI
  "$PLUMB" train "$T/rb.ini" --set run.name=rb0 > "$T/rb0.log" 2>&1
  "$PLUMB" train "$T/rb.ini" --set run.name=rb1 --set run.loss_spike_z=1e6 > "$T/rb1.log" 2>&1
  R0=$CK/rb0/checkpoints/step-0000000004 R1=$CK/rb1/checkpoints/step-0000000004
  check "rebias: both runs finish" test "$(cat "$T/rb0.log" "$T/rb1.log" | grep -c "done: 1 epochs")" -eq 2
  check "rebias: a guard that never fires leaves f bit-identical" same_tensors "$R0.safetensors" "$R1.safetensors"
  check "rebias: and g" same_tensors "$R0.g.safetensors" "$R1.g.safetensors"
  check "rebias: f's statistics over its 4 steps, g's over its 8" "$PY" -c "
import json, struct
b = open('$CK/rb1/checkpoints/step-0000000004.state.safetensors', 'rb').read()
m = json.loads(b[8:8 + struct.unpack('<Q', b[:8])[0]])['__metadata__']
print('    ', m['loss_spike'], '|', m['loss_spike.g'])
assert m['loss_spike'].split()[2] == '4' and m['loss_spike.g'].split()[2] == '8', m"
else
  echo "    (the rebias part needs Fashion-MNIST at $DATA: skipped)"
fi
expect_fail "loss_spike_z < 0" "loss_spike_z" "$PLUMB" train "$T/c.ini" --set run.loss_spike_z=-1
expect_fail "loss_spike_window < 2" "loss_spike_window" "$PLUMB" train "$T/c.ini" --set run.loss_spike_window=1
finish
