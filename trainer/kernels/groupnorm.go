package kernels

import "math"

// GNShape describes GroupNorm of a [B, C, N] tensor (N pixels) in G groups of C/G channels.
type GNShape struct {
	B, C, N, G int
	Eps        float64
}

func (s GNShape) check(nx, ng int) {
	if s.G <= 0 || s.C%s.G != 0 {
		panic("kernels: groupnorm groups do not divide channels")
	}
	if nx != s.B*s.C*s.N {
		panic("kernels: groupnorm input length mismatch")
	}
	if ng != s.C {
		panic("kernels: groupnorm parameter length mismatch")
	}
}

// stats returns the mean and 1/sqrt(var+eps) of one group (biased variance, as PyTorch).
func gnStats[T Float](x []T, eps float64) (mean, rstd float64) {
	var s, s2 float64
	if x32, ok := any(x).([]float32); ok && len(x) >= vecMin {
		s, s2 = statsVec(x32)
	} else {
		for _, v := range x {
			f := float64(v)
			s += f
			s2 += f * f
		}
	}
	n := float64(len(x))
	mean = s / n
	v := max(s2/n-mean*mean, 0)
	return mean, 1 / math.Sqrt(v+eps)
}

// GroupNormForward computes y = (x−μ_g)/sqrt(σ²_g+eps)·gamma[c] + beta[c].
func GroupNormForward[T Float](y, x, gamma, beta []T, s GNShape) {
	s.check(len(x), len(gamma))
	if len(y) != len(x) || len(beta) != s.C {
		panic("kernels: groupnorm length mismatch")
	}
	cg := s.C / s.G
	gl := cg * s.N
	parallelFor(s.B*s.G, func(_, bg int) {
		xs := x[bg*gl : (bg+1)*gl]
		ys := y[bg*gl : (bg+1)*gl]
		mean, rstd := gnStats(xs, s.Eps)
		g := bg % s.G
		for j := 0; j < cg; j++ {
			c := g*cg + j
			a := rstd * float64(gamma[c])
			o := float64(beta[c]) - mean*a
			xr := xs[j*s.N : (j+1)*s.N]
			yr := ys[j*s.N : (j+1)*s.N]
			at, ot := T(a), T(o)
			if y32, ok := any(yr).([]float32); ok && len(yr) >= vecMin {
				affineVec(y32, any(xr).([]float32), float32(at), float32(ot))
				continue
			}
			for i, v := range xr {
				yr[i] = v*at + ot
			}
		}
	})
}

// GNSums is the number of values GroupNormBackwardSums keeps per image and channel.
const GNSums = 4

// GroupNormBackwardSums writes, for each image b and channel c, the four values
// sums[(b·C+c)·4 : +4] = (Σ dy, Σ dy·x̂, μ_g, 1/σ_g) over the channel's pixels, where g is the
// channel's group and x̂ = (x−μ_g)/σ_g. They are all the backward pass needs from a second
// look at x and dy: dβ and dγ are their sums over the batch (GroupNormParamGrad) and dx
// one affine pass (GroupNormBackwardData). Sums are accumulated in float64.
func GroupNormBackwardSums[T Float](sums, x, dy []T, s GNShape) {
	s.check(len(x), s.C)
	if len(dy) != len(x) || len(sums) != s.B*s.C*GNSums {
		panic("kernels: groupnorm backward length mismatch")
	}
	cg := s.C / s.G
	gl := cg * s.N
	parallelFor(s.B*s.G, func(_, bg int) {
		xs := x[bg*gl : (bg+1)*gl]
		ds := dy[bg*gl : (bg+1)*gl]
		mean, rstd := gnStats(xs, s.Eps)
		for j := 0; j < cg; j++ {
			a, b := gnSums(ds[j*s.N:(j+1)*s.N], xs[j*s.N:(j+1)*s.N], mean)
			o := sums[(bg*cg+j)*GNSums : (bg*cg+j+1)*GNSums]
			o[0], o[1], o[2], o[3] = T(a), T(b*rstd), T(mean), T(rstd)
		}
	})
}

// GroupNormParamGrad writes d[c] = Σ_b sums[b, c, k]: dβ for k = 0, dγ for k = 1
// (overwriting d).
func GroupNormParamGrad[T Float](d, sums []T, b, c, k int) {
	if len(d) != c || len(sums) != b*c*GNSums || k < 0 || k > 1 {
		panic("kernels: groupnorm parameter gradient length mismatch")
	}
	for ch := range d {
		var a float64
		for i := 0; i < b; i++ {
			a += float64(sums[(i*c+ch)*GNSums+k])
		}
		d[ch] = T(a)
	}
}

// GroupNormBackwardData computes dx from dy, x, gamma and the sums of
// GroupNormBackwardSums (overwriting dx).
func GroupNormBackwardData[T Float](dx, x, gamma, dy, sums []T, s GNShape) {
	s.check(len(x), len(gamma))
	if len(dx) != len(x) || len(dy) != len(x) || len(sums) != s.B*s.C*GNSums {
		panic("kernels: groupnorm length mismatch")
	}
	cg := s.C / s.G
	gl := cg * s.N
	parallelFor(s.B*s.G, func(_, bg int) {
		xs := x[bg*gl : (bg+1)*gl]
		ds := dy[bg*gl : (bg+1)*gl]
		dxs := dx[bg*gl : (bg+1)*gl]
		g := bg % s.G
		sg := sums[bg*cg*GNSums : (bg+1)*cg*GNSums]
		mean, rstd := float64(sg[2]), float64(sg[3])
		// m1 = mean(dxhat), m2 = mean(dxhat·xhat), dxhat = dy·gamma.
		var m1, m2 float64
		for j := 0; j < cg; j++ {
			gm := float64(gamma[g*cg+j])
			m1 += gm * float64(sg[j*GNSums])
			m2 += gm * float64(sg[j*GNSums+1])
		}
		n := float64(gl)
		m1 /= n
		m2 /= n
		for j := 0; j < cg; j++ {
			gm := float64(gamma[g*cg+j])
			// dx = rstd·(gm·dy − m1 − xhat·m2) = A·dy + B·x + C0
			A := T(rstd * gm)
			B := T(-rstd * rstd * m2)
			C0 := T(-rstd*m1 + rstd*rstd*m2*mean)
			if d32, ok := any(dxs).([]float32); ok && s.N >= vecMin {
				lo, hi := j*s.N, (j+1)*s.N
				axpbycVec(d32[lo:hi], any(ds).([]float32)[lo:hi], any(xs).([]float32)[lo:hi], float32(A), float32(B), float32(C0))
				continue
			}
			for i := j * s.N; i < (j+1)*s.N; i++ {
				dxs[i] = A*ds[i] + B*xs[i] + C0
			}
		}
	})
}

// gnSums returns Σ dy and Σ dy·(x − mean) in float64.
func gnSums[T Float](dy, x []T, mean float64) (a, b float64) {
	if d32, ok := any(dy).([]float32); ok && len(dy) >= vecMin {
		return gnSumsVec(d32, any(x).([]float32), mean)
	}
	for i, v := range dy {
		d := float64(v)
		a += d
		b += d * (float64(x[i]) - mean)
	}
	return a, b
}
