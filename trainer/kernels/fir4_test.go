package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// firGeneric runs the general upfirdn path (apply1/adjoint1) on one plane.
func firGeneric(f FIR, adjoint bool, dst, src []float64) {
	ho, wo := f.Out()
	t := make([]float64, f.H*wo)
	if !adjoint {
		for r := 0; r < f.H; r++ {
			apply1(f, t[r*wo:], src[r*f.W:], f.W, 1, 1)
		}
		for c := 0; c < wo; c++ {
			apply1(f, dst[c:], t[c:], f.H, wo, wo)
		}
		return
	}
	_ = ho
	for c := 0; c < wo; c++ {
		adjoint1(f, t[c:], src[c:], f.H, wo, wo)
	}
	for r := 0; r < f.H; r++ {
		adjoint1(f, dst[r*f.W:], t[r*wo:], f.W, 1, 1)
	}
}

// The 4-tap fast paths equal the general upfirdn loops (float64, tolerance 1e-15·scale: the
// same few products summed in another order) for sizes 1–9 including the degenerate
// borders, and the float32 path agrees with float64 to 1e-6 (a few float32 ulps of O(1)
// sums of four terms).
func TestFIR4MatchesGeneral(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	k := []float64{1, 3, 3, 1}
	for _, up := range []bool{true, false} {
		for h := 1; h <= 9; h++ {
			for _, w := range []int{1, 2, 3, 4, 6, 8, 9} {
				if !up && (h%2 != 0 || w%2 != 0) {
					continue
				}
				var f FIR
				if up {
					f = NewFIRUp(2, h, w, k)
				} else {
					f = NewFIRDown(2, h, w, k)
				}
				if f.fir4Kind() == 0 {
					t.Fatalf("up=%v %dx%d: no fast path", up, h, w)
				}
				ho, wo := f.Out()
				x := randSlice(r, 2*h*w)
				dy := randSlice(r, 2*ho*wo)
				y := make([]float64, 2*ho*wo)
				dx := make([]float64, 2*h*w)
				FIRForward(f, y, x)
				FIRBackward(f, dx, dy)
				for p := 0; p < 2; p++ {
					wy := make([]float64, ho*wo)
					wdx := make([]float64, h*w)
					firGeneric(f, false, wy, x[p*h*w:(p+1)*h*w])
					firGeneric(f, true, wdx, dy[p*ho*wo:(p+1)*ho*wo])
					if d := maxAbsDiff(y[p*ho*wo:(p+1)*ho*wo], wy); d > 1e-15*8 {
						t.Errorf("up=%v %dx%d forward: |Δ| = %g", up, h, w, d)
					}
					if d := maxAbsDiff(dx[p*h*w:(p+1)*h*w], wdx); d > 1e-15*8 {
						t.Errorf("up=%v %dx%d adjoint: |Δ| = %g", up, h, w, d)
					}
				}
				x32, y32 := make([]float32, len(x)), make([]float32, len(y))
				for i, v := range x {
					x32[i] = float32(v)
				}
				FIRForward(f, y32, x32)
				for i := range y {
					if d := math.Abs(float64(y32[i]) - y[i]); d > 1e-6*max(1, math.Abs(y[i])) {
						t.Fatalf("up=%v %dx%d float32: y[%d] = %v, float64 %v", up, h, w, i, y32[i], y[i])
					}
				}
			}
		}
	}
}
