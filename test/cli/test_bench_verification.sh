# plumb bench --verification: the verification metrics bench on random embeddings runs both
# protocols and prints the figures scripts/bench/bench_verification.sh reads; bad input is a clear
# error. The format is checked, never the speed.
source "$(dirname "$0")/lib.sh"
out=$("$PLUMB" bench --verification 300x400 --dim 16 --threads 2 --repeat 1 2>&1)
rc=$?
echo "$out"
check "probe x gallery bench exits 0" test $rc -eq 0
check "prints plumb_verification_seconds" grep -qE "plumb_verification_seconds=[0-9.]+ pairs_per_second=" <<<"$out"
check "prints the summary line" grep -qE "verification cosine probe_gallery: n_gen=4000 n_imp=116000 auc=0\.[0-9]+ eer=" <<<"$out"
check "says 1e-6 is meaningless at 116000 impostors" grep -qF "tpr@1e-06=" <<<"$out"
check "meaningless flag" grep -qF "(meaningless: f*N_imp=0.116<1)" <<<"$out"
out=$("$PLUMB" bench --verification 500 --dim 8 --threads 1 --repeat 1 2>&1)
check "all-pairs bench exits 0" test $? -eq 0
check "all pairs of 500 rows" grep -qE "verification cosine all_pairs: n_gen=[0-9]+ n_imp=[0-9]+" <<<"$out"
expect_fail "bench --verification 1" "want PROBESxGALLERY" "$PLUMB" bench --verification 1
expect_fail "bench --verification --dim 0" "want PROBESxGALLERY" "$PLUMB" bench --verification 10x10 --dim 0
expect_fail "bench --verification junk" "want PROBESxGALLERY" "$PLUMB" bench --verification junk
finish
