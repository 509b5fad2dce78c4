package infer

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"scorelens/lens"
)

// zeroPrior is a prior whose score costs nothing, so that the benchmark measures the
// sampler's own work: the likelihood, the noise draws and the update.
type zeroPrior struct{ n int }

func (z zeroPrior) Shape() (int, int, int)                                       { return 1, z.n, z.n }
func (z zeroPrior) Score(context.Context, []float32, []float32, []float32) error { return nil }
func (z zeroPrior) ScoreSigma(dst, _ []float64, _ float64)                       { clear(dst) }

// BenchmarkSamplerStep reports the sampler's cost per step and per sample, excluding the
// prior score, for each likelihood at 64×64 (source 64² at 0.05″, image 64² at 0.1″, 2×2
// rays), one sample, em, over a full descent of σ(t) from 20 to 1e-3 in 200 or 2000 steps
// with noise σN = 0.01 or 0.1 (the expensive end for full: CG iterations grow as σ(t)/σN).
// full also reports its cost as a multiple of paper's (x-paper: the median over the loop of
// each full descent's time over that of a paper descent run right after it, so that a
// machine whose load changes from second to second still gives a usable ratio) and the
// one-off set-up of its preconditioner (A Aᵀ and the incomplete Cholesky factors of the σ
// levels a descent visits), which a run pays once for all its samples and is left out of
// ns/step, and its unconverged (or broken-down) solves per descent, which should be 0.
//
// The cases named psf=0.08 convolve the image with a Gaussian PSF of FWHM 0.08″ (0.8 image
// pixels), as every real observation is: A then has 10 times the entries (190k against
// 20k) and A Aᵀ 12 times (718k against 62k), which made the preconditioner's set-up of
// the PSF-free tuning explode (6–9 s here, 20 s of a 20-step run on the example lens).
// setup-its reports that set-up in CG iterations (Likelihood.SetupWork), the unit in
// which it is bounded.
func BenchmarkSamplerStep(b *testing.B) {
	for _, psf := range []float64{0, 0.08} {
		op := lensOperator(b, 64, 3.2, 64, 6.4)
		name := ""
		if psf > 0 {
			op = lensOperatorPSF(b, 64, 3.2, 64, 6.4, psf)
			name = fmt.Sprintf("/psf=%g", psf)
		}
		benchSamplerStep(b, op, name)
	}
}

func benchSamplerStep(b *testing.B, op *lens.Operator, psfName string) {
	m := op.Rows()
	rng := rand.New(rand.NewPCG(1, 2))
	truth := make([]float64, op.Cols())
	for i := range truth {
		truth[i] = rng.Float64()
	}
	y, noise := make([]float64, m), make([]float64, m)
	op.Apply(y, truth)
	for _, steps := range []int{200, 2000} {
		for _, sn := range []float64{0.01, 0.1} {
			for i := range y {
				noise[i] = sn
			}
			for _, kind := range LikelihoodNames {
				b.Run(fmt.Sprintf("%s/noise=%g/steps=%d%s", kind, sn, steps, psfName), func(b *testing.B) {
					t0 := time.Now()
					descent, l := benchDescent(b, kind, op, y, noise, steps)
					if kind == LikelihoodFull {
						for _, sig := range []float64{20, 1e-3} { // the factors of every level visited
							for s := sig; s >= 1e-3; s /= icRho {
								l.icAt(s * s)
							}
						}
					}
					setup := time.Since(t0)
					var paper func() *LikelihoodWork
					if kind == LikelihoodFull {
						paper, _ = benchDescent(b, LikelihoodPaper, op, y, noise, steps)
					}
					var ratios []float64
					its, evals, unconv := 0, 0, 0
					for b.Loop() {
						t := time.Now()
						w := descent()
						d := time.Since(t)
						its += w.Iterations
						evals += w.Evaluations
						unconv += w.Unconverged
						if paper != nil {
							b.StopTimer()
							t = time.Now()
							paper()
							ratios = append(ratios, float64(d)/float64(time.Since(t)))
							b.StartTimer()
						}
					}
					ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N*steps)
					b.ReportMetric(ns, "ns/step")
					b.ReportMetric(float64(its)/float64(evals), "cg-its/step")
					b.ReportMetric(0, "ns/op")
					if kind == LikelihoodFull {
						b.ReportMetric(float64(unconv)/float64(b.N), "unconverged/descent")
						b.ReportMetric(float64(setup.Microseconds())/1e3, "setup-ms")
						b.ReportMetric(l.SetupWork(), "setup-its")
						slices.Sort(ratios)
						b.ReportMetric(ratios[len(ratios)/2], "x-paper")
					}
				})
			}
		}
	}
}

// benchDescent returns a function that runs one em descent of BenchmarkSamplerStep with the
// given likelihood and returns its likelihood workspace, and the likelihood.
func benchDescent(b *testing.B, kind string, op LinearOperator, y, noise []float64, steps int) (func() *LikelihoodWork, *Likelihood) {
	l, err := NewLikelihood(kind, op, y, noise, nil, LikelihoodOptions{})
	if err != nil {
		b.Fatal(err)
	}
	post := &Posterior{Prior: zeroPrior{side(op.Cols())}, Likelihood: l, SDE: VESDE{1e-3, 20}}
	opt := SolverOptions{SDE: post.SDE, Steps: steps, Predictor: "em", Workers: 1}
	x := make([]float64, op.Cols())
	return func() *LikelihoodWork {
		batch := post.NewBatch(1)
		if err := Solve(context.Background(), batch, x, []*rand.Rand{SampleRNG(1, 0)}, opt); err != nil {
			b.Fatal(err)
		}
		for _, v := range x { // few iterations from a diverged descent mean nothing
			if math.IsNaN(v) || math.IsInf(v, 0) {
				b.Fatalf("%s: non-finite sample", kind)
			}
		}
		return batch.Works()[0]
	}, l
}
