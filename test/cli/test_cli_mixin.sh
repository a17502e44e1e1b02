# The comparison methods of ReBias ([method] name = rubi, learnedmixin): each trains f on its
# method's loss with the method's linear head (its own checkpoint file, fc.weight / fc.bias),
# logs the method's two values per step and in metrics.csv; learnedmixin pretrains g for
# g_pretrain_epochs (f untouched meanwhile) and then keeps g's weights fixed while its batch
# statistics move; train_head = false keeps the released behaviour (the head never changes);
# resume is bit for bit across the pretraining boundary; bad configs are clear errors that
# write nothing.
source "$(dirname "$0")/lib.sh"
need_data
PY=$(command -v python3 || echo /usr/bin/python3)
cat > "$T/mx.ini" <<INI
[run]
name = mx
out_dir = $T/runs
seed = 7
device = cpu
threads = 2
log_interval = 1
keep_checkpoints = 100
[data]
dir = $DATA
bias = colour
rho = 0.99
limit_train = 256
limit_test = 128
[model]
arch = simpleconvnet
num_classes = 10
[model.f]
kernel_size = 3
[model.g]
kernel_size = 1
[train]
epochs = 2
batch_size = 32
[optim]
name = adam
lr = 0.001
weight_decay = 1e-4
[method]
name = rubi
INI
# tensors of two safetensors files that differ (stdlib only): "name name ..." or "none"
differ() {
  "$PY" - "$1" "$2" <<'PYEOF'
import json, struct, sys
def load(p):
    b = open(p, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n])
    h.pop('__metadata__', None)
    return {k: b[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]] for k, v in h.items()}
a, b = load(sys.argv[1]), load(sys.argv[2])
d = sorted(k for k in a if a[k] != b.get(k))
print(' '.join(d) if d else 'none')
PYEOF
}

# ---------------------------------------------------------------- rubi
out=$("$PLUMB" train "$T/mx.ini" 2>&1); rc=$?
echo "$out" | grep -E "done" | cut -c1-200 | sed 's/^/    /'
check "rubi run exits 0" test $rc -eq 0
check "progress lines carry f's CE, g's CE and the two RUBi values" \
  grep -qE "f: loss [0-9.]+ acc [0-9.]+, g: loss [0-9.]+ acc [0-9.]+, rubi: [0-9.]+, rubi_head: [0-9.]+" <<<"$out"
R=$T/runs/mx/checkpoints
check "metrics.csv has the RUBi value columns" grep -q "rubi_train_loss,rubi_head_train_loss" "$T/runs/mx/metrics.csv"
check "the head's own checkpoint files" test -s "$R/step-0000000016.rubi.safetensors" -a -s "$R/step-0000000016.rubi.state.safetensors"
check "the head's tensors: fc.weight [10, 128] and fc.bias" \
  "$PY" -c "
import json, struct, sys
b = open('$R/step-0000000016.rubi.safetensors', 'rb').read()
h = json.loads(b[8:8 + struct.unpack('<Q', b[:8])[0]])
sys.exit(0 if h['fc.weight']['shape'] == [10, 128] and h['fc.bias']['shape'] == [10] else 1)"
check "the head trains (train_head = true)" test "$(differ "$R/step-0000000008.rubi.safetensors" "$R/step-0000000016.rubi.safetensors")" = "fc.bias fc.weight"
"$PLUMB" train "$T/mx.ini" --set run.name=rel --set method.train_head=false > "$T/rel.log" 2>&1
check "train_head = false (the released code): the head never changes" \
  cmp "$T/runs/rel/checkpoints/step-0000000008.rubi.safetensors" "$T/runs/rel/checkpoints/step-0000000016.rubi.safetensors"
check "train_head = false writes no optimizer state for the head" test ! -e "$T/runs/rel/checkpoints/step-0000000016.rubi.state.safetensors"
check "train_head = false gives another f" \
  test "$(differ "$T/runs/rel/checkpoints/step-0000000016.safetensors" "$R/step-0000000016.safetensors")" != none
