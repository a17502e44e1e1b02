#!/usr/bin/env bash
# fuzz.sh: builds the libFuzzer harnesses (test/fuzz/fuzz_*.c; clang, ASan + UBSan) in build-fuzz/
# and runs each: first a regression pass over its seed corpus (test/fuzz/corpus/<harness>/) and
# every file of ../shared/repro/ (the reproducers of past defects, when that folder exists), then
# fuzzing for SECONDS on a scratch copy of the corpus (build-fuzz/fuzz-corpus/; the committed
# corpus is never written). One line per harness: executions, exec/s, coverage, crashes. Exits 1
# when any harness crashed; each crash input is kept (its path is printed) with its log.
#   bash scripts/fuzz.sh [--time SECONDS] [--runs N] [--only NAME] [--ci] [--record FILE]
#     --time S     fuzz each harness S seconds (default 60; 0 = regression pass only)
#     --runs N     stop a harness after N executions if that comes before S seconds
#     --only NAME  one harness (fuzz_npy or npy)
#     --ci         regression pass + 20 seconds each
#     --record F   append a markdown table of the figures to F
# Installs clang and libclang-rt-14-dev (and plumb's build packages) when missing, as setup.sh.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

TIME=60 ONLY="" RECORD="" TIME_SET=0 CI_MODE=0 RUNS=-1
while (($#)); do
  case "$1" in
    --time) TIME="${2:?--time SECONDS}"; TIME_SET=1; shift 2 ;;
    --only) ONLY="${2:?--only NAME}"; ONLY="fuzz_${ONLY#fuzz_}"; shift 2 ;;
    --ci) CI_MODE=1; shift ;;
    --record) RECORD="${2:?--record FILE}"; shift 2 ;;
    --runs) RUNS="${2:?--runs N}"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "fuzz.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
