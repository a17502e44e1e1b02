# Data-parallel training on the CPU over MPI ranks (engine/dist/, engine/run/dist_run.c), started
# by `plumb train --nproc N` (mpirun) and by mpirun itself:
#   - N ranks x batch G/N give parameters bit-identical to one process with batch G/N and
#     accum_steps N ([dist] reduce = ordered; N = 2 and 4), and within 1e-5 of one process with
#     batch G; metrics.csv is the same as that process's: the training figures summed over the
#     ranks, the evaluation sharded (253 test images over 4 ranks: 64, 63, 63, 63) and gathered
#     on rank 0 (every column equal; the loss sums to 1e-5);
#   - batch norm: per rank (DDP's default), the trainable tensors equal accumulation's; with
#     [dist] sync_bn every tensor (running statistics too) is within 1e-5 of one process, batch G;
#   - only rank 0 writes (one log session, one metrics row per epoch);
#   - stopped by max_steps, and by SIGTERM (exit 75), the rerun resumes bit-identical;
#   - [dist] reduce = library (MPI_Allreduce) agrees within 1e-5; PLUMB_DIST_ONE=1 (the exchange
#     for a world of one, as scripts/gpu-check.sh measures NCCL's overhead) changes nothing;
#   - a last batch smaller than the ranks is left out and said; one split unevenly trains;
#   - errors: a batch not a multiple of the ranks; ranks started with different configs; a rank
#     killed (-9) ends the job with the last checkpoint intact; a rank stopped (SIGSTOP) is caught
#     by [dist] timeout.
# Skips (77) without mpirun or in a build without MPI.
source "$(dirname "$0")/lib.sh"
need_data
PY=${PYTHON:-/usr/bin/python3}
if ! command -v mpirun > /dev/null; then
  echo "skipped: no mpirun (bash scripts/setup.sh installs openmpi-bin libopenmpi-dev)"
  exit 77
fi
if ! "$PLUMB" info 2>&1 | grep -q "^MPI: built"; then
  echo "skipped: this plumb was built without MPI (install libopenmpi-dev and configure again)"
  exit 77
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}detect_leaks=0 # Open MPI's own allocations at exit
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

cat > "$T/c.ini" <<INI
[run]
name = a
out_dir = $T/runs
device = cpu
threads = 1
seed = 3
log_interval = 4
[data]
dataset = idx
dir = $DATA
limit_train = 512
limit_test = 253
bias = inversion
[loader]
workers = 1
[model]
arch = mlp
hidden = 32
[train]
epochs = 2
batch_size = 64
[optim]
name = sgd
lr = 0.1
momentum = 0.9
INI
R=$T/runs
F=checkpoints/step-0000000016
compare() { "$PY" "$PLUMB_SRC/test/cli/st_compare.py" "$@"; } # A B same|close|differ [PATTERN]
same_metrics() { # A.csv B.csv: every column equal but the times, the losses of the sharded evaluation to 1e-5
  "$PY" - "$1" "$2" <<'PYEOF'
import csv, math, sys
a, b = (list(csv.DictReader(open(p))) for p in sys.argv[1:3])
assert len(a) == len(b) and a[0].keys() == b[0].keys(), (len(a), len(b))
bad = []
for ra, rb in zip(a, b):
    for k in ra:
        if k in ("epoch_seconds", "images_per_second"): continue
        x, y = float(ra[k]), float(rb[k])
        ok = (math.isnan(x) and math.isnan(y)) or x == y or (k.endswith("_loss") and abs(x - y) <= 1e-5 * abs(y))
        if not ok: bad.append((ra["epoch"], k, ra[k], rb[k]))
print(f"    {len(a)} rows x {len(a[0])} columns compared" + (f"; differ: {bad[:4]}" if bad else ""))
sys.exit(1 if bad else 0)
PYEOF
}

