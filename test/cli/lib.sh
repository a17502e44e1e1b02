# lib.sh: helpers for the CLI tests (sourced). Needs PLUMB (the binary) and PLUMB_SRC.
set -u
: "${PLUMB:?PLUMB must name the plumb binary}"
: "${PLUMB_SRC:?PLUMB_SRC must name the source tree}"
FAILS=0
T=$(mktemp -d "${TMPDIR:-/tmp}/plumb-cli.XXXXXX")
trap 'rm -rf "$T"' EXIT
# PLUMB_DATA: another folder holding the four Fashion-MNIST .gz files (the GPU machine has no
# Debian package; scripts/gpu-check.sh points this at the copy it carries).
DATA=${PLUMB_DATA:-/usr/share/datasets/fashion-mnist}

need_data() {
  if [[ ! -r $DATA/train-images-idx3-ubyte.gz ]]; then
    echo "skipped: $DATA not installed (apt-get install dataset-fashion-mnist)"
    exit 77
  fi
}

# expect_fail DESC FRAGMENT CMD...: CMD must exit non-zero without crashing (no signal), and
# its stderr+stdout must contain FRAGMENT.
expect_fail() {
  local desc=$1 frag=$2
  shift 2
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if ((rc == 0)); then
    echo "FAIL [$desc]: exit 0, expected an error"; FAILS=$((FAILS + 1))
  elif ((rc >= 124 && rc != 130)); then
    echo "FAIL [$desc]: exit $rc (crash or signal)"; echo "$out" | tail -5; FAILS=$((FAILS + 1))
  elif [[ "$out" != *"$frag"* ]]; then
    echo "FAIL [$desc]: message lacks '$frag':"; echo "$out" | tail -5; FAILS=$((FAILS + 1))
  else
    echo "ok   [$desc] (exit $rc): $(echo "$out" | grep -m1 -i -E 'error|usage|unknown' || echo "$out" | head -1)"
  fi
}

check() { # check DESC CONDITION-COMMAND...
  local desc=$1
  shift
  if "$@"; then echo "ok   [$desc]"; else echo "FAIL [$desc]"; FAILS=$((FAILS + 1)); fi
}

finish() {
  if ((FAILS)); then echo "$FAILS check(s) failed"; exit 1; fi
  echo "all checks passed"
  exit 0
}

# A tiny, fast training config in $T/tiny.ini (extra lines appended from "$@").
tiny_config() {
  cat > "$T/tiny.ini" <<INI
[run]
name = tiny
out_dir = $T/runs
seed = 3
device = cpu
threads = 2
log_interval = 1
[data]
dir = $DATA
limit_train = 1024
limit_test = 256
[model]
arch = simplecnn
channels = 8,16
[train]
epochs = 2
batch_size = 64
[optim]
name = sgd
lr = 0.05
momentum = 0.9
INI
  for line in "$@"; do echo "$line" >> "$T/tiny.ini"; done
}
