# The slurm workflow on a real single-node cluster (scripts/slurm/cluster.sh in a temp folder):
# an array of three short trainings over a manifest (scripts/slurm/array.sbatch), [run] requeue
# = true; task 1 gets SIGUSR1 mid-run (scancel --signal=USR1 --batch, as slurm's --signal=B:USR1
# would), checkpoints, requeues itself and exits 75; the requeued task resumes; all three end
# COMPLETED and the interrupted task's final checkpoint is bit-identical to the same config
# trained straight without slurm. A task id past the manifest's rows fails naming the manifest
# and its row count; a finished task submitted again does not train. Successive halving runs its
# rounds as arrays (scripts/slurm/halve.sh), survives being stopped, and ranks as plumb halve does
# locally.
# Skips (77) where slurm is not installed (bash scripts/setup.sh --slurm installs it) or its
# daemons cannot start here.
source "$(dirname "$0")/lib.sh"
need_data
SL=$PLUMB_SRC/scripts/slurm
t_start=$SECONDS
miss=()
for t in munged mungekey slurmctld slurmd sbatch scontrol scancel squeue sinfo; do
  command -v "$t" > /dev/null 2>&1 || [[ -x /usr/sbin/$t ]] || miss+=("$t")
done
if ((${#miss[@]})); then
  echo "skipped: slurm is not installed (missing ${miss[*]}; bash scripts/setup.sh --slurm installs" \
    "slurmctld slurmd slurm-client munge)"
  exit 77
fi
CL=$T/cluster
trap 'bash "$SL/cluster.sh" stop "$CL" > /dev/null 2>&1; rm -rf "$T"' EXIT
if ! bash "$SL/cluster.sh" start "$CL" > "$T/start.log" 2>&1; then
  sed 's/^/    /' "$T/start.log"
  echo "skipped: the slurm daemons did not start here (above)"
  exit 77
fi
sed 's/^/    /' "$T/start.log"
export SLURM_CONF=$CL/slurm.conf

# ---- the sweep: three configs (seeds 1..3) in $T/sweep, a manifest naming them relatively.
# One op thread and one loader worker: each task holds one of the node's CPUs.
mkdir -p "$T/sweep" "$T/out"
for i in 0 1 2; do
  cat > "$T/sweep/trial$i.ini" <<INI
[run]
name = trial$i
out_dir = $T/runs
seed = $((i + 1))
device = cpu
threads = 1
log_interval = 4
checkpoint_every_steps = 4
requeue = true
[data]
dir = $DATA
limit_train = 1024
limit_test = 256
[loader]
workers = 1
[model]
arch = mlp
hidden = 256,256
[train]
epochs = 3
batch_size = 8
[optim]
name = sgd
lr = 0.02
momentum = 0.9
INI
done
{
  echo "trial,run.seed,config"
  for i in 0 1 2; do echo "$i,$((i + 1)),trial$i.ini"; done
} > "$T/sweep/manifest.csv"

# The reference: task 1's config trained straight, without slurm (meanwhile, in the background).
"$PLUMB" train "$T/sweep/trial1.ini" --set run.out_dir="$T/ref" > "$T/ref.log" 2>&1 &
ref_pid=$!

# job_field JOBID FIELD: FIELD=value from `scontrol show job -o` (one line per array task).
job_field() { scontrol show job -o "$1" 2> /dev/null | grep -oE "(^| )$2=[^ ]*" | head -1 | cut -d= -f2; }
# wait_done JOBID... : until each is in a final state (at most 150 s); 1 on a timeout.
wait_done() {
  local j s n
  for _ in $(seq 1 750); do
    n=0
    for j in "$@"; do
      s=$(job_field "$j" JobState)
      [[ $s =~ ^(COMPLETED|FAILED|CANCELLED|TIMEOUT|OUT_OF_MEMORY|NODE_FAIL|PREEMPTED|BOOT_FAIL|DEADLINE)$ ]] && n=$((n + 1))
    done
    ((n == $#)) && return 0
    sleep 0.2
  done
  return 1
}
wait_for() { # wait_for TEXT FILE SECONDS: until FILE holds TEXT
  for _ in $(seq 1 $(($3 * 10))); do grep -qF -- "$1" "$2" 2> /dev/null && return 0; sleep 0.1; done
  return 1
}

cd "$T/out" || exit 1 # the submit folder: slurm-A_N.out land here
A=$(PLUMB=$PLUMB sbatch --parsable --array=0-2 "$SL/array.sbatch" "$T/sweep/manifest.csv" 2> "$T/sbatch.err")
check "sbatch --array=0-2 array.sbatch manifest.csv submits (job '$A')" test -n "$A"
[[ -n $A ]] || { cat "$T/sbatch.err"; finish; }
O1=$T/out/slurm-${A}_1.out

# ---- task 1: SIGUSR1 to its batch shell once it has trained a few steps.
if wait_for "(total 8)" "$O1" 90; then
  scancel --signal=USR1 --batch "${A}_1"
  check "scancel --signal=USR1 --batch ${A}_1" test $? -eq 0
else
  check "task 1 started training within 90 s" false
  sed 's/^/    /' "$O1" 2> /dev/null | tail -5
fi
wait_done "${A}_0" "${A}_1" "${A}_2"
check "the array finished within 150 s" test $? -eq 0
for i in 0 1 2; do
  s=$(job_field "${A}_$i" JobState)
  check "task $i: COMPLETED (got $s, exit $(job_field "${A}_$i" ExitCode))" test "$s" = COMPLETED
done
grep -hE "array.sbatch: task|interrupted|requeue|resumed|^done" "$O1" | cut -c1-160 | sed 's/^/    /'
check "task 1: plumb stopped on SIGUSR1 with a checkpoint" grep -q "interrupted (signal 10) at step [0-9]*: checkpoint saved" "$O1"
check "task 1: it ran scontrol requeue on its own job id" \
  grep -q "\[run\] requeue: scontrol requeue $(job_field "${A}_1" JobId) for slurm job" "$O1"
check "task 1: requeued" grep -q "^requeued slurm job" "$O1"
check "task 1: the second attempt (SLURM_RESTART_COUNT 1) resumed from the checkpoint" \
  eval 'grep -q "restart 1," "$O1" && grep -q "^resumed from .*step-" "$O1"'
check "task 1: scontrol show job says Restarts=1" test "$(job_field "${A}_1" Restarts)" = 1
check "task 1: the output file kept both attempts (--open-mode=append)" test "$(grep -c "array.sbatch: task" "$O1")" -eq 2
for i in 0 2; do
  check "task $i: not interrupted, trained to the end" \
    eval "! grep -q interrupted '$T/out/slurm-${A}_$i.out' && grep -q '^done: 3 epochs' '$T/out/slurm-${A}_$i.out'"
done
ncomp=$(grep -o " Name=plumb-array JobState=COMPLETED " "$CL/jobcomp.txt" 2> /dev/null | wc -l)
check "the jobcomp file lists three COMPLETED tasks (got ${ncomp:-0})" test "${ncomp:-0}" -eq 3

wait $ref_pid
check "the reference run (no slurm) exits 0" test $? -eq 0
fin=$(ls "$T/ref/trial1/checkpoints/"step-*[0-9].safetensors 2> /dev/null | tail -1)
fin=$(basename "${fin:-none}" .safetensors)
echo "    final checkpoint $fin"
check "task 1's final model is bit-identical to the straight run's" \
  cmp "$T/ref/trial1/checkpoints/$fin.safetensors" "$T/runs/trial1/checkpoints/$fin.safetensors"
check "  and its optimizer state" \
  cmp "$T/ref/trial1/checkpoints/$fin.state.safetensors" "$T/runs/trial1/checkpoints/$fin.state.safetensors"

# ---- a task id past the manifest's rows; the finished task 1 submitted again.
sum_before=$(cat "$T/runs/trial1/checkpoints/"* | sha256sum)
B=$(PLUMB=$PLUMB sbatch --parsable --array=3 "$SL/array.sbatch" "$T/sweep/manifest.csv")
C=$(PLUMB=$PLUMB sbatch --parsable --array=1 "$SL/array.sbatch" "$T/sweep/manifest.csv")
D=$(PLUMB=$PLUMB sbatch --parsable "$SL/run.sbatch" "$T/sweep/trial0.ini")
# a job whose child outlives it (proctrack/linuxproc lets it escape): cluster.sh stop ends it
E=$(sbatch --parsable --output=/dev/null --wrap "sleep 600 & echo \$! > '$T/escaped.pid'")
wait_done "${B}_3" "${C}_1" "$D" "$E"
check "all four finished within 150 s" test $? -eq 0
check "task 3 of 3 rows: FAILED, exit 2 (got $(job_field "${B}_3" JobState) $(job_field "${B}_3" ExitCode))" \
  test "$(job_field "${B}_3" JobState) $(job_field "${B}_3" ExitCode)" = "FAILED 2:0"
grep -h error "$T/out/slurm-${B}_3.out" | sed 's/^/    /'
check "  its error names the manifest and the row count" \
  grep -q "error: $T/sweep/manifest.csv has 3 data rows (task ids 0..2, 0-based); task 3 is out of range" \
  "$T/out/slurm-${B}_3.out"
check "the finished task submitted again: COMPLETED (got $(job_field "${C}_1" JobState))" \
  test "$(job_field "${C}_1" JobState)" = COMPLETED
grep -h "already complete" "$T/out/slurm-${C}_1.out" | cut -c1-120 | sed 's/^/    /'
check "  it says the run is complete" grep -q "is already complete" "$T/out/slurm-${C}_1.out"
check "  and trained nothing (checkpoints unchanged)" \
  test "$(cat "$T/runs/trial1/checkpoints/"* | sha256sum)" = "$sum_before"

check "run.sbatch on the finished trial 0: COMPLETED, says complete" \
  eval '[[ $(job_field "$D" JobState) == COMPLETED ]] && grep -q "is already complete" "$T/out/slurm-$D.out"'

# ---- data-parallel under srun --mpi=pmix (scripts/slurm/dist.sbatch, --ntasks=2): SIGUSR1 to
# the ranks mid-run (scancel --signal=USR1, as --signal=USR1@300 would), the ranks stop at one
# step, rank 0 checkpoints and requeues the job, the requeued job resumes; the final parameters
# are bit-identical to the same 2 ranks trained straight under mpirun.
same_tensors() { "${PYTHON:-/usr/bin/python3}" "$PLUMB_SRC/test/cli/st_compare.py" "$1" "$2" same; } # bit for bit
if command -v mpirun > /dev/null && "$PLUMB" info 2>&1 | grep -q "^MPI: built"; then
  export ASAN_OPTIONS=${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}detect_leaks=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  DSET=(--set run.name=dp --set run.out_dir="$T/druns" --set run.requeue=true --set train.epochs=20
    --set train.batch_size=16 --set data.limit_train=2048 --set run.log_interval=1)
  J=$(PLUMB=$PLUMB sbatch --parsable --ntasks=2 "$SL/dist.sbatch" "$T/sweep/trial0.ini" "${DSET[@]}")
  check "sbatch --ntasks=2 dist.sbatch submits (job '$J')" test -n "$J"
  if wait_for "(total 200)" "$T/out/slurm-$J.out" 90; then scancel --signal=USR1 "$J"; fi
  wait_done "$J"
  grep -hE "dist.sbatch: job|data-parallel|interrupted|requeue|resumed|^done" "$T/out/slurm-$J.out" | cut -c1-150 | sed 's/^/    /'
  check "  2 ranks under srun" grep -q "data-parallel: 2 ranks (srun; CPU), 8 samples each of a global batch of 16" "$T/out/slurm-$J.out"
  check "  the ranks stopped on SIGUSR1, rank 0 requeued the job" \
    eval "grep -q 'interrupted (signal 10) at step' '$T/out/slurm-$J.out' && grep -q '^requeued slurm job $J' '$T/out/slurm-$J.out'"
  check "  the requeued job resumed and finished (COMPLETED, Restarts=1)" \
    eval "grep -q '^resumed from ' '$T/out/slurm-$J.out' && [[ \$(job_field $J JobState) == COMPLETED && \$(job_field $J Restarts) == 1 ]]"
  mpirun -np 2 --bind-to none --oversubscribe "$PLUMB" train "$T/sweep/trial0.ini" "${DSET[@]}" --set run.name=dpref \
    --set run.requeue=false > "$T/dpref.log" 2>&1
  check "  bit-identical to the same 2 ranks straight under mpirun" same_tensors \
    "$T/druns/dp/checkpoints/step-0000002560.safetensors" "$T/druns/dpref/checkpoints/step-0000002560.safetensors"
else
  echo "    (the data-parallel part needs MPI: skipped)"
fi

# ---- successive halving with each round a job array (scripts/slurm/halve.sh): 4 trials over
# optim.lr, trial 2 failing (its data folder is missing), eta 2: round 0 trains all to 1 epoch,
# round 1 the best 2 of the 3 that trained to 2. halve.sh is stopped while round 0's array is in
# the queue and started again: it waits for that array instead of submitting it twice. The
# ranking equals plumb halve's local run over the same sweep.
mkdir -p "$T/nodata"
cat > "$T/hbase.ini" <<INI
[run]
name = base
device = cpu
threads = 1
seed = 1
log_interval = 100
[data]
dir = $DATA
limit_train = 400
limit_test = 200
[loader]
workers = 1
[model]
arch = mlp
hidden = 16
[train]
epochs = 2
batch_size = 50
[optim]
name = sgd
lr = 0.01
INI
cat > "$T/hspec.ini" <<INI
[sweep]
base = $T/hbase.ini
mode = zip
[vary]
optim.lr = 0.01, 0.05, 0.1, 0.2
data.dir = $DATA, $T/nodata, $DATA, $DATA
INI
"$PLUMB" sweep "$T/hspec.ini" --out "$T/hs" > /dev/null && "$PLUMB" sweep "$T/hspec.ini" --out "$T/hl" > /dev/null
check "two copies of the 4-trial sweep" test -s "$T/hs/manifest.csv" -a -s "$T/hl/manifest.csv"
HALVE_POLL=1 bash "$SL/halve.sh" "$T/hs" --metric test_acc --eta 2 > "$T/hs1.log" 2>&1 &
hpid=$!
wait_for "array job" "$T/hs1.log" 60
kill -TERM $hpid 2> /dev/null
wait $hpid 2> /dev/null
J0=$(cut -d' ' -f1 "$T/hs/halving/round-0.job" 2> /dev/null)
check "halve.sh submitted round 0 as one array (job ${J0:-none}: $(cat "$T/hs/halving/round-0.job" 2> /dev/null))" \
  test "$(cat "$T/hs/halving/round-0.job" 2> /dev/null)" = "$J0 1 0,1,2,3"
HALVE_POLL=1 timeout 300 bash "$SL/halve.sh" "$T/hs" --metric test_acc --eta 2 > "$T/hs2.log" 2>&1
check "halve.sh started again finishes the halving (exit $?)" test -s "$T/hs/halving/result.csv"
sed 's/^/    /' "$T/hs2.log" | grep -E "halve.sh|failed|closed|^ *[0-9]+ " | cut -c1-150
check "  it took up round 0's array instead of submitting it again" \
  eval "grep -qE 'round 0: array job $J0 (is still in the queue|has ended)' '$T/hs2.log' && ! grep -q 'round 0: .* trials to' '$T/hs2.log'"
check "  round 1: the best 2 trials to 2 epochs, as one array" grep -qE "round 1: 2 trials to 2 epochs: array job [0-9]+ \(rows [0-9],[0-9]\)" "$T/hs2.log"
check "  trial 2 failed in round 0; its slurm output names the missing folder" \
  eval "grep -q '^0,2,1,nan,failed' '$T/hs/halving/state.csv' && grep -q '$T/nodata' $T/hs/halving/slurm-${J0}_1.out"
"$PLUMB" halve "$T/hl" --metric test_acc --eta 2 --jobs 2 > "$T/hl.log" 2>&1
check "the same halving run locally ranks the trials the same, to the same figures" \
  diff "$T/hs/halving/result.csv" "$T/hl/halving/result.csv"
sed 's/^/    /' "$T/hs/halving/result.csv"

esc=$(cat "$T/escaped.pid" 2> /dev/null)
check "the escaped child (pid ${esc:-?}) outlived its job" kill -0 "${esc:-0}"
cd "$T" || exit 1
bash "$SL/cluster.sh" stop "$CL" | sed 's/^/    /'
# ended: gone, or a zombie its new parent (init or a subreaper) has not reaped yet
check "cluster.sh stop ended it" eval '[[ ! -e /proc/${esc:-0}/stat || $(awk "{print \$3}" "/proc/${esc:-0}/stat" 2> /dev/null) == Z ]]'
check "cluster.sh stop leaves no process of the cluster" \
  test "$(bash "$SL/cluster.sh" status "$CL" | grep -c "processes of this cluster.*: 0")" -eq 1
echo "    $((SECONDS - t_start)) s"
finish
