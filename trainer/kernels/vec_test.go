package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The C (vectorised) float32 SiLU and its backward pass against float64 references: within
// 1e-6 relative of max(1, |value|) (exp32's 3e-7 plus a few float32 roundings). The row
// expansion of the convolutions, C (float32) and Go (float64), against its definition,
// exactly (a gather).
func TestVecKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	const n = 5000
	x, dy := make([]float32, n), make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 20)
		dy[i] = float32(r.NormFloat64())
	}
	x[0], x[1] = -200, 200
	y, dx := make([]float32, n), make([]float32, n)
	SiLU(y, x)
	SiLUBackward(dx, x, dy)
	for i, v := range x {
		s := 1 / (1 + math.Exp(-float64(v)))
		wy := float64(v) * s
		wd := float64(dy[i]) * s * (1 + float64(v)*(1-s))
		if d := math.Abs(float64(y[i]) - wy); d > 1e-6*max(1, math.Abs(wy)) {
			t.Fatalf("silu(%v) = %v, want %v", v, y[i], wy)
		}
		if d := math.Abs(float64(dx[i]) - wd); d > 1e-6*max(1, math.Abs(wd)) {
			t.Fatalf("silu'(%v)·%v = %v, want %v", v, dy[i], dx[i], wd)
		}
	}
	for _, s := range []ConvShape{{B: 1, Cin: 3, H: 7, W: 5, Cout: 1, K: 3, Pad: 1}, {B: 1, Cin: 2, H: 4, W: 4, Cout: 1, K: 5, Pad: 2},
		{B: 1, Cin: 2, H: 3, W: 1, Cout: 1, K: 5, Pad: 2}} {
		_, wo := s.Out()
		x := make([]float32, s.Cin*s.H*s.W)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		hp := s.H + 2*s.Pad
		xe := make([]float32, s.Cin*s.K*hp*wo)
		for i := range xe {
			xe[i] = 7 // expandRows must overwrite every entry
		}
		expandRows(xe, x, s)
		x64, xe64 := make([]float64, len(x)), make([]float64, len(xe))
		for i, v := range x {
			x64[i] = float64(v)
		}
		expandRows(xe64, x64, s)
		for i, v := range xe {
			if float64(v) != xe64[i] {
				t.Fatalf("%+v: xe[%d] = %v in C, %v in Go", s, i, v, xe64[i])
			}
		}
		for c := 0; c < s.Cin; c++ {
			for kx := 0; kx < s.K; kx++ {
				for r := 0; r < hp; r++ {
					for ox := 0; ox < wo; ox++ {
						iy, ix := r-s.Pad, ox+kx-s.Pad
						var want float32
						if iy >= 0 && iy < s.H && ix >= 0 && ix < s.W {
							want = x[(c*s.H+iy)*s.W+ix]
						}
						if got := xe[((c*s.K+kx)*hp+r)*wo+ox]; got != want {
							t.Fatalf("%+v: xe[c=%d kx=%d r=%d ox=%d] = %v, want %v", s, c, kx, r, ox, got, want)
						}
					}
				}
			}
		}
	}
}

// The float32 GroupNorm (statistics, affine map and backward sums in C for planes of 256
// pixels and more) against the float64 Go path on the same float32-rounded inputs: within
// 1e-5·max(1, |value|) (float32 rounding of O(1) results; the sums are in float64 in both).
func TestGroupNormVec(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	s := GNShape{B: 2, C: 8, N: 300, G: 2, Eps: 1e-6}
	n := s.B * s.C * s.N
	mk := func(k int, sc, off float64) ([]float32, []float64) {
		a, b := make([]float32, k), make([]float64, k)
		for i := range a {
			a[i] = float32(off + sc*r.NormFloat64())
			b[i] = float64(a[i])
		}
		return a, b
	}
	x32, x64 := mk(n, 2, 0.5)
	dy32, dy64 := mk(n, 1, 0)
	g32, g64 := mk(s.C, 0.3, 1)
	b32, b64 := mk(s.C, 0.3, 0)
	check := func(what string, got []float32, want []float64) {
		for i := range want {
			if math.Abs(float64(got[i])-want[i]) > 1e-5*max(1, math.Abs(want[i])) {
				t.Fatalf("%s[%d] = %v, float64 %v", what, i, got[i], want[i])
			}
		}
	}
	y32, y64 := make([]float32, n), make([]float64, n)
	GroupNormForward(y32, x32, g32, b32, s)
	GroupNormForward(y64, x64, g64, b64, s)
	check("y", y32, y64)
	sums32, sums64 := make([]float32, s.B*s.C*GNSums), make([]float64, s.B*s.C*GNSums)
	GroupNormBackwardSums(sums32, x32, dy32, s)
	GroupNormBackwardSums(sums64, x64, dy64, s)
	GroupNormBackwardData(y32, x32, g32, dy32, sums32, s)
	GroupNormBackwardData(y64, x64, g64, dy64, sums64, s)
	check("dx", y32, y64)
	dg32, dg64 := make([]float32, s.C), make([]float64, s.C)
	GroupNormParamGrad(dg32, sums32, s.B, s.C, 1)
	GroupNormParamGrad(dg64, sums64, s.B, s.C, 1)
	check("dgamma", dg32, dg64)
	GroupNormParamGrad(dg32, sums32, s.B, s.C, 0)
	GroupNormParamGrad(dg64, sums64, s.B, s.C, 0)
	check("dbeta", dg32, dg64)
}

// The C float32 softmax against float64 on the same inputs: within 1e-6 absolute
// (probabilities ≤ 1, exp32's 3e-7 relative error plus float32 rounding).
func TestSoftmaxVec(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	const n = 40
	p32, p64 := make([]float32, n*n), make([]float64, n*n)
	for i := range p32 {
		p32[i] = float32(5 * r.NormFloat64())
		p64[i] = float64(p32[i])
	}
	p32[3] = -150 // far below the row maximum: clamped, probability ≈ 1e-38
	p64[3] = -150
	softmaxRows(p32, n)
	softmaxRows(p64, n)
	for i := range p64 {
		if math.Abs(float64(p32[i])-p64[i]) > 1e-6 {
			t.Fatalf("p[%d] = %v, float64 %v", i, p32[i], p64[i])
		}
	}
}
