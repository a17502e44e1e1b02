# plumb predict (issue 14): a Kaggle submission from a checkpoint on unlabelled images. A tiny
# colour-coded CSV + PNG dataset with named classes (cat, dog, fish) trains an MLP for a few
# steps; then: predict on a folder (mixed .png / .jpg / .PNG, sorted by name in byte order) and on
# a CSV list (default id column + path suffix, and an id + path column); the submission's header,
# rows, ids and class names; the single-label predictions equal plumb eval --predictions' for the
# same images; --probs is float32 [N, k] with softmax rows (sum 1, argmax = the label); --tta flip
# and tencrop give [N, k]; the config's test data is not needed; a truncated JPEG and a text file
# named x.jpg are listed on stderr, counted, kept with empty labels, NaN probs rows and in
# --failed, with a WARNING and exit 0; all images bad, an empty folder, a CSV without the id
# column, duplicate ids, a missing --input / checkpoint are errors naming the file, with nothing
# written; multi-label mode (a model trained with loss = inclusive on the synthetic multi-label
# JPEG set): every row follows [multilabel] threshold / min_labels / max_labels, best first by the
# probs.npy scores, and equals plumb eval --predictions' rule; SIGTERM
# during predict writes nothing.
source "$(dirname "$0")/lib.sh"
PY=${PYTHON:-/usr/bin/python3}
"$PY" -c "import numpy, PIL" 2>/dev/null || { echo "skipped: $PY with numpy and PIL writes the images"; exit 77; }
mkdir -p "$T/data/img" "$T/new"
"$PY" - "$T" <<'PYEOF' || { echo "FAIL: dataset generator"; exit 1; }
import os, sys
import numpy as np
from PIL import Image
t = sys.argv[1]
rng = np.random.default_rng(0)
cols = {"cat": (200, 60, 60), "dog": (60, 180, 60), "fish": (60, 60, 200)}
names = sorted(cols)
def img(c):  # noisy: the model is right but not certain
    a = np.array(cols[c])[None, None, :] + rng.normal(0, 70, (20, 20, 3))
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
for split, n in (("train", 90), ("test", 30)):
    with open(f"{t}/data/{split}.csv", "w") as f:
        f.write("path,label\n")
        for i in range(n):
            c = names[i % 3]
            p = f"img/{split}{i:03d}.png"
            img(c).save(f"{t}/data/{p}")
            f.write(f"{p},{c}\n")
for i in range(12):  # the folder: .jpg and .png, one upper-case extension
    ext = ".jpg" if i % 2 else (".PNG" if i == 4 else ".png")
    img(names[i % 3]).save(f"{t}/new/im{i:02d}{ext}", format="JPEG" if ext == ".jpg" else "PNG")
img("cat").save(f"{t}/new/Zed.jpg", format="JPEG")
open(f"{t}/new/notes.txt", "w").write("not an image\n")
os.mkdir(f"{t}/new/sub.jpg")  # a folder named like an image: not a sample
PYEOF
cat > "$T/c.ini" <<INI
[run]
name = c
out_dir = $T/runs
device = cpu
threads = 2
[data]
dataset = csv
dir = $T/data
train_path = train.csv
test_path = test.csv
std = 0.25
[augment]
size = 16
[model]
arch = mlp
hidden = 16
num_classes = 3
[train]
epochs = 2
batch_size = 15
eval_batch_size = 8
[optim]
name = adam
lr = 0.003
INI
"$PLUMB" train "$T/c.ini" > "$T/train.log" 2>&1
C=$T/runs/c/checkpoints/step-0000000012.safetensors
check "the run trains" test -f "$C"

# --- a folder
"$PLUMB" predict "$T/c.ini" --checkpoint "$C" --input "$T/new" --out "$T/sub.csv" --probs "$T/p.npy" \
  > "$T/pred.log" 2> "$T/pred.err"