((CI_MODE && !TIME_SET)) && TIME=20
[[ "$TIME" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: --time needs a whole number of seconds" >&2; exit 2; }

pkgs=(clang libclang-rt-14-dev libomp-14-dev cmake pkg-config libinih-dev libstb-dev zlib1g-dev
      libopenblas-dev libturbojpeg0-dev)
source scripts/install_pkgs.sh
pb_install_pkgs "${pkgs[@]}" || { echo "fuzz.sh: could not install ${pkgs[*]}" >&2; exit 2; }

B=build-fuzz
# A build folder configured with another compiler cannot switch to clang in place.
if [[ -f $B/CMakeCache.txt ]] && ! grep -q '^CMAKE_C_COMPILER:.*clang' "$B/CMakeCache.txt"; then
  rm -rf "$B/CMakeCache.txt" "$B/CMakeFiles"
fi
mkdir -p "$B"
CC=clang cmake -S . -B "$B" -DPLUMB_FUZZ=ON -DPLUMB_CUDA=OFF -DPLUMB_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$B/configure.log" 2>&1 ||
  { cat "$B/configure.log"; echo "fuzz.sh: configure failed" >&2; exit 2; }
cmake --build "$B" --target plumb_fuzz -j"$(nproc)" >"$B/build.log" 2>&1 ||
  { tail -40 "$B/build.log"; echo "fuzz.sh: build failed ($B/build.log)" >&2; exit 2; }

REPRO="$(cd .. && pwd)/shared/repro" # the shared folder beside the repository
repro=()
# ... and their committed copies with the reproducers found since (test/fixtures/repro/).
for dir in "$REPRO" test/fixtures/repro; do
  [[ -d $dir ]] && while IFS= read -r f; do repro+=("$f"); done < <(find "$dir" -maxdepth 1 -type f | sort)
done

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
FLAGS=(-rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10)
mkdir -p "$B/logs" "$B/crashes" "$B/fuzz-corpus"

harnesses=()
for src in test/fuzz/fuzz_*.c; do
  h=$(basename "$src" .c)
  [[ -z $ONLY || $h == "$ONLY" ]] && harnesses+=("$h")
done
((${#harnesses[@]})) || { echo "fuzz.sh: no harness named $ONLY" >&2; exit 2; }

crashed=0 ncrashed=0 crash_lines=() rows=()
# Prints the sanitizer's verdict and the first frames of plumb's code from a crash log, indented.
excerpt() {
  {
    grep -E 'runtime error|ERROR: |^fuzz_|SUMMARY' "$1" | head -4
    grep -E '^ +#[0-9]+ ' "$1" |
      grep -vE 'fuzzer::|__sanitizer|__interceptor|libc\.so|pthread_kill|raise\.c|abort|__libc_start| in main |pb_x(m|re)alloc' | head -4
  } 2>/dev/null | cut -c1-200 | sed 's/^ */      /'
}

for h in "${harnesses[@]}"; do
  exe="$B/$h" crashes=0 log="$B/logs/$h.log"
  cdir="$B/crashes/$h"
  mkdir -p "$cdir"
  # Regression pass: all files in one process (state carries as in a loader worker), then, if it
  # failed, each file alone to name every input that crashes.
  inputs=(test/fuzz/corpus/"$h"/* "${repro[@]}")
  if ! "$exe" "${FLAGS[@]}" "${inputs[@]}" </dev/null >"$B/logs/$h.regression.log" 2>&1; then
    for f in "${inputs[@]}"; do
      one="$B/logs/$h.regression.$(basename "$f").log"
      if "$exe" "${FLAGS[@]}" "$f" </dev/null >"$one" 2>&1; then rm -f "$one"; continue; fi
      crashes=$((crashes + 1))
      cp "$f" "$cdir/regression-$(basename "$f")"
      crash_lines+=("  $h: regression input $f (copy: $cdir/regression-$(basename "$f"); log: $one)")
      crash_lines+=("$(excerpt "$one")")
    done
    if ((crashes == 0)); then # only the sequence crashes: a state carried from one input to the next
      crashes=1
      crash_lines+=("  $h: the regression pass crashes only when run in one process (log: $B/logs/$h.regression.log)")
      crash_lines+=("$(excerpt "$B/logs/$h.regression.log")")
    fi
  fi
  execs=0 eps=0 cov=0 ft=0
  if ((TIME > 0)); then
    mkdir -p "$B/fuzz-corpus/$h"
    cp -f test/fuzz/corpus/"$h"/* "$B/fuzz-corpus/$h/"
    before=$(find "$cdir" -type f ! -name 'regression-*' | sort)
    timeout $((TIME + 300)) "$exe" "${FLAGS[@]}" -max_total_time="$TIME" -runs="$RUNS" -print_final_stats=1 \
      -artifact_prefix="$cdir/" "$B/fuzz-corpus/$h" </dev/null >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    covline=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
    cov=$(awk '{print $2}' <<<"$covline") ft=$(awk '{print $4}' <<<"$covline")
    new=$(comm -13 <(echo "$before") <(find "$cdir" -type f ! -name 'regression-*' | sort) | grep . || true)
    if ((rc != 0)) || [[ -n $new ]]; then
      n=$(grep -c . <<<"$new")
      ((n == 0)) && n=1
      crashes=$((crashes + n))
      crash_lines+=("  $h: fuzzing (exit $rc) found: ${new:-no input kept} (log: $log)")
      crash_lines+=("$(excerpt "$log")")
    fi
  fi
  ((crashes)) && crashed=1 ncrashed=$((ncrashed + 1))
  printf '%-18s executions %9s  exec/s %6s  coverage %5s (features %6s)  crashes %d\n' \
    "$h" "${execs:-0}" "${eps:-0}" "${cov:-0}" "${ft:-0}" "$crashes"
  rows+=("| $(date -u +%F) | COMMIT | $h | $TIME | ${execs:-0} | $crashes |")
done

if ((${#crash_lines[@]})); then
  echo "crashes:"
  printf '%s\n' "${crash_lines[@]}" | grep .
fi

if [[ -n $RECORD ]]; then
  commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  [[ -n $(git status --porcelain 2>/dev/null) ]] && commit="$commit+dirty"
  if [[ ! -s $RECORD ]]; then
    printf '| date | commit | harness | seconds | executions | crashes |\n|---|---|---|---|---|---|\n' >>"$RECORD"
  fi
  printf '%s\n' "${rows[@]}" | sed "s/| COMMIT |/| $commit |/" >>"$RECORD"
  echo "fuzz.sh: figures appended to $RECORD"
fi
echo "fuzz: $((${#harnesses[@]} - ncrashed)) harness(es) ran without a crash, $ncrashed crashed"
exit "$crashed"
