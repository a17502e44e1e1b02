#!/usr/bin/env bash
# halve.sh: successive halving (plumb halve) with each round a slurm job array.
#
#   bash scripts/slurm/halve.sh SWEEP_DIR --metric COLUMN [--eta 3] [--min-epochs R] [--max-epochs E] \
#        [-- SBATCH_OPTIONS...]
#
# SWEEP_DIR is what `plumb sweep` wrote. Run this where sbatch works: a login node (under tmux /
# screen / nohup), or as a small batch job of its own (sbatch --time=2-0 --wrap "bash
# scripts/slurm/halve.sh ..."). Per round:
#   1. `plumb halve SWEEP_DIR ... --plan` names the round, its epochs and its manifest rows;
#   2. `sbatch --array=ROWS array.sbatch SWEEP_DIR/manifest.csv --set train.epochs=EPOCHS` trains
#      them (array.sbatch: SIGUSR1 before the time limit, checkpoint, requeue, resume); a trial
#      kept from the round before resumes from its run folder and trains on to the new epochs;
#   3. when the array has left the queue, `plumb halve ... --close-round ROUND` records the trials
#      short of the round's epochs as failed (their output: SWEEP_DIR/halving/slurm-JOB_TASK.out);
#      plumb halve ranks the rest and keeps the best 1/eta for the next round.
# At the end `plumb halve` writes SWEEP_DIR/halving/result.csv and prints the ranking.
#
# Resumable: the state is plumb halve's (SWEEP_DIR/halving/state.csv), and each round's array job
# id is kept in SWEEP_DIR/halving/round-K.job: run the same command again after an interruption
# and it waits for a round still queued or running instead of submitting it twice.
# SBATCH_OPTIONS go to every round's sbatch (--time, --partition, --gres, --cpus-per-task, ...).
# The plumb binary: $PLUMB, else plumb on PATH, else build/plumb under this folder.
# HALVE_POLL: seconds between looks at the queue (default 30).
# Exit: 0 when the halving is over, 1 on an error (named), 2 on a usage error.
set -uo pipefail
die() { echo "halve.sh: error: $*" >&2; exit "${2:-1}"; }
usage="usage: bash scripts/slurm/halve.sh SWEEP_DIR --metric COLUMN [--eta N] [--min-epochs R] [--max-epochs E] [-- SBATCH_OPTIONS...]"
(($# >= 1)) || die "$usage" 2
DIR=$1
shift
HALVE=()
while (($#)); do
  case $1 in
    --) shift; break ;;
    --metric | --eta | --min-epochs | --max-epochs)
      (($# >= 2)) || die "$1 needs a value ($usage)" 2
      HALVE+=("$1" "$2"); shift 2 ;;
    *) die "unknown option '$1' ($usage)" 2 ;;
  esac
done
SBATCH_OPTS=("$@")
[[ -r $DIR/manifest.csv ]] || die "$DIR/manifest.csv: no such file (SWEEP_DIR is a folder plumb sweep wrote)" 2
DIR=$(cd "$DIR" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
if [[ -z ${PLUMB:-} ]]; then
  PLUMB=$(command -v plumb || echo "$HERE/../../build/plumb")
fi
[[ -x $PLUMB ]] || die "no plumb binary at $PLUMB (set PLUMB)"
export PLUMB
for t in sbatch squeue; do command -v "$t" > /dev/null || die "$t is not on PATH: run this where slurm's commands are"; done
POLL=${HALVE_POLL:-30}
mkdir -p "$DIR/halving" || die "cannot create $DIR/halving"

# gone JOB: 0 once the job (every task of the array) has left the queue; 1 while any is queued
# or running. A controller that does not answer is waited for, not taken for an empty queue.
gone() {
  local out rc tries=0
  while :; do
    out=$(squeue -h -j "$1" -o %i 2>&1)
    rc=$?
    if ((rc == 0)); then [[ -z $out ]]; return; fi
    [[ $out == *"Invalid job id"* ]] && return 0 # purged from the controller: long done
    tries=$((tries + 1))
    ((tries % 10 == 1)) && echo "halve.sh: squeue -j $1 failed ($out); retrying" >&2
    sleep "$POLL"
  done
}

while :; do
  plan=$("$PLUMB" halve "$DIR" "${HALVE[@]}" --plan 2> "$DIR/halving/plan.err")
  rc=$?
  if ((rc != 0)); then
    cat "$DIR/halving/plan.err" >&2
    die "plumb halve --plan failed (exit $rc)"
  fi
  [[ -n $plan ]] || break # the halving is over
  read -r round epochs rows <<< "$plan"
  [[ $round =~ ^[0-9]+$ && $epochs =~ ^[0-9]+$ && $rows =~ ^[0-9,]+$ ]] || die "plumb halve --plan printed '$plan'"
  jobf=$DIR/halving/round-$round.job # "JOB EPOCHS ROWS" of the array submitted for this round
  job=""
  if [[ -s $jobf ]]; then
    read -r job jepochs jrows < "$jobf"
    if [[ $jepochs != "$epochs" || $jrows != "$rows" ]]; then
      job="" # from another plan (the state was reset): not this round's
    elif gone "$job"; then
      # it ended before this script saw it end: close the round as below
      echo "halve.sh: round $round: array job $job has ended"
      "$PLUMB" halve "$DIR" "${HALVE[@]}" --close-round "$round" || die "plumb halve --close-round $round failed"
      continue
    else
      echo "halve.sh: round $round: array job $job is still in the queue: waiting for it"
    fi
  fi
  if [[ -z $job ]]; then
    ntr=$(tr ',' '\n' <<< "$rows" | wc -l)
    job=$(sbatch --parsable --array="$rows" --job-name="halve-r$round" --chdir="$DIR/halving" \
      --output="$DIR/halving/slurm-%A_%a.out" "${SBATCH_OPTS[@]}" \
      "$HERE/array.sbatch" "$DIR/manifest.csv" --set "train.epochs=$epochs") || die "sbatch failed for round $round"
    job=${job%%;*}
    echo "$job $epochs $rows" > "$jobf.tmp" && mv "$jobf.tmp" "$jobf"
    echo "halve.sh: round $round: $ntr trials to $epochs epochs: array job $job (rows $rows)"
  fi
  until gone "$job"; do sleep "$POLL"; done
  echo "halve.sh: round $round: array job $job has ended"
  "$PLUMB" halve "$DIR" "${HALVE[@]}" --close-round "$round" || die "plumb halve --close-round $round failed"
done
"$PLUMB" halve "$DIR" "${HALVE[@]}"
