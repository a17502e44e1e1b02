# Bad data files: a truncated, wrong-magic or missing IDX file is a clear error naming it.
source "$(dirname "$0")/lib.sh"
need_data
tiny_config
mkdir -p "$T/d"
cp $DATA/*.gz "$T/d/"
gzip -dc $DATA/t10k-labels-idx1-ubyte.gz | head -c 5000 > "$T/d/short-labels"
printf '\x00\x00\x09\x01\x00\x00\x00\x02ab' > "$T/d/magic-labels"
expect_fail "truncated IDX" "short-labels" "$PLUMB" train "$T/tiny.ini" --set data.dir="$T/d" --set data.test_labels=short-labels
expect_fail "wrong-magic IDX" "magic-labels" "$PLUMB" train "$T/tiny.ini" --set data.dir="$T/d" --set data.test_labels=magic-labels
expect_fail "missing IDX" "absent.gz" "$PLUMB" train "$T/tiny.ini" --set data.dir="$T/d" --set data.train_images=absent.gz
expect_fail "label count mismatch" "labels" "$PLUMB" train "$T/tiny.ini" --set data.dir="$T/d" --set data.test_labels=train-labels-idx1-ubyte.gz
finish
