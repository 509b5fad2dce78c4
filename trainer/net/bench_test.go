package net

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"

	"scorelens/trainer/kernels"
)

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
			mm := kernels.MatmulRate(5)
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