check "predict on a folder exits 0" test $? -eq 0
check "no failure on a clean folder (stderr empty)" test ! -s "$T/pred.err"
check "the summary names the outputs" grep -q "^submission  $T/sub.csv" "$T/pred.log"
check "the summary counts the images" grep -qE "^  total +13$" "$T/pred.log"
"$PY" - "$T" <<'PYEOF'
import csv, sys
import numpy as np
t = sys.argv[1]
rows = list(csv.reader(open(f"{t}/sub.csv")))
assert rows[0] == ["image_id", "labels"], rows[0]
ids = [r[0] for r in rows[1:]]
assert ids == ["Zed"] + [f"im{i:02d}" for i in range(12)], ids  # byte order: 'Z' < 'i'
names = ["cat", "dog", "fish"]
assert all(r[1] in names for r in rows[1:]), rows
p = np.load(f"{t}/p.npy")
assert p.dtype == np.float32 and p.shape == (13, 3), (p.dtype, p.shape)
assert np.all(np.abs(p.sum(1) - 1) < 1e-5), p.sum(1)
assert [names[j] for j in p.argmax(1)] == [r[1] for r in rows[1:]]
right = sum(r[1] == names[int(r[0][2:]) % 3] for r in rows[2:])
print(f"    folder: 13 rows, names from the vocabulary, probs rows sum to 1; {right}/12 right")
PYEOF
check "folder submission, ids, names and softmax probs" test $? -eq 0

# --- the same images as plumb eval, through a CSV with id and path columns; no test data needed
"$PLUMB" eval "$T/c.ini" --checkpoint "$C" --predictions "$T/ev.csv" --json "$T/ev.json" > /dev/null 2>&1
check "plumb eval --predictions exits 0" test $? -eq 0
"$PLUMB" predict "$T/c.ini" --checkpoint "$C" --input "$T/data/test.csv" --out "$T/sub_test.csv" \
  --probs "$T/p_test.npy" --set predict.id_column=path --set predict.path_column=path \
  --set data.test_path=no_such_test.csv > "$T/pred_test.log" 2>&1
check "predict on a CSV (id and path columns) exits 0 without the config's test data" test $? -eq 0
"$PY" - "$T" <<'PYEOF'
import csv, sys
t = sys.argv[1]
names = ["cat", "dog", "fish"]
ev = list(csv.DictReader(open(f"{t}/ev.csv")))
sub = list(csv.DictReader(open(f"{t}/sub_test.csv")))
assert len(ev) == len(sub) == 30, (len(ev), len(sub))
for e, s in zip(ev, sub):
    assert e["path"].endswith(s["image_id"]), (e["path"], s["image_id"])
    assert names[int(e["pred"])] == s["labels"], (e, s)
print("    30 test images: predict's labels = plumb eval --predictions' classes")
PYEOF
check "single-label predictions equal plumb eval's" test $? -eq 0

# --- a CSV list: default id column, path = id + path_suffix relative to the CSV's folder
printf 'image_id,extra\nim01,a\nim03,b\n\nim05,"c, quoted"\n' > "$T/new/list.csv"
"$PLUMB" predict "$T/c.ini" --checkpoint "$C" --input "$T/new/list.csv" --out "$T/sub_list.csv" > /dev/null 2>&1
check "predict on an id list exits 0" test $? -eq 0
check "id list: header + 3 rows in list order" \
  bash -c "test \"\$(cut -d, -f1 '$T/sub_list.csv' | tr '\n' ' ')\" = 'image_id im01 im03 im05 '"
check "id list rows equal the folder's" \
  bash -c "grep -E '^im0[135],' '$T/sub.csv' | diff - <(tail -n +2 '$T/sub_list.csv')"

# --- test-time views
for tta in flip tencrop; do
  "$PLUMB" predict "$T/c.ini" --checkpoint "$C" --input "$T/new" --out "$T/sub_$tta.csv" --probs "$T/p_$tta.npy" \
    --tta $tta > "$T/tta.log" 2>&1
  check "--tta $tta exits 0" test $? -eq 0
  check "--tta $tta: probs [13, 3] with rows summing to 1" "$PY" -c "
