package kernels

import "math"

// AttnShape describes single-head self-attention over the N pixels of a [B, 3C, N] input
// holding queries, keys and values (channels [0,C), [C,2C), [2C,3C)); the output is
// [B, C, N]: out[:, n] = Σ_j softmax_j(q[:, n]·k[:, j]/√C)·v[:, j], as AttnBlockpp of
// score_sde_pytorch.
type AttnShape struct{ B, C, N int }

// FLOPs returns the floating-point operations of the forward pass (two N×N×C products).
func (s AttnShape) FLOPs() float64 {
	return 4 * float64(s.B) * float64(s.C) * float64(s.N) * float64(s.N)
}

func (s AttnShape) check(nqkv, nout int) {
	if nqkv != s.B*3*s.C*s.N || nout != s.B*s.C*s.N {
		panic("kernels: attention length mismatch")
	}
}

// softmaxRows turns each row of the n×n matrix p into its softmax.
func softmaxRows[T Float](p []T, n int) {
	if p32, ok := any(p).([]float32); ok && n >= 16 {
		softmaxRowsVec(p32, n)
		return
	}
	for i := 0; i < n; i++ {
		softmaxRow(p[i*n : (i+1)*n])
	}
}

// softmaxRow turns r into its softmax (max-subtracted, sums in float64).
func softmaxRow[T Float](r []T) {
	m := r[0]
	for _, v := range r {
		m = max(m, v)
	}
	var s float64
	for j, v := range r {
		e := math.Exp(float64(v - m))
		r[j] = T(e)
		s += e
	}
	inv := T(1 / s)
	for j := range r {
		r[j] *= inv
	}
}

// SoftPool computes y[r] = Σ_p w[r,p]·x[r,p] with w[r,·] the softmax of a[r,·], for
// rows of n pixels (the offset head's masked mean); the weights are computed in float64.
func SoftPool[T Float](y, a, x []T, n int) {
	if len(a) != len(y)*n || len(x) != len(a) {
		panic("kernels: soft pool length mismatch")
	}
	w := make([]float64, n)
	for r := range y {
		y[r] = T(softPoolRow(w, a[r*n:(r+1)*n], x[r*n:(r+1)*n]))
	}
}

// SoftPoolBackward writes into dst the gradient of SoftPool with respect to x (w·dy) or,
// with logits, to a (w·(x − y)·dy).
func SoftPoolBackward[T Float](dst, a, x, dy []T, n int, logits bool) {
	if len(a) != len(dy)*n || len(x) != len(a) || len(dst) != len(a) {
		panic("kernels: soft pool length mismatch")
	}
	w := make([]float64, n)
	for r, d := range dy {
		mean := softPoolRow(w, a[r*n:(r+1)*n], x[r*n:(r+1)*n])
		out, xr := dst[r*n:(r+1)*n], x[r*n:(r+1)*n]
		for i := range out {
			if logits {
				out[i] = T(w[i] * (float64(xr[i]) - mean) * float64(d))
			} else {
				out[i] = T(w[i] * float64(d))
			}
		}
	}
}

// softPoolRow leaves the softmax of a in w and returns Σ w·x.
func softPoolRow[T Float](w []float64, a, x []T) float64 {
	for i, v := range a {
		w[i] = float64(v)
	}
	softmaxRow(w)
	var s float64
	for i, v := range x {
		s += w[i] * float64(v)
	}
	return s
}

// probs writes the attention matrix P [N (queries), N (keys)] of one image.
func probs[T Float](p, qkv []T, s AttnShape) {
	n, c := s.N, s.C
	q, k := qkv[:c*n], qkv[c*n:2*c*n]
	Gemm(true, false, n, n, c, T(1/math.Sqrt(float64(c))), q, n, k, n, 0, p, n)
	softmaxRows(p, n)
}

