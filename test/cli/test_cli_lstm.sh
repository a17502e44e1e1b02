# Sequence models end to end ([model] arch = lstm over float32 [N, T, D] tracks with ragged
# lengths, [data] train_lengths / test_lengths): synthetic tracks (scripts/make_tracks.py, 6
# identities as classes) trained with a per-frame projection, a 2-layer bidirectional LSTM with
# dropout between layers and mean pooling; the model learns (test accuracy), resume is
# bit-exact with dropout and shuffling (the LSTM's dropout counter is in the checkpoint), plumb
# eval and plumb info run it, group ids come from .npy files or a column of .csv targets, and bad
# lengths / group ids / shapes / configs are clear errors. The comparison with PyTorch's nn.LSTM
# is test_torch_lstm_model.sh.
source "$(dirname "$0")/lib.sh"
PY=${PYTHON:-/usr/bin/python3}
"$PY" -c "import numpy" 2>/dev/null || { echo "skipped: no python3 numpy (make_tracks.py)"; exit 77; }
"$PY" "$PLUMB_SRC/scripts/make_tracks.py" "$T/data" --identities 6 --tracks 40 --test-tracks 10 --steps 8 --dim 16 \
  --noise 1.5,3 --min-len 2 --seed 4 > /dev/null || { echo "FAIL: make_tracks.py"; exit 1; }
cat > "$T/seq.ini" <<INI
[run]
name = seq
out_dir = $T/runs
seed = 2
device = cpu
threads = 2
log_interval = 2
[data]
dataset = npy
dir = $T/data
train_path = train_x.npy
test_path = test_x.npy
train_targets = train_y.npy
test_targets = test_y.npy
train_lengths = train_len.npy
test_lengths = test_len.npy
[model]
arch = lstm
num_classes = 6
frame_proj = 12
lstm_hidden = 16
lstm_layers = 2
bidirectional = true
lstm_dropout = 0.3
pooling = mean
[train]
epochs = 6
batch_size = 16
[optim]
name = adam
lr = 0.01
INI
"$PLUMB" train "$T/seq.ini" > "$T/seq.log" 2>&1
check "an lstm run trains (exit 0)" test $? -eq 0
check "the log names the model and the sequence shape" grep -q "1x8x16; model lstm" "$T/seq.log"
acc=$(grep -o "test_acc=[0-9.]*" "$T/seq.log" | tail -1 | cut -d= -f2)
echo "    last test accuracy: $acc (chance 0.17)"
check "it learns: test accuracy >= 0.8 after 6 epochs" awk -v a="$acc" 'BEGIN { exit !(a >= 0.8) }'
C=$T/runs/seq/checkpoints/step-0000000090.safetensors
check "the checkpoint names nn.LSTM's tensors" grep -q -a "lstm.weight_hh_l1_reverse" "$C"
out=$("$PLUMB" eval "$T/seq.ini" --checkpoint "$C" 2>&1)
check "plumb eval runs the lstm (inference plan)" bash -c "echo '$out' | grep -q 'acc'"
check "plumb info --model shows the lstm" bash -c "'$PLUMB' info --model lstm --set model.lstm_hidden=64 2>&1 | grep -q lstm"

# exact resume, mid-epoch, with dropout between the layers and shuffled batches
N=11; M=22
"$PLUMB" train "$T/seq.ini" --set run.name=straight --set train.max_steps=$M > /dev/null 2>&1
"$PLUMB" train "$T/seq.ini" --set run.name=split --set train.max_steps=$N > /dev/null 2>&1
"$PLUMB" train "$T/seq.ini" --set run.name=split --set train.max_steps=$M > "$T/b2.log" 2>&1
check "second half resumed" grep -q "resumed from" "$T/b2.log"
A=$T/runs/straight/checkpoints/step-00000000$M B=$T/runs/split/checkpoints/step-00000000$M
check "lstm with dropout: bit-identical after resume" cmp "$A.safetensors" "$B.safetensors"
check "lstm: optimizer state bit-identical after resume" cmp "$A.state.safetensors" "$B.state.safetensors"
"$PLUMB" train "$T/seq.ini" --set run.name=nodrop --set train.max_steps=$M --set model.lstm_dropout=0 > /dev/null 2>&1
check "dropout changes the result (the comparison can fail)" bash -c "! cmp -s $A.safetensors $T/runs/nodrop/checkpoints/step-00000000$M.safetensors"

# On a GPU machine: the cuDNN LSTM (kernels/cuda/lstm.cu) trains the same model from the same
# init on the same batches as the CPU (dropout 0, tf32 off): every tensor after 12 Adam steps
# within rel 1e-3 of the CPU run's (||gpu - cpu|| / ||cpu - init||), and with dropout 0.3 (the
# per-layer cuDNN path with plumb's masks) too; a GPU checkpoint evaluates the same on both.
ngpu=$("$PLUMB" info 2>&1 | sed -n 's/^GPUs: \([0-9]*\).*/\1/p')
if [[ -n "$ngpu" && "$ngpu" != "0" ]]; then
  for drop in 0 0.3; do
    G="--set train.max_steps=12 --set run.tf32=false --set model.lstm_dropout=$drop --set run.checkpoint_every_steps=12"
    "$PLUMB" train "$T/seq.ini" $G --set run.name=c$drop --set run.device=cpu > /dev/null 2>&1
    "$PLUMB" train "$T/seq.ini" $G --set run.name=g$drop --set run.device=cuda > "$T/g$drop.log" 2>&1
    check "GPU lstm run (dropout $drop) exits 0" test $? -eq 0
    out=$("$PY" - "$PLUMB_SRC/scripts/fixtures" "$T/runs/c$drop/checkpoints/step-0000000012.safetensors" \
      "$T/runs/g$drop/checkpoints/step-0000000012.safetensors" <<'PYEOF'
import sys; sys.path.insert(0, sys.argv[1]); import stwrite, numpy as np
c, g = stwrite.load(sys.argv[2])[0], stwrite.load(sys.argv[3])[0]
worst = 0
for k in sorted(c):
    d = np.linalg.norm(g[k].astype(np.float64) - c[k]) / max(np.linalg.norm(c[k].astype(np.float64)), 1e-30)
    worst = max(worst, d)
print(f"worst ||gpu - cpu|| / ||cpu|| over {len(c)} tensors: {worst:.2e}")
sys.exit(0 if worst <= 1e-3 and sorted(c) == sorted(g) else 1)
PYEOF
)
    rc=$?; echo "    $out"
    check "GPU and CPU lstm training agree (dropout $drop)" test $rc -eq 0
  done
