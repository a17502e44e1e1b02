# End to end: a tiny config trains, the loss goes down, the run folder holds the resolved
# config, log, metrics CSV and checkpoints; plumb eval reproduces the final test accuracy.
source "$(dirname "$0")/lib.sh"
need_data
tiny_config
out=$("$PLUMB" train "$T/tiny.ini" 2>&1); rc=$?
echo "$out" | grep -E "^(plumb|data|epoch [0-9]+/[0-9]+ done|checkpoint|done)" | sed 's/^/    /'
check "train exits 0" test $rc -eq 0
first=$(grep -m1 -oE "step 1/[0-9]+ \(total 1\) loss [0-9.]+" <<<"$out" | awk '{print $NF}')
last=$(grep "epoch 2/2 done" <<<"$out" | grep -oE "train_loss=[0-9.]+" | cut -d= -f2)
echo "    first-step loss $first, epoch-2 mean loss $last"
check "loss goes down (epoch 2 mean < 0.7 x first step)" awk -v a="$first" -v b="$last" 'BEGIN{exit !(b < 0.7*a)}'
check "epoch lines carry test_acc=" grep -q "test_acc=0\.[0-9]" <<<"$out"
R=$T/runs/tiny
check "resolved config written" test -s "$R/config.ini"
check "log written" grep -q "epoch 2/2 done" "$R/log.txt"
check "metrics.csv has header + 2 rows" test "$(wc -l < "$R/metrics.csv")" -eq 3
ck=$(ls "$R"/checkpoints/step-*[0-9].safetensors | tail -1)
check "checkpoint pair written" test -s "${ck%.safetensors}.state.safetensors"
acc_train=$(grep "epoch 2/2 done" <<<"$out" | grep -oE "test_acc=[0-9.]+")
acc_eval=$("$PLUMB" eval "$T/tiny.ini" --checkpoint "$ck" | grep -oE "test_acc=[0-9.]+")
echo "    train: $acc_train  eval: $acc_eval"
check "plumb eval reproduces the final test accuracy" test "$acc_train" = "$acc_eval"
check "epoch lines carry loader_wait=" grep -q "loader_wait=[0-9.]*s" <<<"$out"
for tta in flip tencrop; do
  e=$("$PLUMB" eval "$T/tiny.ini" --checkpoint "$ck" --set augment.tta=$tta 2>&1)
  echo "    tta=$tta: $(grep -oE "test_loss=[0-9.]+ test_acc=[0-9.]+" <<<"$e")"
  check "plumb eval with [augment] tta = $tta" grep -q "256 test images" <<<"$e"
done
ft=$("$PLUMB" train "$T/tiny.ini" --set run.name=ft --set model.init_from="$ck" --set train.max_steps=1 2>&1)
ftloss=$(grep -m1 -oE "\(total 1\) loss [0-9.]+" <<<"$ft" | awk '{print $NF}')
echo "    first-step loss from scratch $first, from init_from $ftloss"
check "init_from starts from the trained weights" awk -v a="$first" -v b="$ftloss" 'BEGIN{exit !(b < 0.6*a)}'
expect_fail "init_from a missing file" "nothere.safetensors" \
  "$PLUMB" train "$T/tiny.ini" --set run.name=ft2 --set model.init_from="$T/nothere.safetensors"
sum_before=$(cat "$R"/checkpoints/* | sha256sum)
out2=$("$PLUMB" train "$T/tiny.ini" 2>&1); rc2=$?
grep "already complete" <<<"$out2" | cut -c1-150 | sed 's/^/    /'
check "re-running a finished run exits 0 (got $rc2)" test $rc2 -eq 0
check "  and says it is complete" grep -q "is already complete" <<<"$out2"
check "  without training a step" eval '! grep -qE "^epoch [0-9]+/[0-9]+ step|checkpoint:" <<<"$out2"'
check "  and changes no checkpoint" test "$(cat "$R"/checkpoints/* | sha256sum)" = "$sum_before"
check "  nor metrics.csv" test "$(wc -l < "$R/metrics.csv")" -eq 3
expect_fail "resume = false refuses to overwrite a run" "already holds checkpoints" \
  "$PLUMB" train "$T/tiny.ini" --set run.resume=false
check "and the checkpoint is still there" test -s "$ck"
finish
