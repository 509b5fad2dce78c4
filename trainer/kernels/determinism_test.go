package kernels

import (
	"math/rand/v2"
	"runtime"
	"testing"
)

// The filter gradient, the only kernel that sums over the batch, is bit-for-bit the same
// whatever the number of workers (exact equality: the summation order is fixed).
func TestConvBackwardFilterDeterministic(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	r := rand.New(rand.NewPCG(4, 5))
	for _, s := range []ConvShape{
		{B: 7, Cin: 3, H: 9, W: 9, Cout: 5, K: 3, Pad: 1},
		{B: 5, Cin: 4, H: 6, W: 6, Cout: 6, K: 1, Pad: 0},
	} {
		ho, wo := s.Out()
		x := make([]float32, s.B*s.Cin*s.H*s.W)
		dy := make([]float32, s.B*s.Cout*ho*wo)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		for i := range dy {
			dy[i] = float32(r.NormFloat64())
		}
		var ref []float32
		for _, procs := range []int{1, 2, 3, 8} {
			runtime.GOMAXPROCS(procs)
			for rep := 0; rep < 3; rep++ {
				dw := make([]float32, s.Cout*s.Cin*s.K*s.K)
				ConvBackwardFilter(dw, x, dy, s)
				if ref == nil {
					ref = dw
					continue
				}
				for i := range dw {
					if dw[i] != ref[i] {
						t.Fatalf("%+v, %d workers: dw[%d] = %v, first run %v", s, procs, i, dw[i], ref[i])
					}
				}
			}
		}
	}
}
