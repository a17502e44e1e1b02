# plumb sweep and plumb collect end to end: the quickstart swept over eps {0, 40} x seed {1, 2}
# (tiny: 1 epoch on 512 images, CPU, 2 threads), the manifest and trial configs checked, the 4
# trials trained, collected (final / best values against metrics.csv, the summary's mean and
# std over seeds against numpy's, ddof 1), plotted; random mode's reproducibility; and the
# spec errors (non-zero exit, file:line in the message, the output folder untouched).
source "$(dirname "$0")/lib.sh"
need_data
PY=${PYTHON:-/usr/bin/python3}
Q=$PLUMB_SRC/configs/quickstart.ini

cat > "$T/fixed.ini" <<INI
[set]
data.dir = $DATA
data.limit_train = 512
data.limit_test = 256
train.epochs = 1
run.device = cpu
run.threads = 2
run.log_interval = 100
INI
cat > "$T/grid.ini" <<INI
include = fixed.ini
[sweep]
base = $Q
mode = grid
name = q-eps{data.eps}-s{run.seed}
[vary]
data.eps = 0, 40
run.seed = 1:2
INI

S=$T/sweep
check "sweep writes the folder" "$PLUMB" sweep "$T/grid.ini" --out "$S"
check "manifest rows in grid order (first key outermost)" diff <(cat <<CSV
trial,data.eps,run.seed,name,config
1,0,1,q-eps0-s1,configs/trial-0001.ini
2,0,2,q-eps0-s2,configs/trial-0002.ini
3,40,1,q-eps40-s1,configs/trial-0003.ini
4,40,2,q-eps40-s2,configs/trial-0004.ini
CSV
) "$S/manifest.csv"
"$PLUMB" config "$S/configs/trial-0003.ini" > "$T/c3.txt"
check "trial config holds the varied values" grep -q "^eps = 40  #" "$T/c3.txt"
check "trial config: seed" grep -q "^seed = 1  #" "$T/c3.txt"
check "trial config: fixed [set] keys" grep -q "^limit_train = 512  #" "$T/c3.txt"
check "trial config: run name" grep -q "^name = q-eps40-s1  #" "$T/c3.txt"
check "trial config: out_dir is the sweep's runs/" grep -q "^out_dir = $S/runs  #" "$T/c3.txt"
check "trial config says where a value came from" grep -q "# from $T/grid.ini:8" "$S/configs/trial-0003.ini"

expect_fail "an existing sweep without --force" "--force" "$PLUMB" sweep "$T/grid.ini" --out "$S"
check "--force replaces it" "$PLUMB" sweep "$T/grid.ini" --out "$S" --force

for c in "$S"/configs/trial-*.ini; do
  "$PLUMB" train "$c" > "$T/train.log" 2>&1 || { echo "FAIL: plumb train $c"; tail -5 "$T/train.log"; FAILS=$((FAILS + 1)); }
done
check "the 4 run folders have metrics.csv" test -s "$S/runs/q-eps40-s2/metrics.csv" -a -s "$S/runs/q-eps0-s1/metrics.csv"

check "collect" "$PLUMB" collect "$S" --out "$T/res.csv"
check "collect wrote the summary" test -s "$T/res_summary.csv"
check "collected values equal metrics.csv, summary equals numpy" "$PY" - "$T/res.csv" "$T/res_summary.csv" "$S" <<'PYEOF'
import csv, math, sys
import numpy as np
res, summ, sweep = sys.argv[1:4]
rows = list(csv.DictReader(open(res)))
assert [r["trial"] for r in rows] == ["1", "2", "3", "4"], rows
assert [r["status"] for r in rows] == ["complete"] * 4, [r["status"] for r in rows]
for r in rows:
    m = list(csv.DictReader(open(f"{sweep}/runs/{r['name']}/metrics.csv")))
    assert r["epochs_done"] == m[-1]["epoch"]
    for col in m[0]:
        if col == "epoch":
            continue
        assert r["final_" + col] == m[-1][col], (col, r["final_" + col], m[-1][col])
        if col == "step":
            continue
        vals = [float(x[col]) for x in m if x[col] not in ("", "nan")]
        if not vals:
            continue
        best = min(vals) if col.endswith(("_loss", "_eer")) else max(vals)
        assert float(r["best_" + col]) == best, (col, r["best_" + col], best)
