#!/usr/bin/env bash
# cluster.sh: a single-node slurm cluster that lives in one folder, for trying the slurm
# workflow on one machine and for test/cli/test_slurm.sh.
#
#   bash scripts/slurm/cluster.sh start DIR    munged, slurmctld and slurmd with everything under
#                                              DIR; prints the line to source for the clients
#   bash scripts/slurm/cluster.sh status DIR   daemons alive?, sinfo, squeue
#   bash scripts/slurm/cluster.sh stop DIR     ends what start started and every process of the
#                                              cluster's jobs; waits for them; idempotent
#   bash scripts/slurm/cluster.sh env DIR      prints `export SLURM_CONF=DIR/slurm.conf`
#
# Clients (sbatch, squeue, scontrol, scancel) need only SLURM_CONF=DIR/slurm.conf. It installs
# nothing: Debian's slurmctld slurmd slurm-client munge (`bash scripts/setup.sh --slurm`
# installs them). Under DIR: munge/ (key, socket, pid, log, seed), slurm.conf, state/, spool/,
# log/ (daemon logs), pids/, jobcomp.txt (one line per finished job), task_prolog.sh.
# Ports: two free TCP ports chosen at start. Root runs jobs as root; another user runs the
# daemons and the jobs as itself (SlurmUser = SlurmdUser = that user).
#
# Every process of the cluster carries PLUMB_SLURM_CLUSTER=DIR in its environment: the daemons
# from start, slurmstepd from slurmd, the jobs from the TaskProlog. Under proctrack/linuxproc a
# job's child whose parent exited escapes the job; stop finds it by that marker.
set -uo pipefail

die() { echo "cluster.sh: error: $*" >&2; exit 1; }
usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

