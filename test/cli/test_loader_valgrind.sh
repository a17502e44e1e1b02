# Stopping the loader's worker pool mid-epoch (and freeing it with a pass still running)
# leaks nothing and touches no freed memory: test_loader's stop scenario under valgrind.
source "$(dirname "$0")/lib.sh"
if [[ ${PLUMB_SANITIZED:-0} == 1 ]]; then
  echo "skipped: an ASan build (valgrind cannot run ASan binaries; ASan checks the same there)"
  exit 77
fi
if ! command -v valgrind >/dev/null; then
  echo "skipped: valgrind not installed (apt-get install valgrind)"
  exit 77
fi
BIN=./test_loader
[[ -x $BIN ]] || { echo "skipped: $BIN not built (PLUMB_TESTS=OFF?)"; exit 77; }
check "pool stop under valgrind" valgrind -q --suppressions="$PLUMB_SRC/test/cli/valgrind.supp" \
  --leak-check=full --errors-for-leak-kinds=definite,indirect \
  --error-exitcode=1 "$BIN" stop
finish
