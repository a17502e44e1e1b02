# Bad image files in a training set, end to end (the defects of the reliability issue):
# 200 good JPEGs + 1 truncated train 3 epochs with exactly 1 skip per epoch (a TurboJPEG handle
# no longer poisons its worker); each crafted JPEG of ../shared/repro (copied under
# test/fixtures/repro) is skipped with a message naming it, never a crash; a 60000 x 60000 header
# is refused with pad_crop; a dangling symlink counts as bad; a CMYK JPEG without conversion is
# named as 4 channels; past [loader] max_bad_fraction the run stops naming the count and the
# first files; an epoch where every image is bad is an error, not "train_acc nan" and exit 0.
source "$(dirname "$0")/lib.sh"
R=$PLUMB_SRC/test/fixtures/repro
IM=$PLUMB_SRC/test/fixtures/images
D=$T/imgs
mkdir -p "$D/train/a" "$D/train/b" "$D/val/a" "$D/val/b"
for i in $(seq 1 100); do
  cp "$R/tj-poison-good.jpg" "$D/train/a/$i.jpg"
  cp "$R/tj-poison-good.jpg" "$D/train/b/$i.jpg"
done
for i in 1 2 3 4 5; do cp "$R/tj-poison-good.jpg" "$D/val/a/$i.jpg"; cp "$R/tj-poison-good.jpg" "$D/val/b/$i.jpg"; done
cp "$R/tj-poison-truncated.jpg" "$D/train/a/zz-truncated.jpg"
cat > "$T/img.ini" <<INI
[run]
name = img
out_dir = $T/runs
seed = 1
device = cpu
threads = 2
log_interval = 100
[data]
dataset = folder
dir = $D
channels = 3
[augment]
size = 32
train = rrc
[model]
arch = simplecnn
channels = 8
num_classes = 2
[train]
epochs = 3
batch_size = 32
[loader]
workers = 2
INI
"$PLUMB" train "$T/img.ini" > "$T/a.log" 2>&1
rc=$?
check "200 good + 1 truncated: 3 epochs, exit 0 (got $rc)" test $rc -eq 0
n=$(grep -c "bad_images_skipped=1 " "$T/a.log")
check "exactly one image skipped in each of the 3 epochs (got $n epochs with 1)" test "$n" -eq 3
check "the skipped file is named" grep -q "zz-truncated.jpg" "$T/a.log"
grep "epoch 3/3 done" "$T/a.log" | sed 's/^/    /'

# Every crafted file of the repro folder in a training set: skipped and named, never a crash.
for f in "$R"/image-*.jpg; do
  b=$(basename "$f")
  rm -rf "$T/runs/rep"
  cp "$f" "$D/train/b/zz-$b"
  out=$("$PLUMB" train "$T/img.ini" --set run.name=rep --set train.epochs=1 --set augment.train=pad_crop 2>&1)
  rc=$?
  check "$b: skipped, run exits 0 (got $rc)" test $rc -eq 0
  check "$b: named in the log" grep -q "skipped: .*zz-$b" <<< "$out"
  grep -m1 "skipped: .*zz-$b" <<< "$out" | sed 's/^.*skipped: /    /'
  rm "$D/train/b/zz-$b"
done

# A decompression bomb header with pad_crop (which decodes the stored pixels): refused by size.
cp "$IM/bomb.jpg" "$D/train/b/zz-bomb.jpg"
out=$("$PLUMB" train "$T/img.ini" --set run.name=bomb --set train.epochs=1 --set augment.train=pad_crop 2>&1)
check "60000x60000 header: run goes on (exit $?)" test $? -eq 0
check "60000x60000 header: refused by max_image_pixels" grep -q "60000x60000.*max_image_pixels" <<< "$out"
rm "$D/train/b/zz-bomb.jpg"

# A dangling symlink is a bad image, not a file that silently is not there.
ln -s "$D/nowhere.jpg" "$D/train/b/zz-dangling.jpg"
out=$("$PLUMB" train "$T/img.ini" --set run.name=link --set train.epochs=1 2>&1)
check "dangling symlink: counted and named" grep -q "skipped: .*zz-dangling.jpg: cannot open" <<< "$out"
check "dangling symlink: the data line counts 202 training images" grep -q "train 202" <<< "$out"
rm "$D/train/b/zz-dangling.jpg"

# CMYK without conversion: named as 4 channels.
cp "$IM/cmyk.jpg" "$D/train/b/zz-cmyk.jpg"
out=$("$PLUMB" train "$T/img.ini" --set run.name=cmyk --set train.epochs=1 --set data.convert_channels=false 2>&1)
check "CMYK JPEG without conversion: 4 channels stored" grep -q "zz-cmyk.jpg: unexpected channel count: 4 stored (CMYK JPEG)" <<< "$out"
rm "$D/train/b/zz-cmyk.jpg"

# Past the bound: 8 bad of 208 (3.8%) with the default 1%: the run stops naming count and files.
for i in 1 2 3 4 5 6 7; do cp "$R/tj-poison-truncated.jpg" "$D/train/b/zz-t$i.jpg"; done
expect_fail "8 of 208 bad > max_bad_fraction 0.01" "max_bad_fraction = 0.01" \
  "$PLUMB" train "$T/img.ini" --set run.name=many --set train.epochs=1
out=$("$PLUMB" train "$T/img.ini" --set run.name=many2 --set train.epochs=1 2>&1)
check "the message names the first files" grep -q "could not be read.*the first: .*zz-t" <<< "$out"
"$PLUMB" train "$T/img.ini" --set run.name=many3 --set train.epochs=1 --set loader.max_bad_fraction=0.05 > /dev/null 2>&1
check "with max_bad_fraction = 0.05 the same run goes on" test $? -eq 0
rm "$D"/train/b/zz-t*.jpg

# Every image bad, even with the bound at 1: an error, not nan and exit 0.
mkdir -p "$T/bad/train/a" "$T/bad/val/a"
for i in 1 2 3 4; do cp "$R/tj-poison-truncated.jpg" "$T/bad/train/a/$i.jpg"; done
cp "$R/tj-poison-good.jpg" "$T/bad/val/a/1.jpg"
expect_fail "every training image bad" "no training image of epoch 1 could be read" \
  "$PLUMB" train "$T/img.ini" --set run.name=allbad --set data.dir="$T/bad" --set model.num_classes=1 \
  --set loader.max_bad_fraction=1
finish