"$PLUMB" train "$T/c.ini" --set run.name=one > "$T/one.log" 2>&1
for n in 2 4; do
  b=$((64 / n))
  "$PLUMB" train "$T/c.ini" --nproc $n --set run.name=dp$n > "$T/dp$n.log" 2>&1
  check "$n ranks: exit 0" test $? -eq 0
  check "$n ranks: the log says how the batch is split" \
    grep -q "data-parallel: $n ranks (mpirun; CPU), $b samples each of a global batch of 64; gradients summed in rank order" "$R/dp$n/log.txt"
  "$PLUMB" train "$T/c.ini" --set run.name=acc$n --set train.batch_size=$b --set train.accum_steps=$n > /dev/null 2>&1
  check "$n ranks == one process, batch $b, accum_steps $n (bit for bit)" compare "$R/dp$n/$F.safetensors" "$R/acc$n/$F.safetensors" same
  check "$n ranks ~ one process, batch 64 (1e-5)" compare "$R/dp$n/$F.safetensors" "$R/one/$F.safetensors" close
  check "$n ranks: metrics.csv (training figures of all ranks, sharded evaluation of 253 test images) == accumulation's" \
    same_metrics "$R/dp$n/metrics.csv" "$R/acc$n/metrics.csv"
done
PLUMB_DIST_ONE=1 "$PLUMB" train "$T/c.ini" --set run.name=forced > "$T/forced.log" 2>&1
check "PLUMB_DIST_ONE=1: a world of one through MPI, bit-identical to no MPI" \
  eval "grep -q 'data-parallel: 16 gradient all-reduces' '$T/forced.log' && compare '$R/forced/$F.safetensors' '$R/one/$F.safetensors' same"
check "rank 0 alone wrote: one session in log.txt, 2 metrics rows" \
  test "$(grep -c '^plumb 0' "$R/dp4/log.txt") $(($(wc -l < "$R/dp4/metrics.csv") - 1))" = "1 2"
check "the other ranks printed nothing" test "$(grep -c '^rank [123]:' "$T/dp4.log")" -eq 0

# batch norm (simplecnn): per rank (DDP's default) the trainable tensors equal accumulation's bit for
# bit (the running statistics are rank 0's alone); [dist] sync_bn = true gives the statistics of
# the global batch: every tensor, the running statistics too, within 1e-5 of one process, batch 64
# (after 4 steps: this biased data amplifies rounding differences about 1e3-fold over 16)
BN=(--set model.arch=simplecnn --set model.channels=8,16 --set train.max_steps=4)
F4=checkpoints/step-0000000004
"$PLUMB" train "$T/c.ini" "${BN[@]}" --set run.name=bn1 > /dev/null 2>&1
"$PLUMB" train "$T/c.ini" "${BN[@]}" --set run.name=bnacc --set train.batch_size=32 --set train.accum_steps=2 > /dev/null 2>&1
"$PLUMB" train "$T/c.ini" "${BN[@]}" --nproc 2 --set run.name=bnd > /dev/null 2>&1
"$PLUMB" train "$T/c.ini" "${BN[@]}" --nproc 2 --set run.name=bns --set dist.sync_bn=true > "$T/bns.log" 2>&1
trainable() { compare "$@" 'weight|bias'; }
check "batch norm per rank: the trainable tensors == accumulation's" trainable "$R/bnd/$F4.safetensors" "$R/bnacc/$F4.safetensors" same
check "  and away from one process with batch 64 (> 1e-3)" compare "$R/bnd/$F4.safetensors" "$R/bn1/$F4.safetensors" differ
check "sync_bn: every tensor within 1e-5 of one process with batch 64" compare "$R/bns/$F4.safetensors" "$R/bn1/$F4.safetensors" close
PLUMB_DIST_ONE=1 "$PLUMB" train "$T/c.ini" "${BN[@]}" --set run.name=bns1 --set dist.sync_bn=true > /dev/null 2>&1
check "sync_bn in a world of one (PLUMB_DIST_ONE=1): within 1e-5 of plain batch norm" \
  compare "$R/bns1/$F4.safetensors" "$R/bn1/$F4.safetensors" close