import numpy as np; p = np.load('$T/p_$tta.npy')
assert p.dtype == np.float32 and p.shape == (13, 3) and np.all(np.abs(p.sum(1) - 1) < 1e-5)"
done
expect_fail "--tta with an unknown value" "expected none, flip or tencrop" \
  "$PLUMB" predict "$T/c.ini" --checkpoint "$C" --input "$T/new" --out "$T/x.csv" --tta five

# --- images that cannot be read
mkdir -p "$T/bad"
cp "$T"/new/im0[0-3].* "$T/bad/"
head -c 300 "$T/new/im01.jpg" > "$T/bad/trunc.jpg"
echo "hello" > "$T/bad/x.jpg"
"$PLUMB" predict "$T/c.ini" --checkpoint "$C" --input "$T/bad" --out "$T/sub_bad.csv" --probs "$T/p_bad.npy" \
  --failed "$T/failed.csv" --set loader.max_bad_fraction=0 > "$T/bad.log" 2> "$T/bad.err"
check "some images bad: exit 0 (max_bad_fraction does not apply)" test $? -eq 0
check "each failure on stderr with id, path and reason" \
  bash -c "grep -q 'could not read trunc ($T/bad/trunc.jpg): truncated JPEG' '$T/bad.err' && grep -q 'could not read x ($T/bad/x.jpg): not a decodable' '$T/bad.err'"
check "a WARNING names the count" grep -q "WARNING: 2 of 6 images could not be read" "$T/bad.err"
check "the summary counts them" grep -qE "^  failed +2$" "$T/bad.log"
"$PY" - "$T" <<'PYEOF'
import csv, sys
import numpy as np
t = sys.argv[1]
sub = list(csv.DictReader(open(f"{t}/sub_bad.csv")))
assert [r["image_id"] for r in sub] == ["im00", "im01", "im02", "im03", "trunc", "x"], sub
assert [r["labels"] == "" for r in sub] == [False] * 4 + [True] * 2, sub
p = np.load(f"{t}/p_bad.npy")
assert p.shape == (6, 3) and np.isnan(p[4:]).all() and not np.isnan(p[:4]).any()
f = list(csv.DictReader(open(f"{t}/failed.csv")))
assert [(r["image_id"], r["path"]) for r in f] == [("trunc", f"{t}/bad/trunc.jpg"), ("x", f"{t}/bad/x.jpg")], f
assert f[0]["reason"].startswith("truncated JPEG") and "not a decodable" in f[1]["reason"], f
print("    failed rows kept with empty labels and NaN probs; failed.csv lists both")
PYEOF
check "failed images in the submission, probs and --failed" test $? -eq 0

# --- errors: a message naming the file, non-zero exit, nothing written
mkdir -p "$T/allbad" "$T/empty"
echo "hello" > "$T/allbad/x.jpg"
touch "$T/empty/readme.txt"
printf 'id,path\na,b.jpg\n' > "$T/noid.csv"
printf 'image_id\nim01\nim03\nim01\n' > "$T/new/dup.csv"
expect_fail "every image bad" "none of the 1 images could be read" \
  "$PLUMB" predict "$T/c.ini" --checkpoint "$C" --input "$T/allbad" --out "$T/o1.csv" --failed "$T/f1.csv"
expect_fail "an empty folder" "$T/empty: the folder holds no image" \
  "$PLUMB" predict "$T/c.ini" --checkpoint "$C" --input "$T/empty" --out "$T/o2.csv"
expect_fail "a CSV without the id column names its columns" "$T/noid.csv: line 1: no column 'image_id'" \
  "$PLUMB" predict "$T/c.ini" --checkpoint "$C" --input "$T/noid.csv" --out "$T/o3.csv"
