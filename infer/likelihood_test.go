package infer

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// denseLikelihoodScore is Aᵀ C⁻¹ (y − A x) on the used pixels by a dense solve, with
// C = Σy + σ² K where K is I, diag(AAᵀ) or AAᵀ.
func denseLikelihoodScore(kind string, a *mat.Dense, y, noise []float64, mask []bool, x []float64, sigma float64) []float64 {
	m, n := a.Dims()
	var used []int
	for i := 0; i < m; i++ {
		if mask == nil || mask[i] {
			used = append(used, i)
		}
	}
	k := len(used)
	c := mat.NewSymDense(k, nil)
	for p, i := range used {
		for q, j := range used[p:] {
			q += p
			aat := mat.Dot(a.RowView(i), a.RowView(j))
			v := 0.0
			switch kind {
			case LikelihoodPaper:
				if i == j {
					v = 1
				}
			case LikelihoodDiag:
				if i == j {
					v = aat
				}
			case LikelihoodFull:
				v = aat
			}
			v *= sigma * sigma
			if i == j {
				v += noise[i] * noise[i]
			}
			c.SetSym(p, q, v)
		}
	}
	var ax mat.VecDense
	ax.MulVec(a, mat.NewVecDense(n, x))
	r := mat.NewVecDense(k, nil)
	for p, i := range used {
		r.SetVec(p, y[i]-ax.AtVec(i))
	}
	var ch mat.Cholesky
	if !ch.Factorize(c) {
		panic("C not positive definite")
	}
	var u mat.VecDense
	if err := ch.SolveVecTo(&u, r); err != nil {
		panic(err)
	}
	out := make([]float64, n)
	for p, i := range used {
		for j := 0; j < n; j++ {
			out[j] += a.At(i, j) * u.AtVec(p)
		}
	}
	return out
}

// Each likelihood's score against a dense solve, with per-pixel noise and a mask, over a
// descending σ(t) sequence (as the sampler visits it, so the full likelihood's warm start
// is exercised). paper and diag are closed forms: 1e-12 relative. full stops CG at a
// relative residual of 1e-10 in the preconditioned norm; the score error is bounded by
// that times the condition number of C (≲ 1e4 here), so 1e-6.
func TestLikelihoodScoreAgainstDense(t *testing.T) {
	op := lensOperator(t, 8, 1.0, 12, 3.0)
	ad := denseOf(op)
	rng := rand.New(rand.NewPCG(11, 12))
	m, n := op.Rows(), op.Cols()
	y, noise, mask := make([]float64, m), make([]float64, m), make([]bool, m)
	for i := range y {
		y[i] = rng.NormFloat64()
		noise[i] = 0.05 + 0.1*rng.Float64()
		mask[i] = i%7 != 3
	}
	for _, kind := range LikelihoodNames {
		l, err := NewLikelihood(kind, op, y, noise, mask, LikelihoodOptions{CGTol: 1e-10, CGMaxIter: 1000})
		if err != nil {
			t.Fatal(err)
		}
		w := l.NewWork()
		x := make([]float64, n)
		for _, sigma := range []float64{30, 10, 3, 1, 0.3, 0.1, 0.03, 0.01, 0.001} {
			for i := range x {
				x[i] += 0.1 * rng.NormFloat64()
			}
			want := denseLikelihoodScore(kind, ad, y, noise, mask, x, sigma)
			got := make([]float64, n)
			for i := range got {
				got[i] = 1 // AddScore adds
			}
			l.AddScore(got, x, sigma, w)
			for i := range got {
				got[i]--
			}
			tol := 1e-12
			if kind == LikelihoodFull {
				tol = 1e-6
			}
			if d := maxRelDiff(got, want); d > tol {
				t.Errorf("%s σ=%g: score differs from dense by %.3g (relative to max), tolerance %g", kind, sigma, d, tol)
			}
		}
		if kind == LikelihoodFull {
			t.Logf("full: %d evaluations, %d CG iterations at tol 1e-10, %d unconverged", w.Evaluations, w.Iterations, w.Unconverged)
			if w.Unconverged > 0 {
				t.Errorf("CG did not converge in %d evaluations", w.Unconverged)
			}
		}
	}
}

// The drift bound of the carried Aᵀu and AAᵀu: after many warm-started solves (more than
// the resync period) the score still matches a cold start to the CG tolerance.
func TestLikelihoodWarmStartLongRun(t *testing.T) {
	op := lensOperator(t, 8, 1.0, 12, 3.0)
	rng := rand.New(rand.NewPCG(13, 14))
	m, n := op.Rows(), op.Cols()
	y, noise := make([]float64, m), make([]float64, m)
	for i := range y {
		y[i], noise[i] = rng.NormFloat64(), 0.1
	}
	l, err := NewLikelihood(LikelihoodFull, op, y, noise, nil, LikelihoodOptions{CGTol: 1e-9, CGMaxIter: 1000})
	if err != nil {
		t.Fatal(err)
	}
	warm := l.NewWork()
	x := make([]float64, n)
	sde := VESDE{SigmaMin: 0.001, SigmaMax: 20}
	const steps = 150
	for k := 0; k < steps; k++ {
		for i := range x {
			x[i] += 0.05 * rng.NormFloat64()
		}
		sig := sde.Sigma(1 - float64(k)/steps)
		a, b := make([]float64, n), make([]float64, n)
		l.AddScore(a, x, sig, warm)
		l.AddScore(b, x, sig, l.NewWork())
		if d := maxRelDiff(a, b); d > 1e-6 {
			t.Fatalf("step %d σ=%g: warm and cold starts differ by %g", k, sig, d)
		}
	}
	t.Logf("%.1f CG iterations per warm-started solve at tol 1e-9", float64(warm.Iterations)/float64(warm.Evaluations))
}

func TestLikelihoodBadInput(t *testing.T) {
	op := lensOperator(t, 4, 1.0, 6, 3.0)
	m := op.Rows()
	good := func() ([]float64, []float64, []bool) {
		y, s, mk := make([]float64, m), make([]float64, m), make([]bool, m)
		for i := range s {
			s[i], mk[i] = 0.1, true
		}
		return y, s, mk
	}
	y, s, mk := good()
	if _, err := NewLikelihood("exact", op, y, s, mk, LikelihoodOptions{}); err == nil || !strings.Contains(err.Error(), `unknown likelihood "exact"`) {
		t.Errorf("unknown name: %v", err)
	}
	y[7] = math.NaN()
	if _, err := NewLikelihood("paper", op, y, s, mk, LikelihoodOptions{}); err == nil || !strings.Contains(err.Error(), "pixel 7") {
		t.Errorf("NaN data: %v", err)
	}
	mk[7] = false // a masked NaN is fine
	if _, err := NewLikelihood("paper", op, y, s, mk, LikelihoodOptions{}); err != nil {
		t.Errorf("masked NaN refused: %v", err)
	}
	y, s, mk = good()
	s[3] = 0
	if _, err := NewLikelihood("diag", op, y, s, mk, LikelihoodOptions{}); err == nil || !strings.Contains(err.Error(), "pixel 3") {
		t.Errorf("zero sigma: %v", err)
	}
	y, s, _ = good()
	if _, err := NewLikelihood("full", op, y, s, make([]bool, m), LikelihoodOptions{}); err == nil {
		t.Error("all-masked data accepted")
	}
	if _, err := NewLikelihood("full", op, y, s, nil, LikelihoodOptions{CGTol: 2}); err == nil {
		t.Error("cg-tol 2 accepted")
	}
}