# several models (engine/trainers/rebias.c): every learner's gradients go through the ranks; vanilla
# f + g over 2 ranks == accumulation; ReBias (the HSIC min-max) trains over 2 ranks
cat > "$T/mx.ini" <<INI
[run]
out_dir = $T/runs
seed = 7
device = cpu
threads = 1
log_interval = 4
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
[method]
name = vanilla
INI
"$PLUMB" train "$T/mx.ini" --nproc 2 --set run.name=va2 > /dev/null 2>&1
"$PLUMB" train "$T/mx.ini" --set run.name=vacc --set train.batch_size=16 --set train.accum_steps=2 > /dev/null 2>&1
check "vanilla f over 2 ranks == accumulation (trainable tensors)" \
  trainable "$R/va2/checkpoints/step-0000000016.safetensors" "$R/vacc/checkpoints/step-0000000016.safetensors" same
"$PLUMB" train "$T/mx.ini" --nproc 2 --set run.name=rb2 --set method.name=rebias > "$T/rb2.log" 2>&1
check "rebias over 2 ranks: exit 0, f and g checkpoints, the HSIC column" \
  eval "test -s '$R/rb2/checkpoints/step-0000000016.g.safetensors' && head -1 '$R/rb2/metrics.csv' | grep -q hsic_train_loss"

# library reduction
"$PLUMB" train "$T/c.ini" --nproc 2 --set run.name=lib --set dist.reduce=library > "$T/lib.log" 2>&1
check "reduce = library: 2 ranks ~ ordered (1e-5)" compare "$R/lib/$F.safetensors" "$R/dp2/$F.safetensors" close

# resume after max_steps, with mpirun itself
mpirun -np 2 --bind-to none "$PLUMB" train "$T/c.ini" --set run.name=ms --set train.max_steps=5 > "$T/ms1.log" 2>&1
check "mpirun -np 2 ... max_steps 5: exit 0" test $? -eq 0
mpirun -np 2 --bind-to none "$PLUMB" train "$T/c.ini" --set run.name=ms > "$T/ms2.log" 2>&1
check "  the rerun resumed from step 5" grep -q "resumed from .*step-0000000005.safetensors: epoch 1, batch 5, step 5" "$R/ms/log.txt"
check "  bit-identical to the straight run" compare "$R/ms/$F.safetensors" "$R/dp2/$F.safetensors" same
check "  and its optimizer state" cmp "$R/ms/$F.state.safetensors" "$R/dp2/$F.state.safetensors"
check "  and the epoch figures" same_metrics "$R/ms/metrics.csv" "$R/dp2/metrics.csv"

# SIGTERM to plumb train --nproc 2: every rank stops at the same step, exit 75; resume
cat "$T/c.ini" > "$T/big.ini"
sed -i 's/^limit_train = 512/limit_train = 8192/; s/^log_interval = 4/log_interval = 1/' "$T/big.ini"
"$PLUMB" train "$T/big.ini" --nproc 2 --set run.name=sig > "$T/sig1.log" 2>&1 &
pid=$!
for _ in $(seq 600); do grep -q "(total 20)" "$T/sig1.log" 2> /dev/null && break; sleep 0.05; done
kill -TERM $pid
wait $pid
rc=$?
check "SIGTERM: exit 75 (got $rc)" test $rc -eq 75
check "  rank 0 saved the checkpoint of the step all stopped at" grep -q "interrupted (signal 12) at step [0-9]*: checkpoint saved" "$T/sig1.log"
"$PLUMB" train "$T/big.ini" --nproc 2 --set run.name=sig > "$T/sig2.log" 2>&1
"$PLUMB" train "$T/big.ini" --nproc 2 --set run.name=sigref > "$T/sigref.log" 2>&1
G=checkpoints/step-0000000256
check "  resumed: bit-identical to the uninterrupted run" compare "$R/sig/$G.safetensors" "$R/sigref/$G.safetensors" same

