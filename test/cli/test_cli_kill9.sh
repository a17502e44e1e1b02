# kill -9 at random moments (start-up, steps, checkpoint writes) and, through fault_shim.c,
# inside checkpoint writes: every complete checkpoint still loads, the next start loses at most
# one checkpoint interval and removes the leftovers (temp files, orphan state files), and the
# run still ends bit-identical to a straight run, with one metrics.csv row per epoch.
source "$(dirname "$0")/lib.sh"
need_data
: "${PLUMB_FAULT_SHIM:?PLUMB_FAULT_SHIM must name the fault-injection shim, libpb_fault_shim.so}"
# Preloading the shim; an ASan build wants its runtime first in the link order otherwise.
SHIM=(LD_PRELOAD="$PLUMB_FAULT_SHIM" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0")
EPOCHS=80 # 16 steps per epoch, a checkpoint every 2 steps
tiny_config "[run]" "threads = 1" "checkpoint_every_steps = 2" "[train]" "epochs = $EPOCHS"
RUN=$T/runs/tiny
CK=$RUN/checkpoints
FINAL=step-$(printf %010d $((EPOCHS * 16)))

# leftovers: one line per stale file in the run folder (a temp file, or a state file without
# its model file): "PATH INODE MTIME", so that a file of the same name written later differs.
leftovers() {
  {
    find "$RUN" -name '*.tmp.*'
    for s in "$CK"/step-*.state.safetensors; do [[ -e $s && ! -e ${s%.state.safetensors}.safetensors ]] && echo "$s"; done
  } 2> /dev/null | while read -r f; do stat -c '%n %i %y' "$f" 2> /dev/null; done
}
# still LIST: the files of a leftovers LIST that are still there, unchanged.
still() {
  local f rest
  while read -r f rest; do
    [[ -n $f && "$(stat -c '%n %i %y' "$f" 2> /dev/null)" == "$f $rest" ]] && echo "${f#"$RUN"/}"
  done <<< "$1"
}
# round LOG DELAY [VAR=VALUE...]: one start of the run, SIGKILLed after DELAY seconds (none:
# wait for it to end by itself); sets $rc and $pid.
round() {
  local log=$1 delay=$2
  shift 2
  env "$@" "$PLUMB" train "$T/tiny.ini" > "$log" 2>&1 &
  pid=$!
  [[ -n $delay ]] && sleep "$delay" && kill -9 $pid 2> /dev/null
  wait $pid 2> /dev/null
  rc=$?
}
L=0          # the last step logged before a kill, over all rounds so far
PENDING=""   # leftovers of the kills so far, which the next start must remove
BADLOAD=0    # complete checkpoints that did not load
# after_round TAG LOG: the checks after a round (its start, its kill), and one line of report.
after_round() {
  local tag=$1 log=$2 S="" where last n=0 f
  if grep -q "resumed from" "$log"; then
    S=$(sed -n 's/.*resumed from.*step \([0-9][0-9]*\).*/\1/p' "$log" | tail -1)
  elif grep -q "(total " "$log"; then
    S=0 # no checkpoint to resume from: a fresh start
  fi
  if [[ -n $S ]]; then
    check "$tag: resumed at step $S >= $L - 2 (the last step logged before the kill, less one interval)" \
      test "$S" -ge $((L - 2))
  fi
  if grep -q "(total \|^done" "$log"; then # past start-up: the stale files must be gone
    local left=$(still "$PENDING")
    check "$tag: the start removed the $(grep -c . <<< "$PENDING") stale file(s) of the kills before${left:+; left: $left}" \
      test -z "$left"
    [[ -n $PENDING ]] && check "$tag: the start logged 'removed stale'" grep -q "removed stale" "$log"
  fi
  last=$(sed -n 's/.*(total \([0-9][0-9]*\)).*/\1/p' "$log" | tail -1)
  ((${last:-0} > L)) && L=$last
  if ((rc == 0)); then where="finished"
  elif ls "$CK" 2> /dev/null | grep -q "\.tmp\.$pid$"; then where="killed in a checkpoint write"
  elif [[ -z $last ]]; then where="killed in start-up"
  else where="killed in steps"; fi
  for f in "$CK"/step-*[0-9].safetensors; do
    [[ -e $f && -e ${f%.safetensors}.state.safetensors ]] || continue
    n=$((n + 1))
    "$PLUMB" eval "$T/tiny.ini" --checkpoint "$f" > /dev/null 2>&1 || { BADLOAD=$((BADLOAD + 1)); echo "    does not load: $f"; }
  done
  PENDING=$(leftovers)
  printf '    %s: exit %s, %s; resumed at step %s, last step logged %s, %d complete checkpoint(s), leftovers: %s\n' \
    "$tag" "$rc" "$where" "${S:-?}" "${last:--}" $n "$(still "$PENDING" | tr '\n' ' ')"
}

"$PLUMB" train "$T/tiny.ini" --set run.name=straight > "$T/straight.log" 2>&1
check "straight run exits 0" test $? -eq 0

# 12 random kills; the shim's 3 ms fsyncs widen the checkpoint writes so that some kills land
# in them. RANDOM is seeded: the same delays every time.
RANDOM=2024
for i in $(seq 1 12); do
  ms=$((RANDOM % 2500))
  round "$T/r$i.log" "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))" "${SHIM[@]}" PB_SHIM_SLOW_FSYNC_MS=3
  after_round "round $i (kill after $ms ms)" "$T/r$i.log"
done
check "no round finished the run before its kill" bash -c "! grep -q '^done' $T/r*.log"

# 4 kills inside checkpoint writes: in the fsync of the k-th checkpoint file (state, model,
# state, ... of the checkpoints after the start), after its data and before its rename.
for k in 1 2 3 5; do
  round "$T/f$k.log" "" "${SHIM[@]}" PB_SHIM_MATCH=.safetensors.tmp. PB_SHIM_KILL_AT_FSYNC=$k
  check "kill in checkpoint file $k: SIGKILLed in that fsync (exit $rc)" grep -q "fault_shim: SIGKILL in fsync $k" "$T/f$k.log"
  check "kill in checkpoint file $k: it left its temp file" bash -c "ls '$CK' | grep -q '\.tmp\.$pid\$'"
  after_round "kill in checkpoint file $k" "$T/f$k.log"
done
check "every complete checkpoint loaded after every kill ($BADLOAD did not)" test $BADLOAD -eq 0

# A kill between an epoch's last step checkpoint (step 16, written after the epoch's last batch:
# checkpoint files 15 and 16) and its epoch-end checkpoint (file 17), after the epoch's row: the
# resume cuts the row off and writes it again, as the straight run wrote it.
E2=(--set train.epochs=2 --set run.name)
"$PLUMB" train "$T/tiny.ini" "${E2[@]}=straight2" > "$T/straight2.log" 2>&1
env "${SHIM[@]}" PB_SHIM_MATCH=.safetensors.tmp. PB_SHIM_KILL_AT_FSYNC=17 "$PLUMB" train "$T/tiny.ini" "${E2[@]}=edge" \
  > "$T/edge1.log" 2>&1
rc1=$?
"$PLUMB" train "$T/tiny.ini" "${E2[@]}=edge" > "$T/edge2.log" 2>&1
rc=$?
grep -h "SIGKILL\|resumed from" "$T/edge1.log" "$T/edge2.log" | sed 's/^/    /'
check "kill after the epoch's row: killed (exit $rc1), then completes (exit $rc)" test $rc1 -eq 137 -a $rc -eq 0
check "kill after the epoch's row: metrics.csv equals the straight run's but for the timings" \
  cmp <(cut -d, -f1-11 "$T/runs/straight2/metrics.csv") <(cut -d, -f1-11 "$T/runs/edge/metrics.csv")
cut -d, -f1-4 "$T/runs/edge/metrics.csv" | sed 's/^/    /'

# To the end: nothing stale left, the straight run's result, one metrics.csv row per epoch.
"$PLUMB" train "$T/tiny.ini" > "$T/final.log" 2>&1
rc=$?
check "the run completes (exit $rc)" test $rc -eq 0
after_round "final start" "$T/final.log"
check "nothing stale is left" test -z "$(leftovers)"
check "final model bit-identical to the straight run" \
  cmp "$T/runs/straight/checkpoints/$FINAL.safetensors" "$CK/$FINAL.safetensors"
check "final optimizer state bit-identical to the straight run" \
  cmp "$T/runs/straight/checkpoints/$FINAL.state.safetensors" "$CK/$FINAL.state.safetensors"
M=$RUN/metrics.csv
echo "    metrics.csv epochs: $(tail -n +2 "$M" | cut -d, -f1 | tr '\n' ' ')"
check "metrics.csv: one header, then one row per epoch 1..$EPOCHS in order, no duplicates" \
  test "$(cut -d, -f1 "$M" | tr '\n' ' ')" = "epoch $(seq -s ' ' 1 $EPOCHS) "
check "metrics.csv: no half row (every row has the header's fields)" \
  test "$(awk -F, '{print NF}' "$M" | sort -u | wc -l)" -eq 1
check "metrics.csv: the training and test columns equal the straight run's" \
  cmp <(cut -d, -f1-11 "$T/runs/straight/metrics.csv") <(cut -d, -f1-11 "$M")
finish
