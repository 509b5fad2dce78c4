package kernels

import "math"

// exp32 is e^x in float32 to within 2e-7 relative error (below 3 float32 ulps): x·log2(e)
// (in float64) is split into an integer n (rounded) and f ∈ [−½, ½]; 2^f is its degree-6 Taylor
// polynomial in f·ln 2 (truncation (ln2/2)^7/7! ≈ 1.2e-7) and 2^n goes into the exponent.
func exp32(x float32) float32 {
	switch {
	case x < -87:
		return 0
	case x > 88:
		return float32(math.Inf(1))
	}
	t := float64(x) * 1.4426950408889634 // range reduction in float64: exact enough at |x| ≈ 88
	n := math.Floor(t + 0.5)
	g := float32((t - n) * 0.6931471805599453)
	p := 1 + g*(1+g*(1.0/2+g*(1.0/6+g*(1.0/24+g*(1.0/120+g*(1.0/720))))))
	return math.Float32frombits(uint32(int32(n)+127)<<23) * p
}

func sigmoid32(x float32) float32 { return 1 / (1 + exp32(-x)) }

func silu32(y, x []float32) {
	chunks(len(x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v := x[i]
			y[i] = v * sigmoid32(v)
		}
	})
}

func siluBackward32(dx, x, dy []float32) {
	chunks(len(x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v := x[i]
			s := sigmoid32(v)
			dx[i] = dy[i] * s * (1 + v*(1-s))
		}
	})
}
