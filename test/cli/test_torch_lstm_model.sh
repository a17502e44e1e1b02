# plumb's [model] arch = lstm against the PyTorch module it mirrors (scripts/fixtures/
# lstm_model_torch.py: per-frame Linear + ReLU, nn.LSTM over pack_padded_sequence(enforce_sorted
# = False), h_n / mean / every-step pooling, fc), end to end: PyTorch writes a random init as a
# state_dict (names proj.0.weight, lstm.weight_ih_l0, ..., fc.bias), plumb loads it (init_from:
# every tensor by its PyTorch name) and trains 6 Adam steps on ragged tracks (lengths 1..T, both
# ends present) in file order; PyTorch float64 does the same from the same init; every tensor is
# compared: rel = ||plumb - torch|| / ||torch - init|| <= 1e-4 and max |diff| / max |torch| <=
# 1e-5 (plumb measures rel <= 6.3e-6, max <= 6.5e-7: float32 rounding). Cases: 2 layers
# bidirectional with a projection and pooling = last; 1 layer, mean; 2 layers bidirectional,
# all (fc over every step, zeros past each length). A control: the PyTorch module with mean
# pooling must fail against plumb's last-pooling run.
# Needs python3 with torch (exit 77 otherwise; CI has none).
source "$(dirname "$0")/lib.sh"
PY=${PYTHON:-/usr/bin/python3}
if ! "$PY" -c "import torch, numpy" 2>/dev/null; then echo "skipped: no torch"; exit 77; fi
S=$PLUMB_SRC/scripts/fixtures/lstm_model_torch.py
"$PY" "$S" data "$T/data" 3 || { echo "FAIL: data"; exit 1; }
run_case() { # NAME ARCH (D,proj,H,L,bi,pooling,K,T)
  local name=$1 arch=$2 D P H L BI POOL K TT
  IFS=, read -r D P H L BI POOL K TT <<<"$arch"
  "$PY" "$S" init "$T/$name.init.safetensors" 1 --arch "$arch" || return 1
  cat > "$T/$name.ini" <<INI
[run]
name = $name
out_dir = $T/runs
device = cpu
threads = 2
[data]
dataset = npy
dir = $T/data
train_path = train_x.npy
test_path = test_x.npy
train_targets = train_y.npy
test_targets = test_y.npy
train_lengths = train_len.npy
test_lengths = test_len.npy
shuffle = false
[model]
arch = lstm
num_classes = $K
lstm_hidden = $H
lstm_layers = $L
bidirectional = $([[ $BI == 1 ]] && echo true || echo false)
frame_proj = $([[ $P == - ]] || echo "${P//:/,}")
pooling = $POOL
init_from = $T/$name.init.safetensors
[train]
epochs = 2
batch_size = 16
[optim]
name = adam
lr = 0.001
weight_decay = 0
INI
  "$PLUMB" train "$T/$name.ini" > "$T/$name.log" 2>&1
}
for c in "last 6,5,8,2,1,last,4,7" "mean 6,-,8,1,0,mean,4,7" "all 6,-,5,2,1,all,4,7"; do
  set -- $c
  run_case "$1" "$2"
  check "$1: plumb trains from PyTorch's init (exit 0)" test $? -eq 0
  check "$1: init_from loaded every tensor" grep -q "tensors, 0 left" "$T/$1.log"
  out=$("$PY" "$S" check --arch "$2" --data "$T/data" --init "$T/$1.init.safetensors" \
    --plumb "$T/runs/$1/checkpoints/step-0000000006.safetensors" --steps 6 --batch 16 --rel 1e-4 --max 1e-5 2>&1)
  rc=$?
  echo "$out" | sed 's/^/    /'
  check "$1: every tensor after 6 steps as PyTorch float64's" test $rc -eq 0
done
"$PY" "$S" check --arch 6,5,8,2,1,mean,4,7 --data "$T/data" --init "$T/last.init.safetensors" \
  --plumb "$T/runs/last/checkpoints/step-0000000006.safetensors" --steps 6 --batch 16 --rel 1e-4 --max 1e-5 > /dev/null 2>&1
check "control: PyTorch with mean pooling fails against plumb's last-pooling run" test $? -ne 0
finish
