# ImageNet-9 manifests (ReBias): scripts/fixtures/make_imagenet9_synthetic.py writes a tiny
# ImageNet tree (1000 WordNet-id folders per split, 42 of them with JPEGs, plus distractor images
# in folders the nine classes leave out), scripts/imagenet9_manifest.py turns it into train.csv
# and val.csv. Checks: row counts and labels per class (the official dog 0 ... insect 8), the
# distractors left out, the official order, paths that exist under the root, the val cluster
# columns equal to the clusters file's for the same path, absolute paths on request, and a clear
# error with a non-zero exit for each bad tree; then plumb trains one epoch on the manifests.
# Needs a python3 with PIL ($PYTHON, python3 or /usr/bin/python3); exit 77 without one.
source "$(dirname "$0")/lib.sh"
[[ -n ${T:-} && -d $T ]] || { echo "FAIL: lib.sh did not set up \$T"; exit 1; }
PY=${PYTHON:-}
if [[ -z $PY ]]; then
  for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -c "import PIL" 2>/dev/null; then PY=$p; break; fi
  done
fi
[[ -n $PY ]] || { echo "skipped: no python3 with PIL (python3-pil) to write the JPEGs"; exit 77; }
GEN=$PLUMB_SRC/scripts/fixtures/make_imagenet9_synthetic.py
MAN=$PLUMB_SRC/scripts/imagenet9_manifest.py
NT=3 NV=2
R=$T/in9
# The official clusters file when the checkout has it (../shared), else a synthetic one.
CL=$("$PY" "$GEN" "$R" --train $NT --val $NV --size 40 --seed 1) || { echo "FAIL: generator"; exit 1; }
echo "    clusters file: $CL"
out=$("$PY" "$MAN" --root "$R" --out "$T/m" --clusters "$CL" 2>&1); rc=$?
echo "$out" | sed 's/^/    /'
check "manifest script exits 0" test $rc -eq 0
check "train.csv header is path,label,category" test "$(head -1 "$T/m/train.csv")" = "path,label,category"
check "val.csv header adds the cluster columns" \
  test "$(head -1 "$T/m/val.csv")" = "path,label,category,cluster1,cluster2,cluster3"
check "train.csv: 42 WordNet ids x $NT rows" test "$(($(wc -l < "$T/m/train.csv") - 1))" -eq $((42 * NT))
check "val.csv: 42 WordNet ids x $NV rows" test "$(($(wc -l < "$T/m/val.csv") - 1))" -eq $((42 * NV))
# Per class: label, name and its number of WordNet ids (dog 5, cat 5, frog 3, turtle 5, bird 5,
# monkey 5, fish 5, crab 4, insect 5).
per_class() { # per_class FILE N: "label category count" lines
  awk -F, 'NR > 1 {n[$2 " " $3]++} END {for (k in n) print k, n[k]}' "$1" | sort -n
}
expect_counts() {
  local n=$1 i=0 k
  for k in dog:5 cat:5 frog:3 turtle:5 bird:5 monkey:5 fish:5 crab:4 insect:5; do
    echo "$i ${k%:*} $((${k#*:} * n))"; i=$((i + 1))
  done
}
check "train labels per class: dog 0 ... insect 8, images per class" test "$(per_class "$T/m/train.csv")" = "$(expect_counts $NT)"
check "val labels per class" test "$(per_class "$T/m/val.csv")" = "$(expect_counts $NV)"
check "bullfrog n01641577 (index 30) is frog = 2" grep -q "^train/n01641577/n01641577_1.JPEG,2,frog$" "$T/m/train.csv"
check "Chihuahua n02085620 (index 151) is dog = 0" grep -q "^train/n02085620/[^,]*,0,dog$" "$T/m/train.csv"
check "pug n02110958 (index 254) is dog = 0" grep -q "^train/n02110958/[^,]*,0,dog$" "$T/m/train.csv"
check "capuchin n02492035 (index 378) is monkey = 5" grep -q "^val/n02492035/[^,]*,5,monkey," "$T/m/val.csv"
check "ant n02219486 (index 310) is insect = 8" grep -q "^train/n02219486/[^,]*,8,insect$" "$T/m/train.csv"
check "distractors (indices 0, 91, 152, 376, 398) are left out" \
  bash -c "! grep -q distractor '$T/m/train.csv' '$T/m/val.csv'"
