# Damaged checkpoints are refused with a clear message, never a crash, and resuming from a
# damaged latest checkpoint loses nothing.
source "$(dirname "$0")/lib.sh"
need_data
tiny_config "[train]" "epochs = 1"
"$PLUMB" train "$T/tiny.ini" --set train.max_steps=3 > /dev/null 2>&1
ck=$T/runs/tiny/checkpoints/step-0000000003.safetensors
check "checkpoint written" test -s "$ck"
size=$(stat -c %s "$ck")
for cut in 0 4 8 9 50 200 $((size / 2)) $((size - 1)); do
  head -c $cut "$ck" > "$T/cut.safetensors"
  expect_fail "truncated at $cut bytes" "cut.safetensors" "$PLUMB" eval "$T/tiny.ini" --checkpoint "$T/cut.safetensors"
done
cp "$ck" "$T/hdr.safetensors"
printf 'XXXX' | dd of="$T/hdr.safetensors" bs=1 seek=12 conv=notrunc 2>/dev/null
expect_fail "corrupted header" "hdr.safetensors" "$PLUMB" eval "$T/tiny.ini" --checkpoint "$T/hdr.safetensors"
expect_fail "missing checkpoint" "nothere.safetensors" "$PLUMB" eval "$T/tiny.ini" --checkpoint "$T/nothere.safetensors"
expect_fail "checkpoint of another model" "missing" \
  "$PLUMB" eval "$T/tiny.ini" --checkpoint "$ck" --set model.channels=8,16,32
# Damage the latest checkpoint of the run and resume: refused, file kept as it was.
cp "$ck" "$T/orig.safetensors"
truncate -s $((size - 10)) "$ck"
cp "$ck" "$T/damaged.safetensors"
expect_fail "resume from a damaged checkpoint" "step-0000000003" "$PLUMB" train "$T/tiny.ini" --set train.max_steps=5
check "the damaged checkpoint is left as it was" cmp "$ck" "$T/damaged.safetensors"
check "the log was kept" test -s "$T/runs/tiny/log.txt"
finish
