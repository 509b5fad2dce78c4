package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randSlice(r *rand.Rand, n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = r.NormFloat64()
	}
	return x
}

func maxAbsDiff(a, b []float64) float64 {
	var m float64
	for i := range a {
		m = max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

// Forward kernels against naive loops in float64; the only difference is summation order,
// so 1e-12 (a few hundred ulps of sums of O(100) O(1) terms) is the tolerance.
const naiveTol = 1e-12

func TestConvForwardNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, s := range []ConvShape{
		{B: 3, Cin: 2, H: 5, W: 7, Cout: 4, K: 3, Pad: 1},
		{B: 2, Cin: 3, H: 6, W: 4, Cout: 2, K: 1, Pad: 0},
		{B: 1, Cin: 2, H: 6, W: 6, Cout: 3, K: 3, Pad: 0},
		{B: 5, Cin: 1, H: 4, W: 4, Cout: 1, K: 5, Pad: 2},
	} {
		x := randSlice(r, s.B*s.Cin*s.H*s.W)
		w := randSlice(r, s.Cout*s.Cin*s.K*s.K)
		bias := randSlice(r, s.Cout)
		ho, wo := s.Out()
		y := make([]float64, s.B*s.Cout*ho*wo)
		ConvForward(y, x, w, bias, s)
		want := make([]float64, len(y))
		for b := 0; b < s.B; b++ {
			for o := 0; o < s.Cout; o++ {
				for oy := 0; oy < ho; oy++ {
					for ox := 0; ox < wo; ox++ {
						a := bias[o]
						for c := 0; c < s.Cin; c++ {
							for ky := 0; ky < s.K; ky++ {
								for kx := 0; kx < s.K; kx++ {
									iy, ix := oy+ky-s.Pad, ox+kx-s.Pad
									if iy < 0 || iy >= s.H || ix < 0 || ix >= s.W {
										continue
									}
									a += w[((o*s.Cin+c)*s.K+ky)*s.K+kx] * x[((b*s.Cin+c)*s.H+iy)*s.W+ix]
								}
							}
						}
						want[((b*s.Cout+o)*ho+oy)*wo+ox] = a
					}
				}
			}
		}
		if d := maxAbsDiff(y, want); d > naiveTol {
			t.Errorf("%+v: max |conv − naive| = %g > %g", s, d, naiveTol)
		}
	}
}

// naiveUpfirdn is upfirdn2d_native of score_sde_pytorch written literally for one plane.
func naiveUpfirdn(x []float64, h, w int, k []float64, gain float64, up, down, p0, p1 int) ([]float64, int, int) {
	uh, uw := h*up+p0+p1, w*up+p0+p1
	u := make([]float64, uh*uw)
	for i := 0; i < h; i++ {
		for j := 0; j < w; j++ {
			u[(i*up+p0)*uw+j*up+p0] = x[i*w+j]
		}
	}
	var s float64
	for _, v := range k {
		s += v
	}
	K := len(k)
	ch, cw := uh-K+1, uw-K+1
	ho, wo := (ch+down-1)/down, (cw+down-1)/down
	y := make([]float64, ho*wo)
	for oy := 0; oy < ho; oy++ {
		for ox := 0; ox < wo; ox++ {
			var a float64
			for ky := 0; ky < K; ky++ {
				for kx := 0; kx < K; kx++ {
					kf := k[K-1-ky] * k[K-1-kx] / (s * s) * gain
					a += kf * u[(oy*down+ky)*uw+ox*down+kx]
				}
			}
			y[oy*wo+ox] = a
		}
	}
	return y, ho, wo
}

func TestFIRNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	k := []float64{1, 3, 3, 1}
	for _, tc := range []struct {
		up   bool
		h, w int
	}{{true, 4, 6}, {false, 8, 6}, {true, 1, 1}, {false, 2, 4}} {
		var f FIR
		var gain float64
		var up, down, p0, p1 int
		if tc.up {
			f, gain, up, down, p0, p1 = NewFIRUp(3, tc.h, tc.w, k), 4, 2, 1, 2, 1
		} else {
			f, gain, up, down, p0, p1 = NewFIRDown(3, tc.h, tc.w, k), 1, 1, 2, 1, 1
		}
		x := randSlice(r, 3*tc.h*tc.w)
		ho, wo := f.Out()
		y := make([]float64, 3*ho*wo)
		FIRForward(f, y, x)
		for p := 0; p < 3; p++ {
			want, nh, nw := naiveUpfirdn(x[p*tc.h*tc.w:(p+1)*tc.h*tc.w], tc.h, tc.w, k, gain, up, down, p0, p1)
			if nh != ho || nw != wo {
				t.Fatalf("%+v: shape %dx%d, naive %dx%d", tc, ho, wo, nh, nw)
			}
			if d := maxAbsDiff(y[p*ho*wo:(p+1)*ho*wo], want); d > naiveTol {
				t.Errorf("%+v: max |fir − naive| = %g", tc, d)
			}
		}
		if tc.up && (ho != 2*tc.h || wo != 2*tc.w) || !tc.up && (ho != tc.h/2 || wo != tc.w/2) {
			t.Errorf("%+v: output %dx%d", tc, ho, wo)
		}
	}
	// A constant image stays constant away from the border (the kernel is normalised; the
	// upsampler's gain 4 compensates the zero stuffing).
	f := NewFIRUp(1, 6, 6, k)
	x := make([]float64, 36)
	for i := range x {
		x[i] = 2.5
	}
	y := make([]float64, 144)
	FIRForward(f, y, x)
	if v := y[5*12+6]; math.Abs(v-2.5) > 1e-14 {
		t.Errorf("upsampled constant: interior value %v, want 2.5", v)
	}
}

func TestAttentionGroupNormNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	s := AttnShape{B: 2, C: 3, N: 5}
	qkv := randSlice(r, s.B*3*s.C*s.N)
	out := make([]float64, s.B*s.C*s.N)
	AttentionForward(out, qkv, s)
	for b := 0; b < s.B; b++ {
		x := qkv[b*3*s.C*s.N:]
		for n := 0; n < s.N; n++ {
			w := make([]float64, s.N)
			var z float64
			for j := range w {
				for c := 0; c < s.C; c++ {
					w[j] += x[c*s.N+n] * x[(s.C+c)*s.N+j]
				}
				w[j] = math.Exp(w[j] / math.Sqrt(float64(s.C)))
				z += w[j]
			}
			for c := 0; c < s.C; c++ {
				var a float64
				for j := range w {
					a += w[j] / z * x[(2*s.C+c)*s.N+j]
				}
				if d := math.Abs(a - out[(b*s.C+c)*s.N+n]); d > naiveTol {
					t.Errorf("attention b=%d c=%d n=%d: |Δ| = %g", b, c, n, d)
				}
			}
		}
	}

	g := GNShape{B: 2, C: 6, N: 5, G: 3, Eps: 1e-6}
	x := randSlice(r, g.B*g.C*g.N)
	gamma, beta := randSlice(r, g.C), randSlice(r, g.C)
	y := make([]float64, len(x))
	GroupNormForward(y, x, gamma, beta, g)
	for b := 0; b < g.B; b++ {
		for gr := 0; gr < g.G; gr++ {
			seg := x[(b*g.C+gr*2)*g.N : (b*g.C+gr*2+2)*g.N]
			var m, v float64
			for _, e := range seg {
				m += e
			}
			m /= float64(len(seg))
			for _, e := range seg {
				v += (e - m) * (e - m)
			}
			v /= float64(len(seg))
			for i := range seg {
				c := gr*2 + i/g.N
				want := (seg[i]-m)/math.Sqrt(v+1e-6)*gamma[c] + beta[c]
				if d := math.Abs(want - y[(b*g.C+gr*2)*g.N+i]); d > naiveTol {
					t.Errorf("groupnorm: |Δ| = %g", d)
				}
			}
		}
	}
}

// The backward passes are the adjoints of the forward pass: for y = conv(x, w) (no bias),
// ⟨y, dy⟩ = ⟨x, ConvBackwardData(w, dy)⟩ = ⟨w, ConvBackwardFilter(x, dy)⟩. In float64 the
// three inner products differ only by summation order: 1e-12 relative to Σ|terms|.
func TestConvBackwardAdjoint(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, s := range []ConvShape{
		{B: 3, Cin: 2, H: 5, W: 7, Cout: 4, K: 3, Pad: 1},
		{B: 2, Cin: 3, H: 6, W: 4, Cout: 2, K: 1, Pad: 0},
		{B: 1, Cin: 2, H: 6, W: 6, Cout: 3, K: 3, Pad: 0},
		{B: 2, Cin: 4, H: 5, W: 3, Cout: 1, K: 3, Pad: 2},
		{B: 5, Cin: 1, H: 4, W: 4, Cout: 2, K: 5, Pad: 2},
		{B: 2, Cin: 16, H: 8, W: 8, Cout: 5, K: 3, Pad: 1},
	} {
		x := randSlice(r, s.B*s.Cin*s.H*s.W)
		w := randSlice(r, s.Cout*s.Cin*s.K*s.K)
		ho, wo := s.Out()
		dy := randSlice(r, s.B*s.Cout*ho*wo)
		y := make([]float64, len(dy))
		ConvForward(y, x, w, nil, s)
		dx := make([]float64, len(x))
		dw := make([]float64, len(w))
		for i := range dx {
			dx[i] = math.NaN() // both must overwrite
		}
		for i := range dw {
			dw[i] = math.NaN()
		}
		ConvBackwardData(dx, w, dy, s)
		ConvBackwardFilter(dw, x, dy, s)
		dot := func(a, b []float64) (d, abs float64) {
			for i := range a {
				d += a[i] * b[i]
				abs += math.Abs(a[i] * b[i])
			}
			return d, abs
		}
		yd, scale := dot(y, dy)
		xd, _ := dot(x, dx)
		wd, _ := dot(w, dw)
		if math.Abs(xd-yd) > 1e-12*scale || math.Abs(wd-yd) > 1e-12*scale || math.IsNaN(xd+wd) {
			t.Errorf("%+v: <y,dy> = %v, <x,dx> = %v, <w,dw> = %v (scale %v)", s, yd, xd, wd, scale)
		}
	}
}
