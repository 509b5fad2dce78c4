package kernels

import "math"

const chunk = 1 << 14

// chunks runs fn on [lo, hi) pieces of [0, n) in parallel.
func chunks(n int, fn func(lo, hi int)) {
	parallelFor((n+chunk-1)/chunk, func(_, i int) { fn(i*chunk, min(n, (i+1)*chunk)) })
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// SiLU computes y = x·sigmoid(x) (swish).
func SiLU[T Float](y, x []T) {
	if len(y) != len(x) {
		panic("kernels: silu length mismatch")
	}
	if y32, ok := any(y).([]float32); ok {
		silu32(y32, any(x).([]float32))
		return
	}
	chunks(len(x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v := float64(x[i])
			y[i] = T(v * sigmoid(v))
		}
	})
}

// SiLUBackward computes dx = dy·sigmoid(x)·(1 + x·(1−sigmoid(x))).
func SiLUBackward[T Float](dx, x, dy []T) {
	if len(dx) != len(x) || len(dy) != len(x) {
		panic("kernels: silu length mismatch")
	}
	if dx32, ok := any(dx).([]float32); ok {
		siluBackward32(dx32, any(x).([]float32), any(dy).([]float32))
		return
	}
	chunks(len(x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v := float64(x[i])
			s := sigmoid(v)
			dx[i] = T(float64(dy[i]) * s * (1 + v*(1-s)))
		}
	})
}

// AddScale computes y = s·(a + b).
func AddScale[T Float](y, a, b []T, s T) {
	if len(y) != len(a) || len(b) != len(a) {
		panic("kernels: add length mismatch")
	}
	chunks(len(a), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y[i] = s * (a[i] + b[i])
		}
	})
}

// ScaleTo computes y = s·x.
func ScaleTo[T Float](y, x []T, s T) {
	if len(y) != len(x) {
		panic("kernels: scale length mismatch")
	}
	chunks(len(x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y[i] = s * x[i]
		}
	})
}

// AddChannelBias computes y[b,c,:] = h[b,c,:] + d[b,c] for h [B, C, N], d [B, C].
func AddChannelBias[T Float](y, h, d []T, b, c, n int) {
	if len(y) != b*c*n || len(h) != b*c*n || len(d) != b*c {
		panic("kernels: channel bias length mismatch")
	}
	parallelFor(b*c, func(_, bc int) {
		v := d[bc]
		hr, yr := h[bc*n:(bc+1)*n], y[bc*n:(bc+1)*n]
		for i := range hr {
			yr[i] = hr[i] + v
		}
	})
}

// SumPixels computes d[b,c] = Σ_i h[b,c,i] for h [B, C, N] (the adjoint of a channel bias).
func SumPixels[T Float](d, h []T, b, c, n int) {
	if len(h) != b*c*n || len(d) != b*c {
		panic("kernels: pixel sum length mismatch")
	}
	for bc := range d {
		d[bc] = T(sum(h[bc*n : (bc+1)*n]))
	}
}

// sum returns Σ x in float64 (in C for long float32 slices).
func sum[T Float](x []T) float64 {
	if x32, ok := any(x).([]float32); ok && len(x) >= vecMin {
		return sumVec(x32)
	}
	var s float64
	for _, v := range x {
		s += float64(v)
	}
	return s
}

// fill sets every element of x to v (by doubling copies, which run as memmove).
func fill[T Float](x []T, v T) {
	if len(x) == 0 {
		return
	}
	x[0] = v
	for k := 1; k < len(x); k *= 2 {
		copy(x[k:], x[:k])
	}
}

// ConcatChannels writes y [B, Ca+Cb, N] from a [B, Ca, N] and b [B, Cb, N].
func ConcatChannels[T Float](y, a, b []T, nb, ca, cb, n int) {
	if len(a) != nb*ca*n || len(b) != nb*cb*n || len(y) != nb*(ca+cb)*n {
		panic("kernels: concat length mismatch")
	}
	for i := 0; i < nb; i++ {
		yi := y[i*(ca+cb)*n : (i+1)*(ca+cb)*n]
		copy(yi[:ca*n], a[i*ca*n:(i+1)*ca*n])
		copy(yi[ca*n:], b[i*cb*n:(i+1)*cb*n])
	}
}

// SliceChannels writes y [B, hi−lo, N] = x[:, lo:hi, :] for x [B, C, N].
func SliceChannels[T Float](y, x []T, nb, c, n, lo, hi int) {
	if lo < 0 || hi > c || lo >= hi || len(x) != nb*c*n || len(y) != nb*(hi-lo)*n {
		panic("kernels: channel slice length mismatch")
	}
	w := (hi - lo) * n
	for i := 0; i < nb; i++ {
		copy(y[i*w:(i+1)*w], x[(i*c+lo)*n:(i*c+hi)*n])
	}
}

// ScaleBatch computes y[b,:] = x[b,:]·exp(−l[b]) for x [B, N], l [B] (division by σ with
// l = log σ).
func ScaleBatch[T Float](y, x, l []T, nb, n int) {
	if len(x) != nb*n || len(y) != nb*n || len(l) != nb {
		panic("kernels: batch scale length mismatch")
	}
	for b := 0; b < nb; b++ {
		s := T(math.Exp(-float64(l[b])))
		for i := b * n; i < (b+1)*n; i++ {
			y[i] = x[i] * s
		}
	}
}

// ScaleBatchBackwardLog computes dl[b] = −Σ_i dy[b,i]·y[b,i] (the gradient of ScaleBatch
// with respect to l, given its output y).
func ScaleBatchBackwardLog[T Float](dl, y, dy []T, nb, n int) {
	if len(y) != nb*n || len(dy) != nb*n || len(dl) != nb {
		panic("kernels: batch scale length mismatch")
	}
	for b := 0; b < nb; b++ {
		var s float64
		for i := b * n; i < (b+1)*n; i++ {
			s += float64(dy[i]) * float64(y[i])
		}
		dl[b] = T(-s)
	}
}