check "rows in the official order (sorted WordNet ids, then paths)" \
  bash -c "tail -n +2 '$T/m/train.csv' | cut -d, -f1 | LC_ALL=C sort -c && tail -n +2 '$T/m/val.csv' | cut -d, -f1 | LC_ALL=C sort -c"
check "every manifest path exists under the root" \
  bash -c "tail -q -n +2 '$T/m/train.csv' '$T/m/val.csv' | cut -d, -f1 | while read -r p; do test -f '$R'/\"\$p\" || exit 1; done"
# The join: each val row's category and clusters equal the clusters file's row of the same path.
joined=$(awk -F, 'NR == FNR {if (FNR > 1) c[$1] = $2 "," $3 "," $4 "," $5; next}
  FNR > 1 {k = substr($1, 5); if (!(k in c) || c[k] != $3 "," $4 "," $5 "," $6) bad++; n++}
  END {print n + 0, bad + 0}' "$CL" "$T/m/val.csv")
check "val cluster columns match the clusters file by path (rows, mismatches: $joined)" test "$joined" = "$((42 * NV)) 0"
check "cluster labels are 0-8" awk -F, 'NR > 1 && ($4 !~ /^[0-8]$/ || $5 !~ /^[0-8]$/ || $6 !~ /^[0-8]$/) {b = 1} END {exit b}' "$T/m/val.csv"
"$PY" "$MAN" --root "$R" --out "$T/abs" --clusters "$CL" --paths absolute >/dev/null 2>&1
check "--paths absolute writes absolute paths that exist" \
  bash -c "tail -q -n +2 '$T/abs/train.csv' '$T/abs/val.csv' | cut -d, -f1 | while read -r p; do [[ \$p == /* && -f \$p ]] || exit 1; done"
"$PY" "$MAN" --root "$R" --out "$T/nc" --no-clusters >/dev/null 2>&1
check "--no-clusters: val.csv without cluster columns" test "$(head -1 "$T/nc/val.csv")" = "path,label,category"

# Bad trees: one thing wrong at a time in the good tree, undone after each case (copying a tree of
# 2000 folders costs seconds). runm: the manifest script on $R, writing to $T/e.
runm() { "$PY" "$MAN" --root "$R" --out "$T/e" --clusters "$CL" "$@"; }
expect_fail "--root missing" "no such folder" "$PY" "$MAN" --root "$T/nowhere" --out "$T/e" --clusters "$CL"
mv "$R/val" "$R/val.off"
expect_fail "val/ missing" "val: no such folder" runm
check "nothing written when val/ is missing" test ! -e "$T/e/train.csv"
mv "$R/val.off" "$R/val"
one=$(ls "$R/train" | sed -n 2p) # index 1: an empty filler folder
rmdir "$R/train/$one"
expect_fail "999 class folders" "999 class folders, ImageNet-1k has 1000" runm
mkdir "$R/train/$one"
mkdir "$R/train/n99999999x"
expect_fail "a folder that is not a WordNet id" "not a WordNet-id folder (n + 8 digits): n99999999x/" runm
rmdir "$R/train/n99999999x"
mkdir "$T/stash"
cp "$R/val/n01641577/"*.JPEG "$T/stash/" && cp "$T/stash/"*.JPEG "$R/val/"
expect_fail "flat val images (not sorted into folders)" "must first be sorted into WordNet-id folders" runm
(cd "$T/stash" && for f in *.JPEG; do rm "$R/val/$f"; done)
mv "$R/train/n02085620" "$R/train/n02085621"
expect_fail "1000 folders that are not ImageNet-1k's" "class index 151 is n02085621" runm
mv "$R/train/n02085621" "$R/train/n02085620"
echo notes > "$R/train/n02123045/README.txt"
expect_fail "an unknown file in a class folder" "1 file that is not an image" runm
"$PY" "$MAN" --root "$R" --out "$T/e2" --clusters "$CL" --skip-unknown >/dev/null 2>&1
check "--skip-unknown ignores it" cmp -s "$T/e2/train.csv" "$T/m/train.csv"
rm "$R/train/n02123045/README.txt"
mkdir "$T/stash2" && mv "$R/train/n01644900/"* "$T/stash2/"
expect_fail "an empty class folder" "no images in this frog class folder" runm
mv "$T/stash2/"* "$R/train/n01644900/"
extra=$R/val/n01641577/ILSVRC2012_val_99999999.JPEG
cp "$R/val/n01641577/$(ls "$R/val/n01641577" | head -1)" "$extra"
expect_fail "a val image not in the clusters file" "1 image not in the clusters file" runm
rm "$extra"
"$PY" "$MAN" --root "$R" --out "$T/again" --clusters "$CL" >/dev/null 2>&1
check "the tree is whole again: the same manifests" \
  bash -c "cmp -s '$T/again/train.csv' '$T/m/train.csv' && cmp -s '$T/again/val.csv' '$T/m/val.csv'"
sed '2s/,frog,/,toad,/' "$CL" > "$T/cl_badcat.csv"
expect_fail "an unknown category in the clusters file" "cl_badcat.csv:2: category 'toad'" \
  "$PY" "$MAN" --root "$R" --out "$T/e" --clusters "$T/cl_badcat.csv"
first=$(sed -n 2p "$CL" | cut -d, -f1)
sed "2s/,frog,/,turtle,/" "$CL" > "$T/cl_wrongcat.csv"
case $first in
  n01641577/*|n01644373/*|n01644900/*)
    expect_fail "a val image filed under another category" "is filed under category 'turtle'" \
      "$PY" "$MAN" --root "$R" --out "$T/e" --clusters "$T/cl_wrongcat.csv" ;;
  *) echo "FAIL: the clusters file does not start with a frog row"; FAILS=$((FAILS + 1)) ;;
esac
sed '1s/cluster3/texture3/' "$CL" > "$T/cl_hdr.csv"
expect_fail "a clusters file without cluster3" "lacks cluster3" "$PY" "$MAN" --root "$R" --out "$T/e" --clusters "$T/cl_hdr.csv"
expect_fail "a missing clusters file" "no clusters file" "$PY" "$MAN" --root "$R" --out "$T/e" --clusters "$T/none.csv"

# plumb reads the manifests: one epoch of a tiny CNN on 32x32 crops.
cat > "$T/in9.ini" <<INI
[run]
name = in9
out_dir = $T/runs
seed = 1
device = cpu
threads = 2
log_interval = 10
[data]
dataset = csv
dir = $T/m
train_path = train.csv
test_path = val.csv
image_root = $R
mean = 0.485,0.456,0.406
std = 0.229,0.224,0.225
[augment]
size = 32
train = rrc
test = resize_crop
flip = 0.5
[model]
arch = simplecnn
channels = 8,16
num_classes = 9
[train]
epochs = 1
batch_size = 32
[optim]
name = adam
lr = 0.003
INI
out=$("$PLUMB" train "$T/in9.ini" 2>&1); rc=$?
echo "$out" | grep -E "images|epoch 1/1 done|rror" | cut -c1-200 | sed 's/^/    /'
check "plumb trains one epoch on the manifests (exit 0)" test $rc -eq 0
check "metrics.csv has a header and one epoch row" test "$(wc -l < "$T/runs/in9/metrics.csv" 2>/dev/null)" = 2
check "the epoch is evaluated on the val manifest" grep -qE "epoch 1/1 done.*test_acc=[0-9.]+" <<<"$out"
finish
