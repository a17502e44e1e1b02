# [log] tensorboard = true (engine/run/tensorboard.h), read back with TensorBoard's own reader
# (EventAccumulator; the tensorboard package from PyPI, which scripts/setup.sh installs: without
# it this test FAILS). An inversion-biased MLP on Fashion-MNIST, 2 epochs of 12 steps, progress
# every 4 steps:
#   - every metrics.csv column is a scalar tag with one value per epoch at the row's step, equal
#     to the CSV value in float32; the progress/* scalars sit at the logged steps, and
#     progress/lr at an epoch's last step equals the lr column;
#   - a run stopped by [train] max_steps mid-epoch and resumed writes a second events file, and
#     the reader sees both epochs at metrics.csv's steps;
#   - a final record cut short (a killed writer) still reads: what came before is all there;
#   - an events file that cannot be created is an error at start naming the path.
source "$(dirname "$0")/lib.sh"
need_data
PY=${PYTHON:-/usr/bin/python3}
if ! "$PY" -c "from tensorboard.backend.event_processing.event_accumulator import EventAccumulator" 2>/dev/null; then
  echo "FAIL: $PY cannot import tensorboard (scripts/setup.sh installs it: $PY -m pip install tensorboard)"
  exit 1
fi
cat > "$T/tb.ini" <<INI
[run]
name = a
out_dir = $T/runs
device = cpu
threads = 2
log_interval = 4
[log]
tensorboard = true
[data]
dataset = idx
dir = $DATA
limit_train = 600
limit_test = 300
bias = inversion
[model]
arch = mlp
hidden = 16
[train]
epochs = 2
batch_size = 50
[optim]
name = sgd
lr = 0.05
[schedule]
name = cosine
unit = step
INI
"$PLUMB" train "$T/tb.ini" > "$T/a.log" 2>&1
check "the run trains" test $? -eq 0
check "one events file in the run folder" test "$(ls "$T"/runs/a/events.out.tfevents.* 2>/dev/null | wc -l)" -eq 1
check "the log names the events file" grep -q "tensorboard: writing $T/runs/a/events.out.tfevents." "$T/a.log"

# A resumed run: max_steps 18 stops inside epoch 2, the rerun finishes it.
"$PLUMB" train "$T/tb.ini" --set run.name=b --set train.max_steps=18 > "$T/b1.log" 2>&1
check "the first session stops at max_steps" test $? -eq 0
sleep 1 # not needed for distinct names (pid, counter), only to order wall times clearly
"$PLUMB" train "$T/tb.ini" --set run.name=b > "$T/b2.log" 2>&1
check "the resumed session finishes" grep -q "done: 2 epochs" "$T/b2.log"
check "the resumed session adds a second events file" \
  test "$(ls "$T"/runs/b/events.out.tfevents.* 2>/dev/null | wc -l)" -eq 2

# A final record cut short: the file of run a, less its last 7 bytes, alone in a folder.
mkdir -p "$T/cut"
f=$(ls "$T"/runs/a/events.out.tfevents.*)
head -c $(($(stat -c %s "$f") - 7)) "$f" > "$T/cut/$(basename "$f")"

"$PY" - "$T" <<'PYEOF'
import csv, math, struct, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

t = sys.argv[1]
fails = 0

def check(desc, ok):
    global fails
    print(("ok   " if ok else "FAIL ") + "[" + desc + "]")
    fails += not ok

def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]

def same(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == b

def load(d):
    ea = EventAccumulator(d, size_guidance={"scalars": 0})  # 0: keep every value
    ea.Reload()
    return ea

def epoch_checks(run, ea):
    rows = list(csv.DictReader(open(f"{t}/runs/{run}/metrics.csv")))
    tags = set(ea.Tags()["scalars"])
    cols = list(rows[0].keys())
    check(f"{run}: metrics.csv has the bias columns", "test_conflicting_acc" in cols and "test_aligned_acc" in cols)
    missing = [c for c in cols if c not in tags]
    check(f"{run}: every metrics.csv column is a tag (missing {missing})", not missing)
    steps = [int(r["step"]) for r in rows]
    bad = []
    for c in cols:
        if c not in tags:
            continue
        ev = ea.Scalars(c)
        if [e.step for e in ev] != steps:
            bad.append((c, "steps", [e.step for e in ev], steps))
            continue
        for e, r in zip(ev, rows):
            if not same(e.value, f32(float(r[c]))):
                bad.append((c, e.step, e.value, r[c]))
    check(f"{run}: one value per epoch at metrics.csv's step, equal to the CSV value in float32 {bad[:3]}", not bad)
    return rows, tags

ea = load(f"{t}/runs/a")
rows, tags = epoch_checks("a", ea)
check("a: 2 epochs at steps 12, 24", [int(r["step"]) for r in rows] == [12, 24])
prog = {"progress/train_loss", "progress/train_acc", "progress/lr", "progress/images_per_second"}
check(f"a: the progress tags ({sorted(tag for tag in tags if tag.startswith('progress/'))})",
      prog <= tags)
logged = list(range(4, 25, 4))
check("a: progress scalars at every logged step (4, 8, ... 24)",
      all([e.step for e in ea.Scalars(tag)] == logged for tag in prog))
lr = {e.step: e.value for e in ea.Scalars("progress/lr")}
# metrics.csv prints lr with 6 significant digits ("%.6g"), the progress scalar with 9
check("a: progress/lr at the epochs' last steps equals the lr column (6 significant digits)",
      all(abs(lr[int(r["step"])] - float(r["lr"])) <= 1e-5 * abs(float(r["lr"])) for r in rows))
check("a: lr decays (cosine per step)", lr[4] > lr[12] > lr[24])
check("a: progress/train_loss finite, train_acc in [0, 1]",
      all(math.isfinite(e.value) for e in ea.Scalars("progress/train_loss"))
      and all(0 <= e.value <= 1 for e in ea.Scalars("progress/train_acc")))
check("a: the file version record", ea.file_version == 2.0)

eb = load(f"{t}/runs/b")
rows_b, _ = epoch_checks("b", eb)
check("b (resumed): both epochs at steps 12, 24", [int(r["step"]) for r in rows_b] == [12, 24])
steps_b = sorted({e.step for e in eb.Scalars("progress/lr")})
check(f"b: progress steps of both sessions ({steps_b})", steps_b == logged)

ec = load(f"{t}/cut")
# NaN (the val_* columns without a validation set) as a string, so that equal lists compare equal
full = {tag: [(e.step, repr(e.value)) for e in ea.Scalars(tag)] for tag in tags}
cut = {tag: [(e.step, repr(e.value)) for e in ec.Scalars(tag)] for tag in ec.Tags()["scalars"]}
n_full = sum(len(v) for v in full.values())
n_cut = sum(len(v) for v in cut.values())
check(f"cut: the truncated file reads, all but the last record ({n_cut} of {n_full} values)",
      n_cut == n_full - 1 and all(cut[k] == full[k][:len(cut[k])] for k in cut))
sys.exit(1 if fails else 0)
PYEOF
check "TensorBoard's reader agrees with metrics.csv" test $? -eq 0

# An events file that cannot be created: an error at start that names the path.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
expect_fail "an uncreatable events file" "cannot create the events file $T/runs/c/events.out.tfevents." \
  env LD_PRELOAD="$PLUMB_FAULT_SHIM" PB_SHIM_FAIL_OPEN=events.out.tfevents "$PLUMB" train "$T/tb.ini" --set run.name=c
check "no training happened" bash -c "! ls '$T'/runs/c/checkpoints/*.safetensors >/dev/null 2>&1"
finish