"$PLUMB" train "$T/mx.ini" --set run.name=rs --set train.max_steps=5 > /dev/null 2>&1
"$PLUMB" train "$T/mx.ini" --set run.name=rs > "$T/rs.log" 2>&1
check "rubi resumed" grep -q "resumed from" "$T/rs.log"
for suf in safetensors state.safetensors g.safetensors g.state.safetensors rubi.safetensors rubi.state.safetensors; do
  check "rubi resume bit-identical: $suf" cmp "$R/step-0000000016.$suf" "$T/runs/rs/checkpoints/step-0000000016.$suf"
done
ev=$("$PLUMB" eval "$T/mx.ini" --checkpoint "$R/step-0000000016.safetensors" 2>&1)
a=$(grep "epoch 2/2 done" <<<"$out" | grep -oE "test_f_acc=[0-9.]+")
check "plumb eval reproduces f's test accuracy ($a)" grep -q "$a" <<<"$ev"
expect_fail "the head is not a model of the run" "--model rubi: the config has no model of that name" \
  "$PLUMB" eval "$T/mx.ini" --checkpoint "$R/step-0000000016.safetensors" --model rubi

# ---------------------------------------------------------------- learnedmixin
LM="--set method.name=learnedmixin --set method.g_pretrain_epochs=1"
out=$("$PLUMB" train "$T/mx.ini" --set run.name=lm $LM 2>&1); rc=$?
echo "$out" | grep -E "done" | cut -c1-200 | sed 's/^/    /'
check "learnedmixin run exits 0 after 1 + 2 epochs" grep -q "done: 3 epochs, 24 steps" <<<"$out"
check "pretraining epoch: g trains, f is not trained yet" \
  grep -qE "epoch 1/3 done .*\| f: -, g: loss [0-9.]+ acc [0-9.]+, mixin: -, entropy: -" <<<"$out"
check "then f on the mixin loss and the entropy" \
  grep -qE "epoch 3/3 done .*\| f: loss [0-9.]+ acc [0-9.]+, g: loss [0-9.]+ acc [0-9.]+, mixin: [0-9.]+, entropy: [0-9.]+" <<<"$out"
L=$T/runs/lm/checkpoints
"$PLUMB" train "$T/mx.ini" --set run.name=lm1 $LM --set train.max_steps=1 > /dev/null 2>&1
check "f is untouched while g pretrains (its tensors at step 1 = at step 8)" \
  test "$(differ "$T/runs/lm1/checkpoints/step-0000000001.safetensors" "$L/step-0000000008.safetensors")" = none
check "after pretraining g's weights stay fixed, its batch-norm statistics move" \
  test "$(differ "$L/step-0000000008.g.safetensors" "$L/step-0000000024.g.safetensors" | tr ' ' '\n' | grep -vcE 'running_(mean|var)|num_batches_tracked')" -eq 0 -a \
  "$(differ "$L/step-0000000008.g.safetensors" "$L/step-0000000024.g.safetensors")" != none
check "the learnedmixin head: fc.weight [1, 128]" "$PY" -c "
import json, struct, sys
b = open('$L/step-0000000024.learnedmixin.safetensors', 'rb').read()
h = json.loads(b[8:8 + struct.unpack('<Q', b[:8])[0]])
sys.exit(0 if h['fc.weight']['shape'] == [1, 128] else 1)"
"$PLUMB" train "$T/mx.ini" --set run.name=lms $LM --set train.max_steps=5 > /dev/null 2>&1
"$PLUMB" train "$T/mx.ini" --set run.name=lms $LM > "$T/lms.log" 2>&1
check "learnedmixin resumed in the middle of g's pretraining" grep -q "resumed from .*step 5" "$T/lms.log"
for suf in safetensors state.safetensors g.safetensors g.state.safetensors learnedmixin.safetensors learnedmixin.state.safetensors; do
  check "learnedmixin resume bit-identical: $suf" cmp "$L/step-0000000024.$suf" "$T/runs/lms/checkpoints/step-0000000024.$suf"