check "... and lists the columns it has" bash -c "'$PLUMB' predict '$T/c.ini' --checkpoint '$C' --input '$T/noid.csv' --out '$T/o3.csv' 2>&1 | grep -q 'the header has: id, path'"
expect_fail "duplicate ids" "$T/new/dup.csv: line 4: duplicate id 'im01' (first on line 2)" \
  "$PLUMB" predict "$T/c.ini" --checkpoint "$C" --input "$T/new/dup.csv" --out "$T/o4.csv"
mkdir -p "$T/dupf" && cp "$T/new/im00.png" "$T/dupf/a.png" && cp "$T/new/im01.jpg" "$T/dupf/a.jpg"
expect_fail "a folder with a.jpg and a.png (one id)" "duplicate id 'a'" \
  "$PLUMB" predict "$T/c.ini" --checkpoint "$C" --input "$T/dupf" --out "$T/o9.csv"
expect_fail "a missing --input" "usage: plumb predict" \
  "$PLUMB" predict "$T/c.ini" --checkpoint "$C" --out "$T/o5.csv"
expect_fail "an input that does not exist" "--input $T/nothing: no such folder or CSV file" \
  "$PLUMB" predict "$T/c.ini" --checkpoint "$C" --input "$T/nothing" --out "$T/o6.csv"
expect_fail "a missing checkpoint" "$T/none.safetensors" \
  "$PLUMB" predict "$T/c.ini" --checkpoint "$T/none.safetensors" --input "$T/new" --out "$T/o7.csv"
check "nothing written by the failures (no output, no temporary file)" \
  bash -c "! ls '$T'/o[0-9]* '$T'/f1.csv* 2>/dev/null | grep -q ."

# --- multi-label: a model trained with the Inclusive Images loss on the synthetic multi-label
# JPEG set (scripts/make_multilabel_jpegs.py), predicted on its predict/ folder; every row follows
# [multilabel] threshold / min_labels / max_labels, best first by the probs.npy scores (the
# solution's top-k score, and sigmoid), and equals plumb eval --predictions' rule on the same images
"$PY" "$PLUMB_SRC/scripts/make_multilabel_jpegs.py" "$T/ml" 120 3 > /dev/null || { echo "FAIL: multi-label generator"; exit 1; }
cat > "$T/ml.ini" <<INI
[run]
name = ml
out_dir = $T/runs
device = cpu
threads = 2
[data]
dataset = csv
dir = $T/ml
train_path = train.csv
test_path = test.csv
image_root = images
path_suffix = .jpg
multilabel = true
[augment]
size = 32
[model]
arch = simplecnn
channels = 8,16
num_classes = 6
[train]
epochs = 2
batch_size = 30
loss = inclusive
[multilabel]
top_k = 4
[optim]
name = adam
lr = 0.003
INI
"$PLUMB" train "$T/ml.ini" > "$T/mltrain.log" 2>&1
check "the multi-label model trains" test -f "$T/runs/ml/checkpoints/step-0000000008.safetensors"
MC=$T/runs/ml/checkpoints/step-0000000008.safetensors
ml() { # THRESHOLD MIN MAX [SCORE]
  "$PLUMB" predict "$T/ml.ini" --checkpoint "$MC" --input "$T/ml/predict" --out "$T/ml.csv" --probs "$T/ml.npy" \
    --set multilabel.threshold=$1 --set multilabel.min_labels=$2 --set multilabel.max_labels=$3 \
    --set multilabel.score=${4:-auto} > "$T/ml.log" 2>&1 || { echo "    predict failed:"; tail -3 "$T/ml.log"; return 1; }
  "$PY" - "$T" "$1" "$2" "$3" "${4:-auto}" <<'PYEOF'
import csv, sys
import numpy as np
t, thr, lo, hi, score = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
names = [l.strip() for l in open(f"{t}/ml/classes.txt")]
s = np.load(f"{t}/ml.npy")
sub = list(csv.DictReader(open(f"{t}/ml.csv")))
assert s.shape == (60, 6) and s.dtype == np.float32 and len(sub) == 60
assert [r["image_id"] for r in sub] == ["test_%04d" % i for i in range(60)]
assert ((s >= 0) & (s <= 1)).all()
if score == "auto":  # the inclusive score: the labels ranked below top_k = 4 score 0
    assert ((s > 0).sum(axis=1) == 4).all(), (s > 0).sum(axis=1)
sizes = []
for i, r in enumerate(sub):
    got = [names.index(x) for x in r["labels"].split()]
    order = sorted(range(6), key=lambda j: (-float(s[i, j]), j))
    passing = [j for j in order if float(s[i, j]) > thr]
    want = order[:lo] if len(passing) < lo else passing[: hi if hi > 0 else None]
    assert got == want, (i, got, want, s[i])
    sizes.append(len(got))
print(f"    threshold {thr} min {lo} max {hi} score {score}: labels per image {min(sizes)}..{max(sizes)}, best first")
PYEOF
}
check "multi-label: threshold 0.5, min 1, max 2" ml 0.5 1 2
check "multi-label: threshold 0, min 0, max 0 (no cap: every scored label)" ml 0 0 0
check "multi-label: sigmoid scores, threshold 0.3, min 0, max 3" ml 0.3 0 3 sigmoid
check "multi-label: threshold 1, min 2, max 3 (none passes: the top 2)" ml 1 2 3
check "multi-label summary: labels per image" grep -qE "labels per image +2\.00 +\(min 2, max 2\)" "$T/ml.log"
"$PLUMB" predict "$T/ml.ini" --checkpoint "$MC" --input "$T/ml/predict" --out "$T/ml.csv" > /dev/null 2>&1 &&
  "$PLUMB" eval "$T/ml.ini" --checkpoint "$MC" --predictions "$T/mlp.csv" --json "$T/ml.json" > /dev/null 2>&1
