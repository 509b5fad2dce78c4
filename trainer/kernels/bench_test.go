package kernels

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

func rand32(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// BenchmarkMatmul1024 is the reference rate: C = A·B for 1024×1024 float32 matrices through
// the same OpenBLAS, single-threaded and with one thread per CPU.
func BenchmarkMatmul1024(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	const n = 1024
	x, y, z := rand32(r, n*n), rand32(r, n*n), make([]float32, n*n)
	for _, th := range []int{1, runtime.NumCPU()} {
		b.Run(fmt.Sprintf("threads=%d", th), func(b *testing.B) {
			SetBLASThreads(th)
			defer SetBLASThreads(1)
			for b.Loop() {
				Gemm(false, false, n, n, n, 1, x, n, y, n, 0, z, n)
			}
			b.ReportMetric(2*n*n*n*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

func BenchmarkConv(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 2))
	for _, s := range []ConvShape{
		// The small preset's 3×3 levels (nf=16, ch_mult 1,2,4,4) at batch 16.
		{B: 16, Cin: 16, H: 64, W: 64, Cout: 16, K: 3, Pad: 1},
		{B: 16, Cin: 32, H: 32, W: 32, Cout: 32, K: 3, Pad: 1},
		{B: 16, Cin: 64, H: 16, W: 16, Cout: 64, K: 3, Pad: 1},
		{B: 16, Cin: 64, H: 8, W: 8, Cout: 64, K: 3, Pad: 1},
		// Wider layers, as in the paper preset.
		{B: 16, Cin: 64, H: 64, W: 64, Cout: 64, K: 3, Pad: 1},
		{B: 16, Cin: 128, H: 32, W: 32, Cout: 128, K: 3, Pad: 1},
		{B: 16, Cin: 128, H: 8, W: 8, Cout: 128, K: 3, Pad: 1},
		{B: 16, Cin: 64, H: 64, W: 64, Cout: 64, K: 1, Pad: 0},
	} {
		ho, wo := s.Out()
		x, w := rand32(r, s.B*s.Cin*s.H*s.W), rand32(r, s.Cout*s.Cin*s.K*s.K)
		bias, y := rand32(r, s.Cout), make([]float32, s.B*s.Cout*ho*wo)
		dx, dw := make([]float32, len(x)), make([]float32, len(w))
		name := fmt.Sprintf("B%d_C%d_%dx%d_k%d", s.B, s.Cin, s.H, s.W, s.K)
		b.Run(name+"/forward", func(b *testing.B) {
			for b.Loop() {
				ConvForward(y, x, w, bias, s)
			}
			b.ReportMetric(s.FLOPs()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(name+"/data", func(b *testing.B) {
			for b.Loop() {
				ConvBackwardData(dx, w, y, s)
			}
			b.ReportMetric(s.FLOPs()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(name+"/filter", func(b *testing.B) {
			for b.Loop() {
				ConvBackwardFilter(dw, x, y, s)
			}
			b.ReportMetric(s.FLOPs()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

func BenchmarkGroupNorm(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 3))
	s := GNShape{B: 16, C: 64, N: 64 * 64, G: 16, Eps: 1e-6}
	x, g, be := rand32(r, s.B*s.C*s.N), rand32(r, s.C), rand32(r, s.C)
	y := make([]float32, len(x))
	for b.Loop() {
		GroupNormForward(y, x, g, be, s)
	}
	b.ReportMetric(float64(4*len(x)*b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}

func BenchmarkFIR(b *testing.B) {
	r := rand.New(rand.NewPCG(4, 4))
	f := NewFIRDown(16*64, 64, 64, []float64{1, 3, 3, 1})
	x := rand32(r, 16*64*64*64)
	y := make([]float32, 16*64*32*32)
	for b.Loop() {
		FIRForward(f, y, x)
	}
}

func BenchmarkAttention(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 5))
	s := AttnShape{B: 16, C: 128, N: 256}
	qkv := rand32(r, s.B*3*s.C*s.N)
	out, d := make([]float32, s.B*s.C*s.N), make([]float32, s.B*3*s.C*s.N)
	b.Run("forward", func(b *testing.B) {
		for b.Loop() {
			AttentionForward(out, qkv, s)
		}
		b.ReportMetric(s.FLOPs()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	b.Run("backward", func(b *testing.B) {
		for b.Loop() {
			AttentionBackward(d, qkv, out, s)
		}
		b.ReportMetric(3*s.FLOPs()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}