(($# == 2)) || usage
CMD=$1
[[ $CMD != start ]] || mkdir -p "$2" 2> /dev/null || die "cannot create $2"
[[ -d $2 ]] || { [[ $CMD == stop ]] && exit 0; die "no cluster folder $2"; }
DIR=$(cd "$2" && pwd) || die "cannot enter $2"
CONF=$DIR/slurm.conf
MARK="PLUMB_SLURM_CLUSTER=$DIR"

# The tools start needs; stop and status work without them.
need_tools() {
  local t miss=()
  for t in munged mungekey slurmctld slurmd sinfo scontrol; do
    command -v "$t" > /dev/null 2>&1 || [[ -x /usr/sbin/$t ]] || miss+=("$t")
  done
  ((${#miss[@]} == 0)) || die "not installed: ${miss[*]} (Debian: apt-get install --no-install-recommends slurmctld slurmd slurm-client munge, or bash scripts/setup.sh --slurm)"
}
sbin() { command -v "$1" 2>/dev/null || echo "/usr/sbin/$1"; }

# The pids of live processes whose environment holds the cluster's marker (not this script or
# its ancestors: a client shell may carry it too).
marked_pids() {
  local p e self=" " q=$$
  while [[ -n $q && $q != 0 && $q != 1 ]]; do
    self+="$q "
    q=$(awk '{print $4}' "/proc/$q/stat" 2>/dev/null) || break
  done
  for e in /proc/[0-9]*/environ; do
    p=${e#/proc/}
    p=${p%/environ}
    [[ $self == *" $p "* ]] && continue
    { tr '\0' '\n' < "$e"; } 2> /dev/null | grep -qxF "$MARK" && echo "$p"
  done
}
recorded_pids() {
  local f
  for f in "$DIR"/pids/*.pid "$DIR"/munge/munged.pid; do
    [[ -r $f ]] && head -c 32 "$f" | tr -dc '0-9' && echo
  done | grep -v '^$'
}
alive() { kill -0 "$1" 2> /dev/null && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]; }

# The local TCP ports in use (from /proc/net/tcp{,6}; hex there, converted in bash: mawk has no
# strtonum).
hexports() {
  local h
  awk 'FNR > 1 { split($2, a, ":"); print a[2] }' /proc/net/tcp /proc/net/tcp6 2> /dev/null |
    while read -r h; do [[ $h =~ ^[0-9A-Fa-f]+$ ]] && echo $((16#$h)); done
}
# free_port EXCLUDE: a TCP port nobody listens on or uses, from a pseudo-random start.
free_port() {
  local used p i
  used=" $(hexports | sort -u | tr '\n' ' ') $1 "
  p=$((20000 + (RANDOM * 32768 + RANDOM + $$) % 30000))
  for ((i = 0; i < 30000; i++, p = p >= 49999 ? 20000 : p + 1)); do
    [[ $used == *" $p "* ]] && continue
    # nothing answers there either (a socket /proc did not list, another namespace's forward)
    if ! (exec 3<> "/dev/tcp/127.0.0.1/$p") 2> /dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

write_conf() {
  local host cpus mem user port_ctl port_d
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
  user=$(id -un)
  port_ctl=$(free_port "") || die "no free TCP port"
  port_d=$(free_port "$port_ctl") || die "no free TCP port"
  cat > "$DIR/task_prolog.sh" <<EOF
#!/bin/sh
# TaskProlog (cluster.sh): marks every job process as this cluster's, for cluster.sh stop.
echo "export $MARK"
EOF
  chmod 0755 "$DIR/task_prolog.sh"
  cat > "$CONF" <<EOF
# slurm.conf written by scripts/slurm/cluster.sh start $DIR
ClusterName=plumbtest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=$user
SlurmdUser=$user
SlurmctldPort=$port_ctl
SlurmdPort=$port_d
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket,cred_expire=10
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/pids/slurmctld.pid
SlurmdPidFile=$DIR/pids/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
TaskProlog=$DIR/task_prolog.sh
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
JobRequeue=1
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/jobcomp.txt
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_interval=1,bf_interval=1
MinJobAge=3600
KillWait=10
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

# The end of each daemon log, for a failed start.
show_logs() {
  local f
  for f in "$DIR"/munge/munged.log "$DIR"/log/slurmctld.log "$DIR"/log/slurmd.log; do
    [[ -s $f ]] && { echo "--- $f" >&2; tail -15 "$f" >&2; }
  done
}

start() {
  need_tools
  local p
  for p in $(recorded_pids); do
    alive "$p" && die "$DIR already runs a cluster (pid $p): cluster.sh stop $DIR first"
  done
  mkdir -p "$DIR"/munge "$DIR"/state "$DIR"/spool "$DIR"/log "$DIR"/pids || die "cannot write $DIR"
  # munged wants its socket folder reachable (o+x) and not world-writable; DIR's ancestors
  # may be 0700 (mktemp -d): --force accepts them, the folders it owns are set here.
  chmod 0755 "$DIR" "$DIR/munge"
  rm -f "$DIR"/munge/munge.socket* "$DIR"/pids/*.pid "$DIR"/munge/munged.pid
  [[ -s $DIR/munge/munge.key ]] || "$(sbin mungekey)" --create --keyfile="$DIR/munge/munge.key" ||
    die "mungekey could not create $DIR/munge/munge.key"
  chmod 0600 "$DIR/munge/munge.key"
  env "$MARK" "$(sbin munged)" --force --socket="$DIR/munge/munge.socket" --key-file="$DIR/munge/munge.key" \
    --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed" ||
    { show_logs; die "munged did not start"; }
  write_conf
  export SLURM_CONF=$CONF
  env "$MARK" "$(sbin slurmctld)" -f "$CONF" || { show_logs; stop; die "slurmctld did not start"; }
  env "$MARK" "$(sbin slurmd)" -f "$CONF" -N "$(hostname -s)" || { show_logs; stop; die "slurmd did not start"; }
  # Up when the node takes jobs (at most 30 s).
  local st=""
  for _ in $(seq 1 300); do
    st=$(sinfo -h -N -o %T 2> /dev/null | head -1)
    [[ $st == idle* || $st == mixed* ]] && break
    sleep 0.1
  done
  if [[ $st != idle* && $st != mixed* ]]; then
    show_logs
    stop
    die "the node did not come up (state '${st:-none}') within 30 s"
  fi
  echo "cluster.sh: up in $DIR (slurmctld port $(sed -n 's/^SlurmctldPort=//p' "$CONF"), node $(hostname -s) $st)"
  echo "export SLURM_CONF=$CONF"
}

# Sends sig to pids, waits up to secs for them to end; echoes the ones left.
kill_wait() {
  local sig=$1 secs=$2 p left
  shift 2
  (($#)) || return 0
  kill -"$sig" "$@" 2> /dev/null
  for ((i = 0; i < secs * 10; i++)); do
    left=()
    for p in "$@"; do alive "$p" && left+=("$p"); done
    ((${#left[@]})) || return 0
    sleep 0.1
  done
  echo "${left[@]}"
}

stop() {
  local pids left
  # The daemons first (no job starts meanwhile), then what is left of the jobs and slurmstepd.
  # shellcheck disable=SC2046
  pids=$(recorded_pids; marked_pids)
  pids=$(echo "$pids" | sort -un | tr '\n' ' ')
  if [[ -n ${pids// /} ]]; then
    # shellcheck disable=SC2086
    left=$(kill_wait TERM 15 $pids)
    if [[ -n $left ]]; then
      echo "cluster.sh: still alive after SIGTERM and 15 s: $left; SIGKILL" >&2
      # shellcheck disable=SC2086
      left=$(kill_wait KILL 5 $left)
    fi
    # a job process that escaped after the first sweep (a child forked meanwhile)
    # shellcheck disable=SC2046
    left="$left $(kill_wait KILL 5 $(marked_pids))"
    [[ -n ${left// /} ]] && { echo "cluster.sh: could not end: $left" >&2; return 1; }
  fi
  rm -f "$DIR"/pids/*.pid "$DIR"/munge/munged.pid "$DIR"/munge/munge.socket*
  echo "cluster.sh: stopped $DIR"
}

status() {
  local f p rc=0
  for f in "$DIR"/munge/munged.pid "$DIR"/pids/slurmctld.pid "$DIR"/pids/slurmd.pid; do
    p=$( [[ -r $f ]] && tr -dc '0-9' < "$f")
    if [[ -n $p ]] && alive "$p"; then echo "$(basename "$f" .pid): running (pid $p)"
    else echo "$(basename "$f" .pid): not running"; rc=3; fi
  done
  if ((rc == 0)); then
    SLURM_CONF=$CONF sinfo
    SLURM_CONF=$CONF squeue
  fi
  local n
  n=$(marked_pids | wc -l)
  echo "processes of this cluster (daemons, slurmstepd, jobs): $n"
  return $rc
}

case $CMD in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *) usage ;;
esac
