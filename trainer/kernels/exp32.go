package kernels

import "math"

// exp32 is e^x in float32 to within 3e-7 relative error: n = round(x·log2 e) by the
// 1.5·2²³ rounding trick, g = x − n·ln2 with ln 2 split in two (Cody–Waite: the high part
// has 9 significant bits, so n·ln2hi is exact for |n| ≤ 128), 2^... e^g by its degree-6
// Taylor polynomial (truncation (ln2/2)^7/7! ≈ 1.2e-7) and 2^n put into the exponent. All
// in float32, no calls: it inlines into the SiLU loops.
func exp32(x float32) float32 {
	switch {
	case x < -87.3:
		return 0
	case x > 88.7:
		return float32(math.Inf(1))
	}
	return exp32r(x)
}

// exp32r is exp32 for x ∈ [−87.3, 88.7] (other x give garbage).
func exp32r(x float32) float32 {
	n := (x*1.4426950408889634 + 12582912) - 12582912
	g := x - n*0.693359375 + n*2.12194440e-4
	g2 := g * g // Estrin's scheme: three short chains instead of one of six steps
	p := (1 + g) + g2*((1.0/2+g*(1.0/6))+g2*((1.0/24+g*(1.0/120))+g2*(1.0/720)))
	return math.Float32frombits(uint32(int32(n)+127)<<23) * p
}

// sigmoid32 is 1/(1+e^−x); beyond ±87 it is 0 or 1 to float32 precision, and clamping the
// argument keeps exp32r in range without branches.
func sigmoid32(x float32) float32 { return 1 / (1 + exp32r(min(max(-x, -87.3), 88.7))) }

func silu32(y, x []float32) {
	chunks(len(x), func(lo, hi int) {
		y, x := y[lo:hi], x[lo:hi]
		if len(x) >= vecMin {
			siluVec(y, x)
			return
		}
		for i, v := range x {
			y[i] = v * sigmoid32(v)
		}
	})
}

func siluBackward32(dx, x, dy []float32) {
	chunks(len(x), func(lo, hi int) {
		dx, x, dy := dx[lo:hi], x[lo:hi], dy[lo:hi]
		if len(x) >= vecMin {
			siluBackwardVec(dx, x, dy)
			return
		}
		for i, v := range x {
			s := sigmoid32(v)
			dx[i] = dy[i] * s * (1 + v*(1-s))
		}
	})
}
