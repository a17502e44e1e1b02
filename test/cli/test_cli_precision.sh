# [run] precision (engine/device/lowp.h) end to end on the CPU: the tiny Fashion-MNIST config
# (simplecnn, 1024 images, 2 epochs of 16 steps) in tf32 (the default), bf16 and fp16.
#   - bf16 trains: the log names the precision, test accuracy within 0.05 of float32's, and the
#     model differs from float32's (the rounding happened);
#   - fp16 with a loss scale that overflows (2^24): each overflow skips a step and is logged with
#     the halved scale (2^24 / 2^k for the k-th), the run ends with finite figures, and the
#     checkpoint holds "scale good-steps skipped" with skipped = the logged count;
#   - fp16 stopped by max_steps and resumed: bit-identical to the straight run (the scale is in
#     the checkpoint); plumb eval of a bf16 checkpoint in bf16 gives the training run's test
#     accuracy;
#   - data-parallel (MPI builds): bf16 over 2 ranks bit-identical to accumulation over 2; fp16 over
#     2 ranks logs its skips once;
#   - a NaN of the model's own in fp16: 40 halvings of the scale, then the non-finite guard stops
#     the run naming the tensor;
#   - errors: precision = fp32 against tf32 = true, an unknown precision.
source "$(dirname "$0")/lib.sh"
need_data
PY=${PYTHON:-/usr/bin/python3}
tiny_config
CK=$T/runs
last_ckpt() { ls "$CK/$1"/checkpoints/step-*[0-9].safetensors | tail -1; }
acc_of() { grep -o 'test_acc=[0-9.]*' "$1" | tail -1 | cut -d= -f2; }
same_tensors() { "$PY" "$PLUMB_SRC/test/cli/st_compare.py" "$1" "$2" same > /dev/null; } # A B: bit for bit

"$PLUMB" train "$T/tiny.ini" --set run.name=f32 > "$T/f32.log" 2>&1
check "float32 (tf32, the default) trains" test $? -eq 0
"$PLUMB" train "$T/tiny.ini" --set run.name=b16 --set run.precision=bf16 > "$T/b16.log" 2>&1
check "bf16 trains" test $? -eq 0
check "the log names bf16" grep -q "precision bf16 (rounded on float32 storage)" "$T/b16.log"
a32=$(acc_of "$T/f32.log") a16=$(acc_of "$T/b16.log")
echo "    test accuracy: float32 $a32, bf16 $a16"
check "bf16 test accuracy within 0.05 of float32's" awk -v a="$a32" -v b="$a16" 'BEGIN { d = a - b; exit !(d < 0.05 && d > -0.05 && b > 0.5) }'
differ() { ! same_tensors "$@" 2> /dev/null; }
check "the bf16 model differs from float32's" differ "$(last_ckpt f32)" "$(last_ckpt b16)"

S0=16777216
"$PLUMB" train "$T/tiny.ini" --set run.name=h16 --set run.precision=fp16 --set run.loss_scale_init=$S0 > "$T/h16.log" 2>&1
check "fp16 trains" test $? -eq 0
grep "fp16: a non-finite gradient" "$T/h16.log" | sed 's/^/    /' | head -4
k=$(grep -c "fp16: a non-finite gradient" "$T/h16.log")
check "an overflowing loss scale skips steps, each logged" test "$k" -ge 1
check "each skip halves the scale: the k-th says 2^24 / 2^k" awk -v s0=$S0 '
  /fp16: a non-finite gradient/ { k++; if (!match($0, /loss scale now [0-9.e+]+/)) exit 1;
    v = substr($0, RSTART + 15, RLENGTH - 15) + 0; want = s0 / 2 ^ k; if (v < want * 0.999999 || v > want * 1.000001) exit 1 }
  END { exit k == 0 }' "$T/h16.log"
check "the figures stay finite" awk '/epoch 2\/2 done/ { ok = $0 !~ /nan|inf/ } END { exit !ok }' "$T/h16.log"
h16=$(last_ckpt h16)
check "32 batches, $k skipped: the last checkpoint is step $((32 - k))" test "$(basename "$h16")" = "$(printf 'step-%010d.safetensors' $((32 - k)))"
check "its state holds 'scale good-steps skipped' with skipped = $k" "$PY" -c "
import json, struct
b = open('${h16%.safetensors}.state.safetensors', 'rb').read()
m = json.loads(b[8:8 + struct.unpack('<Q', b[:8])[0]])['__metadata__']
s, good, skipped = m['loss_scale'].split()
assert int(skipped) == $k and float(s) == $S0 / 2 ** $k and int(good) > 0, m['loss_scale']"

"$PLUMB" train "$T/tiny.ini" --set run.name=rs --set run.precision=fp16 --set run.loss_scale_init=$S0 \
  --set train.max_steps=12 > "$T/rs1.log" 2>&1
