package net

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"gorgonia.org/tensor"

	"scorelens/trainer/kernels"
)

// matmulRate returns the GFLOP/s of a 1024×1024 float32 matrix product through the same
// OpenBLAS with one thread per CPU (best of reps).
func matmulRate(reps int) float64 {
	const n = 1024
	r := rand.New(rand.NewPCG(1, 1))
	a, b, c := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	fill(r, a, 1)
	fill(r, b, 1)
	kernels.SetBLASThreads(runtime.NumCPU())
	defer kernels.SetBLASThreads(1)
	best := time.Duration(1 << 62)
	for range reps {
		s := time.Now()
		kernels.Gemm(false, false, n, n, n, 1, a, n, b, n, 0, c, n)
		best = min(best, time.Since(s))
	}
	return 2 * n * n * n / best.Seconds() / 1e9
}

// BenchmarkTrainStep runs forward + backward of the DSM loss (one training step without the
// optimiser update) and reports the achieved GFLOP/s (analytic count, ncsnpp.TrainFLOPs),
// images/s, the matrix-product rate measured in the same run and their ratio.
func BenchmarkTrainStep(b *testing.B) {
	for _, tc := range []struct {
		preset string
		batch  int
	}{{"tiny", 16}, {"small", 16}} {
		b.Run(fmt.Sprintf("%s/B%d", tc.preset, tc.batch), func(b *testing.B) {
			d := build(b, tc.preset)
			n, err := New(d, tc.batch, tensor.Float32, true)
			if err != nil {
				b.Fatal(err)
			}
			r := rand.New(rand.NewPCG(3, 3))
			n.SetParams(d.Init(r))
			fill(r, n.X.Data(), 1)
			fill(r, n.Z.Data(), 1)
			for i := range n.T.Data().([]float32) {
				n.T.Data().([]float32)[i] = r.Float32()
			}
			m := n.Machine()
			defer m.Close()
			step := func() {
				m.Reset()
				if err := m.RunAll(); err != nil {
					b.Fatal(err)
				}
			}
			step() // allocate the owned buffers
			mm := matmulRate(5)
			b.ResetTimer()
			for b.Loop() {
				step()
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			rate := d.TrainFLOPs() * float64(tc.batch) / sec / 1e9
			b.ReportMetric(rate, "GFLOP/s")
			b.ReportMetric(float64(tc.batch)/sec, "img/s")
			b.ReportMetric(mm, "matmul-GFLOP/s")
			b.ReportMetric(rate/mm, "ratio")
		})
	}
}
