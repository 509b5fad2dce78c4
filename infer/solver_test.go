package infer

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// smallPosterior is a GRF prior with the full likelihood on an 8×8 source.
func smallPosterior(t testing.TB, kind string) (*Posterior, VESDE) {
	op := lensOperator(t, 8, 1.0, 12, 3.0)
	prior, err := NewGRFPrior(8, 8, 0.125, 0.1, 1, 3, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	lg := newLinearGaussian(prior, op, 0.05, 3)
	l, err := NewLikelihood(kind, op, lg.Y, lg.Noise, lg.Mask, LikelihoodOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sde := VESDE{SigmaMin: 1e-3, SigmaMax: prior.DefaultSigmaMax()}
	return &Posterior{Prior: prior, Likelihood: l, SDE: sde}, sde
}

func drawSamples(t *testing.T, post *Posterior, opt SolverOptions, seed uint64, idx []int) [][]float64 {
	n := post.Prior.(*GaussianPrior).Len()
	x := make([]float64, len(idx)*n)
	rngs := make([]*randRand, len(idx))
	for b, i := range idx {
		rngs[b] = SampleRNG(seed, i)
	}
	if err := Solve(context.Background(), post.NewBatch(len(idx)), x, rngs, opt); err != nil {
		t.Fatal(err)
	}
	out := make([][]float64, len(idx))
	for b := range idx {
		out[b] = x[b*n : (b+1)*n]
	}
	return out
}

// A sample depends only on (seed, index): the same whatever the batch it is drawn in, the
// number of goroutines, or the run. Bitwise equality, for every predictor/corrector.
func TestSolveDeterministic(t *testing.T) {
	post, sde := smallPosterior(t, LikelihoodFull)
	for _, pc := range []struct {
		pred, corr string
		churn      Churn
	}{{"em", "none", Churn{}}, {"rd", "langevin", Churn{}}, {"heun", "none", Churn{}}, {"heun", "langevin", Churn{Amount: 20, SigmaLo: 0.01, SigmaHi: 1, Noise: 1.007}}} {
		opt := SolverOptions{SDE: sde, Steps: 40, Predictor: pc.pred, Corrector: pc.corr, Churn: pc.churn}
		all := drawSamples(t, post, opt, 42, []int{0, 1, 2, 3, 4, 5})
		opt.Workers = 1
		a := drawSamples(t, post, opt, 42, []int{4, 5})
		opt.Workers = 3
		b := drawSamples(t, post, opt, 42, []int{0, 1, 2, 3})
		again := append(b, a...)
		for i := range all {
			for j := range all[i] {
				if all[i][j] != again[i][j] {
					t.Fatalf("%v: sample %d pixel %d: %v in one batch, %v in two", pc, i, j, all[i][j], again[i][j])
				}
			}
		}
		if other := drawSamples(t, post, opt, 43, []int{0}); other[0][0] == all[0][0] {
			t.Errorf("%v: seed does not change the sample", pc)
		}
	}
}

type randRand = rand.Rand

func TestSolveCancelAndBadOptions(t *testing.T) {
	post, sde := smallPosterior(t, LikelihoodPaper)
	ctx, cancel := context.WithCancel(context.Background())
	steps := 0
	opt := SolverOptions{SDE: sde, Steps: 1000, Predictor: "em", Progress: func(done, _ int) {
		steps = done
		if done == 5 {
			cancel()
		}
	}}
	x := make([]float64, 64)
	err := Solve(ctx, post.NewBatch(1), x, []*randRand{SampleRNG(1, 0)}, opt)
	if !errors.Is(err, context.Canceled) || steps != 5 {
		t.Errorf("cancel: err %v after %d steps", err, steps)
	}
	for _, o := range []SolverOptions{
		{SDE: sde, Steps: 10, Predictor: "rk45"},
		{SDE: sde, Steps: 10, Predictor: "em", Churn: Churn{Amount: 1}},
		{SDE: sde, Steps: 10, Predictor: "em", Churn: Churn{Noise: 1.1}},
		{SDE: sde, Steps: 10, Predictor: "heun", Churn: Churn{Amount: -1}},
		{SDE: sde, Steps: 10, Predictor: "heun", Churn: Churn{Amount: 1, SigmaLo: 2, SigmaHi: 1}},
		{SDE: sde, Steps: 10, Predictor: "heun", Churn: Churn{Amount: 1, Noise: math.NaN()}},
		{SDE: sde, Steps: 10, Predictor: "em", Corrector: "ald"},
		{SDE: sde, Steps: 0, Predictor: "em"},
		{SDE: VESDE{1, 1}, Steps: 10, Predictor: "em"},
		{SDE: sde, Steps: 10, Predictor: "em", Corrector: "langevin", SNR: -1},
	} {
		if o.Check() == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// Heun.Step alone is the Euler half of the heun step: for the probability-flow ODE
// dx/dσ = −σ·score it moves x by ½(σ(t)² − σ(t−dt)²)·score, adds no noise, and writes the
// same values into mean.
func TestHeunEulerStep(t *testing.T) {
	sde := VESDE{SigmaMin: 0.01, SigmaMax: 10}
	x := []float64{1, -2, 0.5}
	score := []float64{-0.3, 0.7, 2}
	z := []float64{5, 5, 5} // ignored
	mean := make([]float64, 3)
	t0, dt := 0.6, 0.05
	s0, s1 := sde.Sigma(t0), sde.Sigma(t0-dt)
	want := make([]float64, 3)
	for i := range x {
		want[i] = x[i] + 0.5*(s0*s0-s1*s1)*score[i]
	}
	Heun{}.Step(x, mean, score, z, sde, t0, dt)
	for i := range x {
		if math.Abs(x[i]-want[i]) > 1e-12 || mean[i] != x[i] {
			t.Errorf("pixel %d: x %v mean %v, want %v", i, x[i], mean[i], want[i])
		}
	}
}