check "fp16 stopped at max_steps 12" test -f "$CK/rs/checkpoints/step-0000000012.safetensors"
"$PLUMB" train "$T/tiny.ini" --set run.name=rs --set run.precision=fp16 --set run.loss_scale_init=$S0 > "$T/rs2.log" 2>&1
check "fp16 resumed: bit-identical to the straight run" same_tensors "$h16" "$CK/rs/checkpoints/$(basename "$h16")"
check "the optimizer state too" same_tensors "${h16%.safetensors}.state.safetensors" \
  "$CK/rs/checkpoints/$(basename "${h16%.safetensors}").state.safetensors"

"$PLUMB" eval "$T/tiny.ini" --set run.precision=bf16 --checkpoint "$(last_ckpt b16)" > "$T/ev.log" 2>&1
check "plumb eval in bf16 runs" test $? -eq 0
ev=$(grep -o 'test_acc=[0-9.]*' "$T/ev.log" | tail -1 | cut -d= -f2)
echo "    plumb eval bf16: test_acc=$ev (training run: $a16)"
check "plumb eval in bf16 gives the training run's test accuracy" test "$ev" = "$a16"

# Data-parallel (an MPI build): in bf16, 2 ranks of 32 = one process with batch 32 and accum_steps
# 2, the trainable tensors bit for bit (the running statistics are rank 0's alone). Not in fp16,
# as not in PyTorch: a rank's gradient before the all-reduce is its own batch's mean (DDP's), twice
# an accumulation micro-batch's, and doubling is exact in fp16 only above its subnormals (measured
# 2e-3 apart after 10 steps from the loss scale 1024) and below its overflow (the ranks overflow at
# half the scale); every rank still decides alike, the check following the all-reduce: fp16 from
# 2^24 over 2 ranks logs its skips once, on rank 0.
if command -v mpirun > /dev/null && "$PLUMB" info 2>&1 | grep -q "^MPI: built"; then
  export ASAN_OPTIONS=${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}detect_leaks=0
  export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  for p in bf16; do
    "$PLUMB" train "$T/tiny.ini" --nproc 2 --set run.name=d$p --set run.threads=1 --set run.precision=$p \
      --set run.loss_scale_init=1024 --set train.max_steps=10 > "$T/d$p.log" 2>&1
    "$PLUMB" train "$T/tiny.ini" --set run.name=a$p --set run.threads=1 --set run.precision=$p --set run.loss_scale_init=1024 \
      --set train.batch_size=32 --set train.accum_steps=2 --set train.max_steps=10 > "$T/a$p.log" 2>&1
    check "$p: the ranks say $p" grep -q "precision $p" "$T/d$p.log"
    check "$p: 2 ranks = accumulation over 2, bit for bit (10 steps, none skipped)" \
      "$PY" "$PLUMB_SRC/test/cli/st_compare.py" "$CK/d$p/checkpoints/step-0000000010.safetensors" \
      "$CK/a$p/checkpoints/step-0000000010.safetensors" same '(weight|bias)$'
  done
  "$PLUMB" train "$T/tiny.ini" --nproc 2 --set run.name=dover --set run.threads=1 --set run.precision=fp16 \
    --set run.loss_scale_init=$S0 --set train.max_steps=10 > "$T/dover.log" 2>&1
  check "fp16 from 2^24 over 2 ranks: trains, skips logged once (rank 0), none by another rank" \
    test "$(grep -c '^fp16: a non-finite' "$T/dover.log")" -ge 1 -a "$(grep -c 'rank 1: fp16' "$T/dover.log")" -eq 0
else
  echo "    (a build without MPI: the data-parallel checks are left out)"
fi

# A NaN of the model's own (every sample holds 1e30, infinite in fp16) is no overflow of the scale:
# fp16 halves S from 2^16 down to 2^-24 (40 skips), then [run] on_nonfinite = stop names the tensor.
"$PY" -c "
import numpy as np
rng = np.random.default_rng(0)
X = rng.normal(size=(60, 8)).astype(np.float32); X[:, 2] = 1e30
np.save('$T/nx.npy', X); np.save('$T/ny.npy', (X[:, 0] > 0).astype(np.int64))"
cat > "$T/nan.ini" <<INI
[run]
name = nan
out_dir = $T/runs
device = cpu
threads = 1
precision = fp16
[data]
dataset = npy
dir = $T
train_path = nx.npy
train_targets = ny.npy
test_path = nx.npy
test_targets = ny.npy
[model]
arch = mlp
hidden = 16
num_classes = 2
[train]
epochs = 1
batch_size = 1
INI
"$PLUMB" train "$T/nan.ini" > "$T/nan.log" 2>&1
check "a NaN of the model's own: exit 1" test $? -eq 1
check "  after 40 halvings of the loss scale" test "$(grep -c 'fp16: a non-finite' "$T/nan.log")" -eq 40
check "  the non-finite guard names the tensor" grep -q "error: step [0-9]*: NaN gradient of layers" "$T/nan.log"

expect_fail "precision fp32 against tf32 true" "[run] precision = fp32 and [run] tf32 = true contradict" \
  "$PLUMB" train "$T/tiny.ini" --set run.name=bad --set run.precision=fp32 --set run.tf32=true
expect_fail "an unknown precision" "precision" "$PLUMB" train "$T/tiny.ini" --set run.name=bad --set run.precision=fp8
check "no run folder for the failed runs" test ! -e "$CK/bad"
finish