done
ncol=$(head -1 "$T/runs/lm/metrics.csv" | tr , '\n' | grep -n epoch_seconds | cut -d: -f1)
check "metrics.csv rows identical after resume (all but the timings)" \
  diff <(cut -d, -f1-$((ncol - 1)) "$T/runs/lm/metrics.csv") <(cut -d, -f1-$((ncol - 1)) "$T/runs/lms/metrics.csv")
"$PLUMB" train "$T/mx.ini" --set run.name=lmi --set method.name=learnedmixin \
  --set model.g.init_from="$L/step-0000000008.g.safetensors" --set train.max_steps=2 > "$T/lmi.log" 2>&1
check "learnedmixin with a loaded g instead of pretraining" grep -q "reached \[train\] max_steps = 2" "$T/lmi.log"

# the shipped configs train, shortened
for m in rubi learnedmixin; do
  "$PLUMB" train "$PLUMB_SRC/configs/rebias/colour_$m.ini" --set run.out_dir="$T/runs" --set data.dir="$DATA" \
    --set data.limit_train=96 --set data.limit_test=64 --set train.batch_size=32 --set train.epochs=1 \
    --set run.device=cpu --set run.threads=2 --set method.g_pretrain_epochs=$([[ $m == learnedmixin ]] && echo 1 || echo 0) \
    > "$T/cfg_$m.log" 2>&1
  check "configs/rebias/colour_$m.ini trains (shortened)" grep -qE "done: $([[ $m == learnedmixin ]] && echo 2 || echo 1) epochs" "$T/cfg_$m.log"
done

# ---------------------------------------------------------------- bad configs
expect_fail "learnedmixin with neither a pretrained nor a loaded g" "pretrain it ([method] g_pretrain_epochs" \
  "$PLUMB" train "$T/mx.ini" --set run.name=e1 --set method.name=learnedmixin
expect_fail "pretraining g in a method without one" "only rebias, rubi and learnedmixin pretrain g" \
  "$PLUMB" train "$T/mx.ini" --set run.name=e2 --set method.name=vanilla --set method.g_pretrain_epochs=1
expect_fail "pretraining a frozen g" "[method] g_pretrain_epochs = 1 pretrains g, but [model.g] frozen = true" \
  "$PLUMB" train "$T/mx.ini" --set run.name=e3 $LM --set model.g.frozen=true
expect_fail "rubi with lambda_f 0" "[method] lambda_f = 0: rubi trains f on lambda_f times its loss alone" \
  "$PLUMB" train "$T/mx.ini" --set run.name=e4 --set method.lambda_f=0
printf '[model.rubi]\nkernel_size = 1\n' > "$T/coll.ini"
cat "$T/mx.ini" "$T/coll.ini" > "$T/mx2.ini"
expect_fail "a model named like the head" "[model.rubi]: the name is taken by the rubi head" \
  "$PLUMB" train "$T/mx2.ini" --set run.name=e5 --set method.g=g,rubi
printf '[model.g2]\narch = mlp\nhidden = 32\n' > "$T/g2.ini"
cat "$T/mx.ini" "$T/g2.ini" > "$T/mx3.ini"
expect_fail "rubi's one head over g models of different feature sizes" "rubi's one head takes every g's features" \
  "$PLUMB" train "$T/mx3.ini" --set run.name=e6 --set method.g=g,g2
expect_fail "accumulation with rubi" "accum_steps = 2: [method] name = rubi steps every model every batch" \
  "$PLUMB" train "$T/mx.ini" --set run.name=e7 --set train.accum_steps=2
check "no run folder was written by the failed configs" bash -c "! ls -d $T/runs/e[0-9]* 2>/dev/null"
finish
