# Behaviour is unchanged by refactoring: the quickstart (configs/quickstart.ini, 3 epochs on the
# CPU, 2 threads) ends in a checkpoint whose model and state files are bit-identical to the
# ones recorded before issue 11's restructuring, with the same loss and accuracy columns in
# metrics.csv, and `plumb config` lists the recorded keys (test/fixtures/quickstart_fingerprint.txt,
# written by scripts/fixtures/quickstart_fingerprint.sh; the key list gained [model] frozen,
# [run] select, [data] test_variants and
# [method] with issue 12, the checkpoint and metrics lines are still 277ce12's). A change that is MEANT to change the
# numbers regenerates the fixture and says why in its commit.
source "$(dirname "$0")/lib.sh"
need_data
REF=$PLUMB_SRC/test/fixtures/quickstart_fingerprint.txt
if ! bash "$PLUMB_SRC/scripts/fixtures/quickstart_fingerprint.sh" "$PLUMB" "$T/q" > "$T/got.txt"; then
  echo "FAIL: the quickstart did not run"
  exit 1
fi
sed 's/^/    /' "$T/got.txt" | grep -v "^    key"
check "final checkpoint, metrics columns and config keys as recorded" diff "$REF" "$T/got.txt"
finish