fi

# bad input
"$PY" - "$T/data" <<'PYEOF'
import sys, numpy as np
d = sys.argv[1]
n = len(np.load(f"{d}/train_len.npy"))
bad = np.load(f"{d}/train_len.npy"); bad[5] = 0; np.save(f"{d}/len_zero.npy", bad)
bad = np.load(f"{d}/train_len.npy"); bad[7] = 9; np.save(f"{d}/len_big.npy", bad)
np.save(f"{d}/len_float.npy", np.ones(n, dtype=np.float32))
np.save(f"{d}/len_short.npy", np.ones(n - 1, dtype=np.int32))
np.save(f"{d}/x2d.npy", np.zeros((n, 16), dtype=np.float32))
g = np.load(f"{d}/train_group.npy"); g[4] = -1; np.save(f"{d}/group_neg.npy", g)
np.save(f"{d}/group_float.npy", np.load(f"{d}/train_group.npy").astype(np.float32))
np.save(f"{d}/group_short.npy", np.load(f"{d}/train_group.npy")[:-1])
PYEOF
expect_fail "a length of 0" "length 0 of row 5 is not in [1, T = 8]" "$PLUMB" train "$T/seq.ini" --set data.train_lengths=len_zero.npy --set run.name=e1
expect_fail "a length above T" "length 9 of row 7 is not in [1, T = 8]" "$PLUMB" train "$T/seq.ini" --set data.train_lengths=len_big.npy --set run.name=e2
expect_fail "float lengths" "lengths must be integers [N]" "$PLUMB" train "$T/seq.ini" --set data.train_lengths=len_float.npy --set run.name=e3
expect_fail "one length too few" "lengths must be integers [N] with N = 240" "$PLUMB" train "$T/seq.ini" --set data.train_lengths=len_short.npy --set run.name=e4
expect_fail "lengths for [N, D] features" "lengths need sequence features" "$PLUMB" train "$T/seq.ini" --set data.train_path=x2d.npy --set run.name=e5
expect_fail "an lstm on [N, D] features" "arch = lstm reads sequences" "$PLUMB" train "$T/seq.ini" --set data.train_path=x2d.npy --set data.test_path=x2d.npy --set data.train_lengths= --set data.test_lengths= --set data.test_targets=train_y.npy --set run.name=e6
expect_fail "lengths with idx data" "train_lengths = len_zero.npy needs dataset = npy" "$PLUMB" train "$T/seq.ini" --set data.dataset=idx --set data.train_lengths=len_zero.npy --set run.name=e7
expect_fail "5 lstm layers" "lstm_layers" "$PLUMB" train "$T/seq.ini" --set model.lstm_layers=5 --set run.name=e8
G="--set data.train_groups=train_group.npy --set data.test_groups=test_group.npy"
"$PLUMB" train "$T/seq.ini" $G --set train.max_steps=3 --set run.name=groups > "$T/groups.log" 2>&1
check "group ids from .npy files ([data] train_groups / test_groups): the run trains" test $? -eq 0
"$PLUMB" train "$T/seq.ini" --set data.train_targets=train.csv --set data.test_targets=test.csv \
  --set data.label_columns=label --set data.group_column=group --set train.max_steps=3 --set run.name=gcol \
  > "$T/gcol.log" 2>&1
check "group ids from a column of .csv targets ([data] group_column): the run trains" test $? -eq 0
expect_fail "a negative group id" "[data] train_groups = $T/data/group_neg.npy: group id -1 of row 4 is not in [0, 2^20)" "$PLUMB" train "$T/seq.ini" --set data.train_groups=group_neg.npy --set run.name=e9
expect_fail "float group ids" "group_float.npy: group ids must be integers" "$PLUMB" train "$T/seq.ini" --set data.train_groups=group_float.npy --set run.name=e10
expect_fail "one group id too few" "group ids must be [N] with N = 240 (the features' rows), not (239)" "$PLUMB" train "$T/seq.ini" --set data.train_groups=group_short.npy --set run.name=e11
expect_fail "a missing groups file" "[data] test_groups: $T/data/nope.npy: cannot open" "$PLUMB" train "$T/seq.ini" --set data.test_groups=nope.npy --set run.name=e12
expect_fail "group_column and train_groups at once" "[data] group_column = group and train_groups = train_group.npy both give the groups" "$PLUMB" train "$T/seq.ini" --set data.train_targets=train.csv --set data.test_targets=test.csv --set data.label_columns=label --set data.group_column=group --set data.train_groups=train_group.npy --set run.name=e13
expect_fail "group_column with .npy targets" "[data] group_column = group reads a column of .csv targets" "$PLUMB" train "$T/seq.ini" --set data.group_column=group --set run.name=e14
check "no run folder was written by the failed runs" bash -c "! ls -d $T/runs/e[1-9] $T/runs/e1[0-4] 2>/dev/null | grep -q ."
finish