s = list(csv.DictReader(open(summ)))
assert [x["data.eps"] for x in s] == ["0", "40"], s
for x in s:
    assert x["n"] == "2" and x["seeds"] == "1 2", x
    for col in ("final_test_acc", "final_train_loss", "best_test_acc"):
        v = np.array([float(r[col]) for r in rows if r["data.eps"] == x["data.eps"]])
        assert math.isclose(float(x["mean_" + col]), v.mean(), rel_tol=1e-12), (col, x["mean_" + col], v.mean())
        assert math.isclose(float(x["std_" + col]), v.std(ddof=1), rel_tol=1e-9, abs_tol=1e-15), (col, x["std_" + col])
PYEOF
check "collect --metric keeps the named columns" "$PLUMB" collect "$S" --out "$T/m.csv" --metric test_acc,train_loss
check "--metric: columns (in metrics.csv's order)" bash -c "head -1 '$T/m.csv' | grep -q ',epochs_done,final_train_loss,final_test_acc,best_train_loss,best_test_acc\$'"
check "collect reads run folders directly" "$PLUMB" collect "$S/runs/q-eps0-s1" "$S/runs/q-eps40-s1" --out "$T/runs.csv"
check "run folders: two rows" test "$(wc -l < "$T/runs.csv")" -eq 3
check "plot.py collected writes a PNG" "$PY" "$PLUMB_SRC/scripts/plot.py" collected "$T/res_summary.csv" --x data.eps \
  --y final_test_acc --out "$T/plots"
check "the PNG exists" test -s "$T/plots/collected_final_test_acc_eps.png"

# Collect errors: nothing written over an existing output.
echo keep > "$T/keep.csv"
mkdir -p "$T/empty"
expect_fail "collect: a folder without results" "$T/empty: no results" "$PLUMB" collect "$T/empty" --out "$T/keep.csv"
"$PLUMB" sweep "$T/grid.ini" --out "$T/unrun" > /dev/null
expect_fail "collect: no trial has run" "$T/unrun: none of its 4 trials" "$PLUMB" collect "$T/unrun" --out "$T/keep.csv"
expect_fail "collect: unknown --metric" "--metric test_accc" "$PLUMB" collect "$S" --out "$T/keep.csv" --metric test_accc
check "collect errors left the output alone" test "$(cat "$T/keep.csv")" = keep

# Random mode: the same seed gives the same trials, another seed others.
cat > "$T/rand.ini" <<INI
[sweep]
base = $Q
mode = random
trials = 6
seed = 11
cross_seeds = 1, 2
[vary]
optim.lr = loguniform(0.001, 0.1)
data.eps = uniform(0, 50)
train.batch_size = randint(16, 64)
model.channels = choice(8,16 | 16,32)
INI
"$PLUMB" sweep "$T/rand.ini" --out "$T/r1" > /dev/null && "$PLUMB" sweep "$T/rand.ini" --out "$T/r2" > /dev/null
check "random: same seed, same manifest" diff "$T/r1/manifest.csv" "$T/r2/manifest.csv"
check "random: same seed, same configs" diff "$T/r1/configs/trial-0007.ini" <(sed "s#$T/r2#$T/r1#" "$T/r2/configs/trial-0007.ini")
check "random: 12 trials, seeds innermost" "$PY" -c "
import csv, sys
r = list(csv.DictReader(open(sys.argv[1])))
assert len(r) == 12 and [x['run.seed'] for x in r[:4]] == ['1', '2', '1', '2'], r
assert r[0]['optim.lr'] == r[1]['optim.lr'] != r[2]['optim.lr'], r" "$T/r1/manifest.csv"
sed -i 's/^seed = 11/seed = 12/' "$T/rand.ini"
"$PLUMB" sweep "$T/rand.ini" --out "$T/r3" > /dev/null
check "random: another seed, other trials" bash -c "! diff -q '$T/r1/manifest.csv' '$T/r3/manifest.csv' > /dev/null"
check "random: values within bounds" "$PY" - "$T/r1/manifest.csv" <<'PYEOF'
import csv, sys
for r in csv.DictReader(open(sys.argv[1])):
    assert 0.001 <= float(r["optim.lr"]) <= 0.1 and 0 <= float(r["data.eps"]) <= 50, r
    assert 16 <= int(r["train.batch_size"]) <= 64 and r["model.channels"] in ("8,16", "16,32"), r
