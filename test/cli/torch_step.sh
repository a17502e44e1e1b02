# torch_step.sh: the setup shared by test_torch_mixin_step.sh and test_torch_rebias_step.sh
# (sourced after lib.sh). Exits 77 without python3 + torch. Writes the 32-PNG dataset
# ($T/data: file order fixed, mean = std = 0.5, so plumb's and PyTorch's inputs are equal bit
# for bit) and the initial f (SimpleConvNet 3x3) and g (1x1) ($T/f0.safetensors,
# $T/g0.safetensors), and defines
#   torch_step_ini FILE          the run config up to [method] (init_from both models, Adam 1e-3
#                                with coupled L2 1e-4, batch 8, 2 epochs, no shuffling); the
#                                caller appends its [method] section;
#   ck NAME STEP                 the checkpoint prefix of run NAME at STEP;
#   plumb_run NAME ARGS...       `plumb train $INI --set run.name=NAME ARGS`, log in $T/NAME.log.
# Sets PY (the python) and S (scripts/fixtures/mixin_step_torch.py).
PY=${PYTHON:-/usr/bin/python3}
if ! "$PY" -c "import torch, numpy" 2>/dev/null; then echo "skipped: no torch"; exit 77; fi
S=$PLUMB_SRC/scripts/fixtures/mixin_step_torch.py
"$PY" "$S" data "$T/data" 32 1 || { echo "FAIL: dataset generator"; exit 1; }
"$PY" "$S" init "$T/f0.safetensors" "$T/g0.safetensors" 1 --kf 3 --kg 1 || { echo "FAIL: init"; exit 1; }

torch_step_ini() { # FILE
  cat > "$1" <<INI
[run]
out_dir = $T/runs
seed = 5
device = cpu
threads = 2
log_interval = 4
keep_checkpoints = 100
[data]
dataset = csv
dir = $T/data
train_path = train.csv
test_path = test.csv
shuffle = false
mean = 0.5
std = 0.5
[augment]
size = 28
[model]
arch = simpleconvnet
num_classes = 10
[model.f]
kernel_size = 3
init_from = $T/f0.safetensors
[model.g]
kernel_size = 1
init_from = $T/g0.safetensors
[train]
epochs = 2
batch_size = 8
[optim]
name = adam
lr = 0.001
weight_decay = 1e-4
INI
}
ck() { echo "$T/runs/$1/checkpoints/step-$(printf %010d "$2")"; }
plumb_run() { # NAME ARGS...: a run of $INI; its log in $T/NAME.log
  local name=$1; shift
  "$PLUMB" train "$INI" --set run.name="$name" "$@" > "$T/$name.log" 2>&1
  local rc=$?
  check "plumb $name exits 0" test $rc -eq 0
}
