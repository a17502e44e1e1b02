# [run] requeue without a cluster (a stand-in scontrol on PATH records its arguments): SIGUSR1
# under SLURM_JOB_ID saves the checkpoint, runs `scontrol requeue $SLURM_JOB_ID` and exits 75; a
# failing or missing scontrol is an error naming the command and its exit status, still 75;
# no scontrol without SLURM_JOB_ID, with requeue = false, or on another signal.
# test_slurm.sh runs the same on a real slurm cluster.
source "$(dirname "$0")/lib.sh"
need_data
tiny_config "[run]" "threads = 1" "[train]" "epochs = 20"
mkdir -p "$T/bin" "$T/nobin"
cat > "$T/bin/scontrol" <<'EOF'
#!/bin/sh
echo "$*" >> "$SCONTROL_CALLS"
exit "${SCONTROL_RC:-0}"
EOF
chmod +x "$T/bin/scontrol"

# stop NAME SIG [VAR=VALUE...]: train run NAME with requeue = true in the given environment,
# signal it once it trains, wait; its exit status in $rc, its output in $T/NAME.log.
stop() {
  local name=$1 sig=$2
  shift 2
  env PATH="$T/bin:$PATH" SCONTROL_CALLS="$T/$name.calls" "$@" \
    "$PLUMB" train "$T/tiny.ini" --set run.name="$name" --set run.requeue=true > "$T/$name.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 600); do grep -qF "(total " "$T/$name.log" 2> /dev/null && break; sleep 0.1; done
  kill -"$sig" $pid
  wait $pid
  rc=$?
  grep -hE "requeue|scontrol" "$T/$name.log" | cut -c1-150 | sed 's/^/    /'
}
calls() { cat "$T/$1.calls" 2> /dev/null; }
unset SLURM_JOB_ID SLURM_ARRAY_JOB_ID SLURM_ARRAY_TASK_ID SLURM_RESTART_COUNT

stop ok USR1 SLURM_JOB_ID=4242
check "SIGUSR1 in slurm job 4242: exit 75 (got $rc)" test $rc -eq 75
check "  checkpoint saved first" grep -q "interrupted (signal 10) at step [0-9]*: checkpoint saved" "$T/ok.log"
check "  ran 'scontrol requeue 4242' (got '$(calls ok)')" test "$(calls ok)" = "requeue 4242"
check "  logged it, in log.txt too" grep -q "^requeued slurm job 4242" "$T/runs/ok/log.txt"

stop arr USR1 SLURM_JOB_ID=4243 SLURM_ARRAY_JOB_ID=4240 SLURM_ARRAY_TASK_ID=3 SLURM_RESTART_COUNT=2
check "array task 4240_3 (job 4243): requeues its own job id (got '$(calls arr)')" test "$(calls arr)" = "requeue 4243"
check "  the log names the task and the restarts" grep -q "array task 4240_3, restarts so far 2" "$T/arr.log"

stop fail USR1 SLURM_JOB_ID=4242 SCONTROL_RC=3
check "scontrol fails: still exit 75 (got $rc)" test $rc -eq 75
check "  error naming the command and its exit status" \
  grep -q "error: scontrol requeue 4242 failed with exit status 3; the checkpoint is saved" "$T/fail.log"

# PATH without scontrol (plumb is started by its full path)
env PATH="$T/nobin" SLURM_JOB_ID=4242 "$PLUMB" train "$T/tiny.ini" --set run.name=missing --set run.requeue=true \
  > "$T/missing.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do grep -qF "(total " "$T/missing.log" 2> /dev/null && break; sleep 0.1; done
kill -USR1 $pid
wait $pid
rc=$?
grep -h "error" "$T/missing.log" | cut -c1-150 | sed 's/^/    /'
check "no scontrol on PATH: exit 75 (got $rc), error with exit status 127" \
  eval '((rc == 75)) && grep -q "error: scontrol requeue 4242: could not run scontrol (exit status 127" "$T/missing.log"'

stop nojob USR1
check "no SLURM_JOB_ID: exit 75 (got $rc), no scontrol (got '$(calls nojob)')" eval '((rc == 75)) && [[ -z $(calls nojob) ]]'
check "  says why" grep -q "SLURM_JOB_ID is not set (not a slurm job): nothing requeued" "$T/nojob.log"

stop term TERM SLURM_JOB_ID=4242
check "SIGTERM in a slurm job: exit 75 (got $rc), no scontrol (got '$(calls term)')" eval '((rc == 75)) && [[ -z $(calls term) ]]'

env PATH="$T/bin:$PATH" SCONTROL_CALLS="$T/off.calls" SLURM_JOB_ID=4242 \
  "$PLUMB" train "$T/tiny.ini" --set run.name=off > "$T/off.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do grep -qF "(total " "$T/off.log" 2> /dev/null && break; sleep 0.1; done
kill -USR1 $pid
wait $pid
rc=$?
check "[run] requeue = false (the default): exit 75 (got $rc), no scontrol (got '$(calls off)')" \
  eval '((rc == 75)) && [[ -z $(calls off) ]]'

expect_fail "[run] requeue takes a bool" "requeue" "$PLUMB" train "$T/tiny.ini" --set run.requeue=maybe
finish
