# Exact resume: N steps + save + resume + N steps gives bit-identical parameters and
# optimizer state to 2N steps straight (mid-epoch, with dropout, gradient accumulation and a
# warmup + cosine schedule); also after Ctrl-C at an arbitrary point.
source "$(dirname "$0")/lib.sh"
need_data
tiny_config "[model]" "dropout = 0.25" "[train]" "accum_steps = 2" "epochs = 3" \
  "[schedule]" "name = cosine" "unit = step" "warmup_steps = 5" "[optim]" "name = adamw" "lr = 0.003" "weight_decay = 0.01"
# 1024 samples / 64 = 16 batches = 8 optimizer steps per epoch; N = 11 ends mid-epoch.
N=11; M=22
"$PLUMB" train "$T/tiny.ini" --set run.name=straight --set train.max_steps=$M > "$T/a.log" 2>&1
check "straight run exits 0" test $? -eq 0
"$PLUMB" train "$T/tiny.ini" --set run.name=split --set train.max_steps=$N > "$T/b1.log" 2>&1
check "first half exits 0" test $? -eq 0
"$PLUMB" train "$T/tiny.ini" --set run.name=split --set train.max_steps=$M > "$T/b2.log" 2>&1
check "second half exits 0" test $? -eq 0
check "second half resumed" grep -q "resumed from" "$T/b2.log"
A=$T/runs/straight/checkpoints/step-00000000$M
B=$T/runs/split/checkpoints/step-00000000$M
check "model bit-identical after resume" cmp "$A.safetensors" "$B.safetensors"
check "optimizer state bit-identical after resume" cmp "$A.state.safetensors" "$B.state.safetensors"
"$PLUMB" train "$T/tiny.ini" --set run.name=longer --set train.max_steps=$((M + 1)) > /dev/null 2>&1
check "a run of 2N+1 steps differs (the comparison can fail)" \
  bash -c "! cmp -s $T/runs/longer/checkpoints/step-00000000$((M + 1)).safetensors $A.safetensors"

# Ctrl-C: interrupt a longer run after its first progress lines, resume it to the end, and
# compare with the same run done straight.
E="--set train.epochs=40"
"$PLUMB" train "$T/tiny.ini" --set run.name=straight40 $E > /dev/null 2>&1
"$PLUMB" train "$T/tiny.ini" --set run.name=sigint $E > "$T/c1.log" 2>&1 &
pid=$!
for _ in $(seq 1 1000); do grep -q "(total 3)" "$T/c1.log" 2>/dev/null && break; sleep 0.01; done
kill -INT $pid
wait $pid
rc=$?
check "Ctrl-C exits 75 (stopped, checkpoint saved)" test $rc -eq 75
check "Ctrl-C names the checkpoint" grep -q "interrupted (signal 2).*checkpoint saved" "$T/c1.log"
grep "interrupted" "$T/c1.log" | sed 's/^/    /'
"$PLUMB" train "$T/tiny.ini" --set run.name=sigint $E > "$T/c2.log" 2>&1
check "resume after Ctrl-C exits 0" test $? -eq 0
check "after Ctrl-C + resume: bit-identical to the straight run" \
  cmp "$T/runs/straight40/checkpoints/step-0000000320.safetensors" "$T/runs/sigint/checkpoints/step-0000000320.safetensors"

# Two runs in one folder: the second is refused (the folder's lock) and changes nothing.
"$PLUMB" train "$T/tiny.ini" --set run.name=busy $E > "$T/d1.log" 2>&1 &
pid=$!
for _ in $(seq 1 1000); do grep -q "(total 2)" "$T/d1.log" 2>/dev/null && break; sleep 0.01; done
expect_fail "a second run in the same folder" "is in use by another plumb process (pid $pid)" \
  "$PLUMB" train "$T/tiny.ini" --set run.name=busy $E
kill -INT $pid
wait $pid
check "the first run stops normally (75)" test $? -eq 75
finish