"$PY" - "$T" <<'PYEOF'
import csv, sys
t = sys.argv[1]
names = [l.strip() for l in open(f"{t}/ml/classes.txt")]
sub = {r["image_id"]: r["labels"] for r in csv.DictReader(open(f"{t}/ml.csv"))}
ev = {r["path"].rsplit("/", 1)[1][:-4]: " ".join(names[int(j)] for j in r["pred"].split())
      for r in csv.DictReader(open(f"{t}/mlp.csv"))}
assert sub == ev, [(k, sub[k], ev.get(k)) for k in sub if sub[k] != ev.get(k)][:3]
print("    60 submission rows equal plumb eval's predicted labels (threshold 0.55, 2..5)")
PYEOF
check "multi-label submission equals plumb eval --predictions' rule" test $? -eq 0
expect_fail "min_labels above max_labels" "[multilabel] min_labels = 3 is more than max_labels = 2" \
  "$PLUMB" predict "$T/ml.ini" --checkpoint "$MC" --input "$T/ml/predict" --out "$T/o8.csv" \
  --set multilabel.min_labels=3 --set multilabel.max_labels=2

# --- SIGTERM during predict: nothing written. The input is a FIFO: predict blocks reading it,
# the signal arrives, then the list is written and the pass sees the stop at its first batch.
mkfifo "$T/fifo.csv"
"$PLUMB" predict "$T/c.ini" --checkpoint "$C" --input "$T/fifo.csv" --out "$T/sig.csv" --probs "$T/sig.npy" \
  --set predict.image_dir="$T/new" > "$T/sig.log" 2>&1 &
pid=$!
sleep 1
kill -TERM $pid
printf 'image_id\nim01\nim03\n' > "$T/fifo.csv"
wait $pid
rc=$?
check "SIGTERM: exit 128 + 15" test $rc -eq 143
check "SIGTERM: says it stopped and wrote nothing" grep -q "stopped by signal 15; nothing written" "$T/sig.log"
check "SIGTERM: no submission, probs or temporary file" bash -c "! ls '$T'/sig.csv* '$T'/sig.npy* 2>/dev/null | grep -q ."
finish
