package kernels

import (
	"math/rand/v2"
	"runtime"
	"time"
)

// MatmulRate returns the GFLOP/s of a 1024×1024 float32 matrix product C = A·B through the
// same OpenBLAS the kernels use, with one BLAS thread per CPU, best of reps: the reference
// rate that benchmarks of the trainer and the score model report theirs against.
func MatmulRate(reps int) float64 {
	const n = 1024
	r := rand.New(rand.NewPCG(1, 1))
	a, b, c := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	for i := range a {
		a[i], b[i] = r.Float32(), r.Float32()
	}
	SetBLASThreads(runtime.NumCPU())
	defer SetBLASThreads(1)
	best := time.Duration(1 << 62)
	for range max(reps, 1) {
		s := time.Now()
		Gemm(false, false, n, n, n, 1, a, n, b, n, 0, c, n)
		best = min(best, time.Since(s))
	}
	return 2 * n * n * n / best.Seconds() / 1e9
}