# the epoch's tail: 530 = 8 x 64 + 18 (split 5, 5, 4, 4); 514 = 8 x 64 + 2 (left out with 4 ranks)
"$PLUMB" train "$T/c.ini" --nproc 4 --set run.name=t18 --set data.limit_train=530 > "$T/t18.log" 2>&1
check "a last batch of 18 over 4 ranks: trains, 9 steps an epoch" test -f "$R/t18/checkpoints/step-0000000018.safetensors"
"$PLUMB" train "$T/c.ini" --nproc 4 --set run.name=t2 --set data.limit_train=514 > "$T/t2.log" 2>&1
check "a last batch of 2 with 4 ranks: left out, said" \
  grep -q "data-parallel: the epoch's last 2 samples are fewer than the 4 ranks: left out of every epoch" "$R/t2/log.txt"
check "  8 steps an epoch" test -f "$R/t2/$F.safetensors"

# errors
expect_fail "batch 64 over 3 ranks" "[train] batch_size = 64 is the batch of all 3 ranks together and must be a multiple of it (63 or 66)" \
  "$PLUMB" train "$T/c.ini" --nproc 3 --set run.name=e3
check "  nothing written" test ! -e "$R/e3"
expect_fail "ranks with different configs" "rank 1 was started with another config than rank 0" \
  mpirun -np 1 "$PLUMB" train "$T/c.ini" --set run.name=mm : -np 1 "$PLUMB" train "$T/c.ini" --set run.name=mm --set optim.lr=0.2
expect_fail "--nproc 0" "--nproc 0: expected a number of ranks" "$PLUMB" train "$T/c.ini" --nproc 0

# a rank killed: the job ends (mpirun ends the others), the last checkpoint is whole
"$PLUMB" train "$T/big.ini" --nproc 2 --set run.name=kill --set run.checkpoint_every_steps=10 > "$T/kill.log" 2>&1 &
pid=$!
for _ in $(seq 600); do grep -q "(total 25)" "$T/kill.log" 2> /dev/null && break; sleep 0.05; done
victim=$(pgrep -f "train $T/big.ini --set run.name=kill" | while read -r p; do
  [[ $(tr '\0' ' ' < /proc/$p/cmdline 2> /dev/null) == "$PLUMB train"* ]] && grep -q "OMPI_COMM_WORLD_RANK=1" /proc/$p/environ 2> /dev/null && echo "$p"
done | head -1)
kill -9 "${victim:-0}"
t0=$SECONDS
wait $pid
rc=$?
check "rank 1 killed (pid ${victim:-none}): the job ends non-zero (exit $rc) within 30 s" test $rc -ne 0 -a $((SECONDS - t0)) -le 30
last=$(ls "$R"/kill/checkpoints/step-*[0-9].safetensors 2> /dev/null | tail -1)
check "  the last checkpoint ($(basename "${last:-none}")) is whole: it resumes" \
  eval "'$PLUMB' train '$T/big.ini' --set run.name=kill --set train.max_steps=30 --set run.log_interval=100 > '$T/kill2.log' 2>&1"

# a rank stopped: the other's collective times out
"$PLUMB" train "$T/big.ini" --nproc 2 --set run.name=hang --set dist.timeout=3 > "$T/hang.log" 2>&1 &
pid=$!
for _ in $(seq 600); do grep -q "(total 10)" "$T/hang.log" 2> /dev/null && break; sleep 0.05; done
victim=$(pgrep -f "train $T/big.ini --set run.name=hang" | while read -r p; do
  grep -q "OMPI_COMM_WORLD_RANK=1" /proc/$p/environ 2> /dev/null && echo "$p"
done | head -1)
kill -STOP "${victim:-0}"
t0=$SECONDS
wait $pid
rc=$?
kill -KILL "${victim:-0}" 2> /dev/null
check "rank 1 stopped: exit $rc, within 30 s" test $rc -ne 0 -a $((SECONDS - t0)) -le 30
check "  rank 0 names the collective and the timeout" \
  grep -q "rank 0: error: the collective '[a-z ]*' did not finish within 3 s (\[dist\] timeout): another rank died or hangs" "$T/hang.log"
finish
