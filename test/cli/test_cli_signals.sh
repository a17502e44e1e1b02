# Signals: SIGUSR1 (slurm's --signal=USR1@T), SIGHUP, SIGTERM and SIGINT each save a checkpoint
# at the next step boundary and exit 75; the run resumes to a result bit-identical to a straight
# run. A signal that arrives during a checkpoint write (delivered from inside fsync by
# fault_shim.c) waits for the write; a second signal outside a write kills at once (128+N) and
# leaves the existing checkpoints intact. [run] checkpoint_every_steps checkpoints mid-epoch.
source "$(dirname "$0")/lib.sh"
need_data
: "${PLUMB_FAULT_SHIM:?PLUMB_FAULT_SHIM must name the fault-injection shim, libpb_fault_shim.so}"
# Preloading the shim; an ASan build wants its runtime first in the link order otherwise.
SHIM=(LD_PRELOAD="$PLUMB_FAULT_SHIM" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0")
# One thread: steps of ~6 ms that do not slow to a crawl when the other core is busy.
tiny_config "[run]" "threads = 1" "[train]" "epochs = 20" # 16 steps per epoch, 320 in all
FINAL=checkpoints/step-0000000320

train() { "$PLUMB" train "$T/tiny.ini" --set run.name="$@"; } # train NAME [ARGS...]
# run_bg LOG [VAR=VALUE...] CMD...: start CMD in the background (its pid in $pid).
run_bg() {
  local log=$1
  shift
  env "$@" > "$log" 2>&1 &
  pid=$!
}
wait_for() { # wait_for TEXT LOG: until LOG holds TEXT (at most 60 s)
  for _ in $(seq 1 6000); do grep -qF "$1" "$2" 2>/dev/null && return 0; sleep 0.01; done
  return 1
}
saved_path() { sed -n 's/.*checkpoint saved to \(.*\.safetensors\); run the same command.*/\1/p' "$1" | tail -1; }
# ckpt_ok MODEL [CONFIG]: the pair is complete and `plumb eval` loads it.
ckpt_ok() {
  [[ -n $1 && -s $1 && -s ${1%.safetensors}.state.safetensors ]] &&
    "$PLUMB" eval "${2:-$T/tiny.ini}" --checkpoint "$1" > /dev/null 2>&1
}
same_final() { # same_final NAME: final model and optimizer state equal the straight run's
  cmp "$T/runs/straight/$FINAL.safetensors" "$T/runs/$1/$FINAL.safetensors" &&
    cmp "$T/runs/straight/$FINAL.state.safetensors" "$T/runs/$1/$FINAL.state.safetensors"
}
resumed() { (($1 == 0)) && [[ -n $2 ]] && grep -qF "resumed from $2" "$3"; } # resumed RC CKPT LOG
show() { grep -hE "$1" "${@:2}" | sed 's/^/    /'; }

train straight > "$T/straight.log" 2>&1
check "straight run exits 0" test $? -eq 0

# 1. Each signal: exit 75, the line naming the checkpoint, resume to the end, same result.
for sig in USR1 HUP TERM INT; do
  n=$(kill -l $sig)
  run_bg "$T/$sig.log" "$PLUMB" train "$T/tiny.ini" --set run.name=$sig
  wait_for "(total " "$T/$sig.log"
  kill -$sig $pid
  wait $pid
  rc=$?
  check "SIG$sig: exit 75 (got $rc)" test $rc -eq 75
  check "SIG$sig: logs 'interrupted (signal $n) at step S: checkpoint saved to PATH'" \
    grep -q "interrupted (signal $n) at step [0-9]*: checkpoint saved to" "$T/$sig.log"
  show interrupted "$T/$sig.log"
  p=$(saved_path "$T/$sig.log")
  check "SIG$sig: the named checkpoint is complete and loads" ckpt_ok "$p"
  train $sig > "$T/$sig.2.log" 2>&1
  check "SIG$sig: the same command resumes from it and exits 0 (got $?)" resumed $? "$p" "$T/$sig.2.log"
  check "SIG$sig + resume: bit-identical to the straight run" same_final $sig
done

# 2a. One SIGTERM inside the first periodic checkpoint's write (fsync of its first file): the
# write completes, then the run stops with 75.
run_bg "$T/held1.log" "${SHIM[@]}" PB_SHIM_MATCH=.safetensors.tmp. PB_SHIM_SIGNAL_AT_FSYNC=1:TERM \
  PB_SHIM_SLOW_FSYNC_MS=100 "$PLUMB" train "$T/tiny.ini" --set run.name=held1 --set run.checkpoint_every_steps=3
wait $pid
rc=$?
check "SIGTERM during a checkpoint write: exit 75 (got $rc)" test $rc -eq 75
check "SIGTERM during a checkpoint write: it did arrive mid-write" grep -q "fault_shim: signal 15 in fsync 1" "$T/held1.log"
show "fault_shim|interrupted" "$T/held1.log"
p=$(saved_path "$T/held1.log")
check "SIGTERM during a checkpoint write: the checkpoint is complete and loads" ckpt_ok "$p"
train held1 --set run.checkpoint_every_steps=3 > "$T/held1.2.log" 2>&1
check "SIGTERM during a checkpoint write: resumes from it, exit 0 (got $?)" resumed $? "$p" "$T/held1.2.log"
check "SIGTERM during a checkpoint write + resume: bit-identical to the straight run" same_final held1

# 2b. SIGINT, then a second SIGINT inside the write of the checkpoint the first one asked for:
# held until the checkpoint is complete, then exit 75.
run_bg "$T/held2.log" "${SHIM[@]}" PB_SHIM_MATCH=.safetensors.tmp. PB_SHIM_SIGNAL_AT_FSYNC=1:INT \
  PB_SHIM_SLOW_FSYNC_MS=100 "$PLUMB" train "$T/tiny.ini" --set run.name=held2 --set run.checkpoint_every=0
wait_for "(total " "$T/held2.log"
kill -INT $pid
wait $pid
rc=$?
check "second SIGINT during the save: exit 75 (got $rc)" test $rc -eq 75
check "second SIGINT during the save: it did arrive mid-write" grep -q "fault_shim: signal 2 in fsync 1" "$T/held2.log"
show "fault_shim|interrupted" "$T/held2.log"
p=$(saved_path "$T/held2.log")
check "second SIGINT during the save: the checkpoint is complete and loads" ckpt_ok "$p"
train held2 --set run.checkpoint_every=0 > "$T/held2.2.log" 2>&1
check "second SIGINT during the save: resumes from it, exit 0 (got $?)" resumed $? "$p" "$T/held2.2.log"
check "second SIGINT during the save + resume: bit-identical to the straight run" same_final held2

# 3. Two SIGINTs 50 ms apart inside one long step (~0.4 s): the second kills at once (130), no
# checkpoint of its own; the one written before (step 2) still loads and resumes. When the step
# boundary falls between the two (the run then saves and exits 75, as it should), try again.
cp "$T/tiny.ini" "$T/big.ini"
printf '[run]\ncheckpoint_every_steps = 2\n[model]\nchannels = 32,64\n[data]\nlimit_train = 2048\n' >> "$T/big.ini"
printf '[train]\nbatch_size = 512\nepochs = 3\n[optim]\nlr = 0.01\n' >> "$T/big.ini"
for attempt in 1 2 3; do
  B=$T/runs/big$attempt/checkpoints
  run_bg "$T/big$attempt.log" "$PLUMB" train "$T/big.ini" --set run.name=big$attempt
  wait_for "(total 3)" "$T/big$attempt.log"
  kill -INT $pid
  sleep 0.05
  kill -INT $pid
  wait $pid
  rc=$?
  echo "    attempt $attempt: exit $rc; checkpoints: $(cd "$B" && echo *)"
  ((rc == 75)) && grep -q "interrupted (signal 2)" "$T/big$attempt.log" || break
done
check "two SIGINTs in one step: dies of SIGINT, exit 130 (got $rc)" test $rc -eq 130
show "second stop signal" "$T/big$attempt.log"
check "two SIGINTs in one step: no 'interrupted' line" bash -c "! grep -q interrupted '$T/big$attempt.log'"
check "two SIGINTs in one step: no checkpoint of its own, no temp file" \
  test "$(cd "$B" && echo *)" = "step-0000000002.safetensors step-0000000002.state.safetensors"
check "two SIGINTs in one step: the step-2 checkpoint loads" ckpt_ok "$B/step-0000000002.safetensors" "$T/big.ini"
"$PLUMB" train "$T/big.ini" --set run.name=big$attempt --set train.max_steps=3 > "$T/big.2.log" 2>&1
check "two SIGINTs in one step: resumes from step 2, exit 0 (got $?)" \
  resumed $? "$B/step-0000000002.safetensors" "$T/big.2.log"

# 4. checkpoint_every_steps = 3 over 2 epochs of 16 steps: mid-epoch checkpoints at 3, 6, ...,
# 30 beside the epoch ends 16 and 32.
train every3 --set run.checkpoint_every_steps=3 --set run.keep_checkpoints=100 --set train.epochs=2 \
  > "$T/every3.log" 2>&1
rc=$?
check "checkpoint_every_steps = 3: exit 0 (got $rc)" test $rc -eq 0
got=$(cd "$T/runs/every3/checkpoints" && for f in step-*.state.safetensors; do
  s=${f#step-}; s=${s%%.*}; [[ -e step-$s.safetensors ]] && echo $((10#$s)); done | tr '\n' ' ')
echo "    complete checkpoints at steps: $got"
check "checkpoint_every_steps = 3: checkpoints at 3 6 9 12 15 16 18 21 24 27 30 32" \
  test "$got" = "3 6 9 12 15 16 18 21 24 27 30 32 "
check "checkpoint_every_steps = 3: the step-9 checkpoint loads" \
  ckpt_ok "$T/runs/every3/checkpoints/step-0000000009.safetensors"
finish
