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

// GroupNormBackwardData computes dx from dy, x and gamma (overwriting dx).
func GroupNormBackwardData[T Float](dx, x, gamma, dy []T, s GNShape) {
	s.check(len(x), len(gamma))
	if len(dx) != len(x) || len(dy) != len(x) {
		panic("kernels: groupnorm length mismatch")
	}
	cg := s.C / s.G
	gl := cg * s.N
	parallelFor(s.B*s.G, func(_, bg int) {
		xs := x[bg*gl : (bg+1)*gl]
		ds := dy[bg*gl : (bg+1)*gl]
		dxs := dx[bg*gl : (bg+1)*gl]
		mean, rstd := gnStats(xs, s.Eps)
		g := bg % s.G
		// m1 = mean(dxhat), m2 = mean(dxhat·xhat), dxhat = dy·gamma.
		var m1, m2 float64
		for j := 0; j < cg; j++ {
			gm := float64(gamma[g*cg+j])
			a, b := gnSums(ds[j*s.N:(j+1)*s.N], xs[j*s.N:(j+1)*s.N], mean)
			m1 += gm * a
			m2 += gm * b * rstd
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

// GroupNormBackwardGamma computes dgamma[c] = Σ dy·xhat (overwriting dgamma).
// dbeta is BiasBackward of dy.
func GroupNormBackwardGamma[T Float](dgamma, x, dy []T, s GNShape) {
	s.check(len(x), len(dgamma))
	cg := s.C / s.G
	gl := cg * s.N
	part := make([]float64, s.B*s.C)
	parallelFor(s.B*s.G, func(_, bg int) {
		xs := x[bg*gl : (bg+1)*gl]
		ds := dy[bg*gl : (bg+1)*gl]
		mean, rstd := gnStats(xs, s.Eps)
		b, g := bg/s.G, bg%s.G
		for j := 0; j < cg; j++ {
			_, a := gnSums(ds[j*s.N:(j+1)*s.N], xs[j*s.N:(j+1)*s.N], mean)
			part[b*s.C+g*cg+j] = a * rstd
		}
	})
	for c := range dgamma {
		var a float64
		for b := 0; b < s.B; b++ {
			a += part[b*s.C+c]
		}
		dgamma[c] = T(a)
	}
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