PYEOF

# Spec errors: file:line named, non-zero exit, the output folder not created.
bad() { # bad DESC FRAGMENT SPEC-BODY
  printf '%s\n' "$3" > "$T/bad.ini"
  expect_fail "$1" "$2" "$PLUMB" sweep "$T/bad.ini" --out "$T/badout"
  check "$1: nothing written" test ! -e "$T/badout"
}
bad "unknown key" "bad.ini:4: [data] unknown key 'epz'; did you mean 'eps'?" "[sweep]
base = $Q
[vary]
data.epz = 0, 40"
bad "unknown section" "bad.ini:4: unknown section [dat]" "[sweep]
base = $Q
[vary]
dat.eps = 0, 40"
bad "empty value list" "bad.ini:4: data.eps: the value list is empty" "[sweep]
base = $Q
[vary]
data.eps ="
bad "wrong type" "bad.ini:4: [train] epochs = two is not an integer" "[sweep]
base = $Q
[vary]
train.epochs = 1, two"
bad "out of bounds" "bad.ini:4: [data] eps = 60 is out of range [0, 50]" "[sweep]
base = $Q
[vary]
data.eps = 0, 60"
bad "random bound out of range" "bad.ini:6: [data] eps = 70 is out of range" "[sweep]
base = $Q
mode = random
trials = 3
[vary]
data.eps = uniform(0, 70)"
bad "zip lengths differ" "bad.ini:6: mode = zip needs value lists of one length: data.eps has 3 (" "[sweep]
base = $Q
mode = zip
[vary]
data.eps = 0, 20, 40
run.seed = 1, 2"
bad "trials < 1" "bad.ini:4: [sweep] trials = 0 is out of range" "[sweep]
base = $Q
mode = random
trials = 0
[vary]
data.eps = uniform(0, 50)"
bad "missing base" "bad.ini:2: [sweep] base = " "[sweep]
base = no_such_config.ini
[vary]
data.eps = 0, 40"
bad "no base at all" "[sweep] base is missing" "[sweep]
mode = grid
[vary]
data.eps = 0, 40"
bad "distribution outside random mode" "bad.ini:4: data.eps = uniform(0, 50): uniform() draws at random" "[sweep]
base = $Q
[vary]
data.eps = uniform(0, 50)"
bad "repeated run names" "bad.ini:3: trials 1 and 2 both get the run name 'x-1'" "[sweep]
base = $Q
name = x-{run.seed}
[vary]
data.eps = 0, 40
run.seed = 1"
bad "run.name is the sweep's" "bad.ini:4: run.name is set by plumb sweep" "[sweep]
base = $Q
[set]
run.name = mine
[vary]
data.eps = 0, 40"
bad "include cycle" "include cycle" "include = bad.ini
[sweep]
base = $Q"
expect_fail "an existing sweep is not overwritten by a bad spec" "bad.ini" "$PLUMB" sweep "$T/bad.ini" --out "$S" --force
check "the sweep folder is intact" diff <(sed -n 2p "$S/manifest.csv") <(echo "1,0,1,q-eps0-s1,configs/trial-0001.ini")
# the study's sweep as shipped: 20 released class assignments x eps 0..50 step 5, each pair once,
# over configs/biasamp/fmnist_inversion.ini (expanded only: no training)
"$PLUMB" sweep "$PLUMB_SRC/configs/sweeps/biasamp_fmnist.ini" --out "$T/biasamp" > /dev/null 2>&1
check "configs/sweeps/biasamp_fmnist.ini: 220 trials, every (assignment, eps) once" "$PY" - "$T/biasamp/manifest.csv" <<'PYEOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
pairs = {(int(r["data.class_assignment"]), float(r["data.eps"])) for r in rows}
want = {(a, float(e)) for a in range(20) for e in range(0, 55, 5)}
sys.exit(0 if len(rows) == 220 and pairs == want else 1)
PYEOF
finish
