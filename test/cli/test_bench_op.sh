# plumb bench --op lstm: the LSTM op alone on synthetic data prints its shape and its three
# figures in the format scripts/bench/bench_lstm.sh reads, on the CPU here (on a GPU machine
# scripts/gpu-check.sh runs it through bench_lstm.sh); bad input is a clear error. The format is
# checked, never the speed.
source "$(dirname "$0")/lib.sh"
small=(--seq 4 --batch 3 --input 5 --hidden 6 --steps 2 --warmup 1 --set run.device=cpu --set run.threads=2)
out=$("$PLUMB" bench --op lstm "${small[@]}" 2>&1); rc=$?
echo "$out" | sed 's/^/    /'
check "lstm bench exits 0" test $rc -eq 0
check "states the shape, precision, device and steps" \
  grep -qE "^lstm T 4 N 3 D 5 H 6 L 1 unidirectional dropout 0, float32, tf32 n/a, CPU reference, 2 timed steps after 1 warm-up$" <<<"$out"
check "the three figures" \
  grep -qE "^lstm: inference forward [0-9]+\.[0-9]{3} ms, training forward [0-9]+\.[0-9]{3} ms, forward\+backward [0-9]+\.[0-9]{3} ms$" <<<"$out"
out=$("$PLUMB" bench --op lstm "${small[@]}" --layers 2 --bidirectional 1 --dropout 0.3 2>&1)
check "two bidirectional layers with dropout run" grep -qE "^lstm T 4 N 3 D 5 H 6 L 2 bidirectional dropout 0.3, " <<<"$out"

# bad input
expect_fail "an unknown op" "unknown op (known: lstm)" "$PLUMB" bench --op gru --set run.device=cpu
expect_fail "a bad --hidden" "--hidden must be an integer >= 1" "$PLUMB" bench --op lstm --hidden 0 --set run.device=cpu
expect_fail "a bad --dropout" "--dropout in [0, 1)" "$PLUMB" bench --op lstm --dropout 1 --set run.device=cpu
expect_fail "a bad --bidirectional" "--bidirectional is 0 or 1" "$PLUMB" bench --op lstm --bidirectional 2 --set run.device=cpu
expect_fail "an unknown key" "unknown key" "$PLUMB" bench --op lstm --set run.devise=cpu
finish