// AttentionForward computes the attention output.
func AttentionForward[T Float](out, qkv []T, s AttnShape) {
	s.check(len(qkv), len(out))
	n, c := s.N, s.C
	nw := min(s.B, Workers())
	ps := workerBufs[T](nw, n*n)
	defer putBufs(ps)
	parallelFor(s.B, func(w, b int) {
		x := qkv[b*3*c*n : (b+1)*3*c*n]
		p := ps[w]
		probs(p, x, s)
		v := x[2*c*n:]
		// out[c, n] = Σ_j v[c, j]·P[n, j]
		Gemm(false, true, c, n, n, 1, v, n, p, n, 0, out[b*c*n:(b+1)*c*n], n)
	})
}

// AttentionBackward computes dqkv from qkv and dout (overwriting dqkv); P is recomputed.
func AttentionBackward[T Float](dqkv, qkv, dout []T, s AttnShape) {
	s.check(len(qkv), len(dout))
	if len(dqkv) != len(qkv) {
		panic("kernels: attention gradient length mismatch")
	}
	n, c := s.N, s.C
	scale := T(1 / math.Sqrt(float64(c)))
	nw := min(s.B, Workers())
	ps := workerBufs[T](nw, n*n)
	dps := workerBufs[T](nw, n*n)
	defer putBufs(ps)
	defer putBufs(dps)
	parallelFor(s.B, func(w, b int) {
		x := qkv[b*3*c*n : (b+1)*3*c*n]
		dx := dqkv[b*3*c*n : (b+1)*3*c*n]
		do := dout[b*c*n : (b+1)*c*n]
		q, k, v := x[:c*n], x[c*n:2*c*n], x[2*c*n:]
		dq, dk, dv := dx[:c*n], dx[c*n:2*c*n], dx[2*c*n:]
		p, dp := ps[w], dps[w]
		probs(p, x, s)
		// dv = dout·P, dP = doutᵀ·v
		Gemm(false, false, c, n, n, 1, do, n, p, n, 0, dv, n)
		Gemm(true, false, n, n, c, 1, do, n, v, n, 0, dp, n)
		// dS = P ⊙ (dP − rowsum(dP ⊙ P)), stored in dp
		for i := 0; i < n; i++ {
			pr, dr := p[i*n:(i+1)*n], dp[i*n:(i+1)*n]
			var sum float64
			for j := range pr {
				sum += float64(pr[j]) * float64(dr[j])
			}
			st := T(sum)
			for j := range pr {
				dr[j] = pr[j] * (dr[j] - st)
			}
		}
		// dq = scale·k·dSᵀ, dk = scale·q·dS
		Gemm(false, true, c, n, n, scale, k, n, dp, n, 0, dq, n)
		Gemm(false, false, c, n, n, scale, q, n, dp, n, 0, dk, n)
	})
}

// DenseForward computes y = x·wᵀ + bias for x [B, In], w [Out, In].
func DenseForward[T Float](y, x, w, bias []T, b, in, out int) {
	if len(x) != b*in || len(w) != out*in || len(y) != b*out || (bias != nil && len(bias) != out) {
		panic("kernels: dense length mismatch")
	}
	var beta T
	if bias != nil {
		for i := 0; i < b; i++ {
			copy(y[i*out:(i+1)*out], bias)
		}
		beta = 1
	}
	Gemm(false, true, b, out, in, 1, x, in, w, in, beta, y, out)
}

// DenseBackwardData computes dx = dy·w (overwriting dx).
func DenseBackwardData[T Float](dx, w, dy []T, b, in, out int) {
	if len(dx) != b*in || len(w) != out*in || len(dy) != b*out {
		panic("kernels: dense length mismatch")
	}
	Gemm(false, false, b, in, out, 1, dy, out, w, in, 0, dx, in)
}

// DenseBackwardWeight computes dw = dyᵀ·x (overwriting dw).
func DenseBackwardWeight[T Float](dw, x, dy []T, b, in, out int) {
	if len(x) != b*in || len(dw) != out*in || len(dy) != b*out {
		panic("kernels: dense length mismatch")
	}
	Gemm(true, false, out, in, b, 1, dy, out, x, in, 0, dw, in)
}
