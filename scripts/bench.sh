#!/usr/bin/env bash
# The benchmark table printed by `make bench`.
#
# Each section runs its benchmarks and prints rows with `row NAME VALUE UNIT`; to add
# rows, append a section below (keep the heavy runs short: the machine may be shared, so
# compare only numbers measured in the same run, such as the ratio below).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}

row() { printf '%-52s %12s  %s\n' "$1" "$2" "$3"; }
# metric OUTPUT BENCH UNIT: the value reported with UNIT on BENCH's line of go test -bench output.
metric() {
	awk -v b="$2" -v u="$3" 'index($1, b) == 1 { for (i = 3; i <= NF; i++) if ($i == u) { print $(i - 1); exit } }' <<<"$1"
}

row "benchmark" "value" "unit"
row "---------" "-----" "----"

# --- trainer: a whole training step (batch, forward, backward, Adam, EMA) ---------------
# small preset, batch 16, float32, all CPUs; the 1024x1024 float32 matrix product through
# the same OpenBLAS (all CPUs) is measured in the same process.
out=$($GO test -run '^$' -bench 'TrainStep/small/B16$' -benchtime "${BENCH_TRAIN_STEPS:-8}x" ./trainer/train)
b=BenchmarkTrainStep/small/B16
ns=$(metric "$out" "$b" ns/op)
row "train small B16: step time" "$(awk -v n="$ns" 'BEGIN { printf "%.3f", n / 1e9 }')" "s"
row "train small B16: training step rate" "$(metric "$out" "$b" GFLOP/s)" "GFLOP/s"
row "1024^2 float32 matmul, same BLAS, same run" "$(metric "$out" "$b" matmul-GFLOP/s)" "GFLOP/s"
row "train small B16: ratio (target >= 0.40)" "$(metric "$out" "$b" ratio)" ""
row "train small B16: images" "$(metric "$out" "$b" img/s)" "img/s"
row "train small B16: peak resident memory" "$(metric "$out" "$b" peak-RSS-MiB)" "MiB"

# --- score model: the exported small NCSN++ under ONNX Runtime (CPU) ---------------------
out=$($GO test -run '^$' -bench 'SmallScoreModel' -benchtime "${BENCH_MODEL_CALLS:-20}x" ./export)
for B in 1 16; do
	b=BenchmarkSmallScoreModel/B$B
	row "score model small, batch $B: time per image" "$(metric "$out" "$b" ms/image)" "ms"
	row "score model small, batch $B: rate" "$(metric "$out" "$b" GFLOP/s)" "GFLOP/s"
done
row "1024^2 float32 matmul, same run as the score model" "$(metric "$out" BenchmarkSmallScoreModel/B1 matmul-GFLOP/s)" "GFLOP/s"

# --- a combined model (scorelens combine: small joined to itself at σ 0.03), batch 16 -----
out=$($GO test -run '^$' -bench 'CombinedScoreModel' -benchtime "${BENCH_MODEL_CALLS:-20}x" ./export)
alone=$(metric "$out" BenchmarkCombinedScoreModel/alone ns/op)
for side in above below; do
	ns=$(metric "$out" BenchmarkCombinedScoreModel/joined/$side ns/op)
	row "combined small+small, t $side the switch / small alone" "$(awk -v a="$ns" -v b="$alone" 'BEGIN { printf "%.2f", a / b }')" "(target ~1)"
done

# --- posterior: 64x64 source, SPEC lens, small model, batch 16, --steps auto ------------
out=$($GO test -run '^$' -bench 'PosteriorSmall' -benchtime 1x ./export)
for lik in paper diag full; do
	b=BenchmarkPosteriorSmall/$lik
	row "posterior 64^2 B16 $lik: time per sample ($(metric "$out" "$b" steps) steps)" "$(metric "$out" "$b" s/sample)" "s"
	row "posterior 64^2 B16 $lik: share in the score model" "$(metric "$out" "$b" %model)" "%"
	row "posterior 64^2 B16 $lik: share in the sampler (lensing, likelihood, SDE)" "$(metric "$out" "$b" %sampler)" "%"
done
b=BenchmarkPosteriorSmall/full-heun100
row "posterior 64^2 B16 full, heun 100 steps churn 40: time per sample" "$(metric "$out" "$b" s/sample)" "s"
row "posterior: peak resident memory" "$(metric "$out" BenchmarkPosteriorSmall/full peak-RSS-MiB)" "MiB"
