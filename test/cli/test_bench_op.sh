# plumb bench --op lstm / --op triplet: one op alone on synthetic data prints its shape and its
# figures in the format scripts/bench/bench_lstm.sh / bench_triplet.sh read, on the CPU here (on
# a GPU machine scripts/gpu-check.sh runs them through those scripts); bad input is a clear error.
# The format is checked, never the speed.
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

# the triplet loss: P 3 x K 2 = 6 rows of D 5, random or from --emb
tiny=(--op triplet --P 3 --K 2 --dim 5 --steps 2 --warmup 1 --repeat 3 --set run.device=cpu --set run.threads=2)
out=$("$PLUMB" bench "${tiny[@]}" 2>&1); rc=$?
echo "$out" | sed 's/^/    /'
check "triplet bench exits 0" test $rc -eq 0
check "states the batch, the loss's form, the device and the steps" \
  grep -qE "^triplet N 6 \(P 3 x K 2\) D 5 batch-hard hinge margin 0.2 euclidean mean-all, float32, CPU reference, random embeddings, 2 timed steps after 1 warm-up, median of 3$" <<<"$out"
fig='^triplet: forward\+backward [0-9]+\.[0-9]{4} ms \(min [0-9]+\.[0-9]{4}, max [0-9]+\.[0-9]{4}\), loss [0-9.e+-]+'
check "the figure, the loss and the counts (6 anchors, none excluded)" \
  grep -qE "$fig, active [0-6] of 6 terms, excluded 0$" <<<"$out"
out=$("$PLUMB" bench "${tiny[@]}" --mode all --soft 1 --squared 1 --reduction nonzero 2>&1)
check "batch-all, soft margin, squared, mean over non-zero terms" \
  grep -qE "^triplet N 6 \(P 3 x K 2\) D 5 batch-all soft-margin squared mean-nonzero, " <<<"$out"
check "batch-all: 6 anchors x 1 positive x 4 negatives = 24 triplets" \
  grep -qE "$fig, active [0-9]+ of 24 terms, excluded 0$" <<<"$out"
# --emb: 6 rows of D 5, all 0 but for one coordinate per identity: identity i's rows sit on
# e_i, at distance sqrt(2) from the others' and 1e-6 (sqrt(1e-12)) from each other, so every
# batch-hard term is max(1e-6 - sqrt(2) + 0.2, 0) = 0 and the loss is exactly 0.
printf '\x93NUMPY\x01\x00\x76\x00%-117s\n' "{'descr': '<f4', 'fortran_order': False, 'shape': (6, 5), }" > "$T/e.npy"
for i in 0 1 2 3 4 5; do
  for k in 0 1 2 3 4; do
    if ((k == i / 2)); then printf '\x00\x00\x80\x3f'; else printf '\x00\x00\x00\x00'; fi
  done
done >> "$T/e.npy"
out=$("$PLUMB" bench "${tiny[@]}" --emb "$T/e.npy" 2>&1)
check "--emb: the batch is read, the loss is 0" grep -qE "$fig, active 0 of 6 terms, excluded 0$" <<<"$out"
check "--emb: named in the header" grep -qE "^triplet N 6 .*, --emb embeddings, " <<<"$out"
check "--emb: the loss is exactly 0" grep -qE "^triplet: .*, loss 0, " <<<"$out"

# bad input
expect_fail "--batch is not P x K" "--batch 70 is not --P 18 x --K 4 = 72" "$PLUMB" bench --op triplet --batch 70 --set run.device=cpu
expect_fail "a bad --mode" "--mode is hard or all" "$PLUMB" bench --op triplet --mode semi --set run.device=cpu
expect_fail "a bad --margin" "--margin a finite number" "$PLUMB" bench --op triplet --margin nan --set run.device=cpu
expect_fail "an --emb of the wrong shape" "want a float32 array [8, 5] (--batch, --dim), got float32 [6, 5]" \
  "$PLUMB" bench "${tiny[@]}" --K 2 --P 4 --emb "$T/e.npy"
expect_fail "an unknown op" "unknown op (known: lstm, triplet)" "$PLUMB" bench --op gru --set run.device=cpu
expect_fail "a bad --hidden" "--hidden must be an integer >= 1" "$PLUMB" bench --op lstm --hidden 0 --set run.device=cpu
expect_fail "a bad --dropout" "--dropout in [0, 1)" "$PLUMB" bench --op lstm --dropout 1 --set run.device=cpu
expect_fail "a bad --bidirectional" "--bidirectional is 0 or 1" "$PLUMB" bench --op lstm --bidirectional 2 --set run.device=cpu
expect_fail "an unknown key" "unknown key" "$PLUMB" bench --op lstm --set run.devise=cpu
finish
