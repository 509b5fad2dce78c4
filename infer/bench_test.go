package infer

import (
	"context"
	"math/rand/v2"
	"testing"
)

// zeroPrior is a prior whose score costs nothing, so that the benchmark measures the
// sampler's own work: the likelihood, the noise draws and the update.
type zeroPrior struct{ n int }

func (z zeroPrior) Shape() (int, int, int)                                       { return 1, z.n, z.n }
func (z zeroPrior) Score(context.Context, []float32, []float32, []float32) error { return nil }
func (z zeroPrior) ScoreSigma(dst, _ []float64, _ float64)                       { clear(dst) }

// BenchmarkSamplerStep reports the sampler's cost per step and per sample, excluding the
// prior score, for each likelihood at 64×64 (source 64² at 0.05″, image 64² at 0.1″, 2×2
// rays), one sample, em, over a full descent of σ(t) from 20 to 1e-3 with noise σN = 0.01
// (the expensive end for full: CG iterations grow as σ(t)/σN).
func BenchmarkSamplerStep(b *testing.B) {
	op := lensOperator(b, 64, 3.2, 64, 6.4)
	m := op.Rows()
	rng := rand.New(rand.NewPCG(1, 2))
	truth := make([]float64, op.Cols())
	for i := range truth {
		truth[i] = rng.Float64()
	}
	y, noise := make([]float64, m), make([]float64, m)
	op.Apply(y, truth)
	for _, sn := range []float64{0.01, 0.1} {
		for i := range y {
			noise[i] = sn
		}
		for _, kind := range LikelihoodNames {
			l, err := NewLikelihood(kind, op, y, noise, nil, LikelihoodOptions{})
			if err != nil {
				b.Fatal(err)
			}
			post := &Posterior{Prior: zeroPrior{64}, Likelihood: l, SDE: VESDE{1e-3, 20}}
			b.Run(kind+"/noise="+ftoa(sn), func(b *testing.B) {
				const steps = 200
				opt := SolverOptions{SDE: post.SDE, Steps: steps, Predictor: "em", Workers: 1}
				x := make([]float64, op.Cols())
				its, evals := 0, 0
				for b.Loop() {
					batch := post.NewBatch(1)
					if err := Solve(context.Background(), batch, x, []*rand.Rand{SampleRNG(1, 0)}, opt); err != nil {
						b.Fatal(err)
					}
					its += batch.Works()[0].Iterations
					evals += batch.Works()[0].Evaluations
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*steps), "ns/step")
				b.ReportMetric(float64(its)/float64(evals), "cg-its/step")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

func ftoa(f float64) string {
	switch f {
	case 0.01:
		return "0.01"
	case 0.1:
		return "0.1"
	}
	return "x"
}
