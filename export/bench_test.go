package export

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"scorelens/infer"
	"scorelens/infer/ort"
	"scorelens/lens"
	"scorelens/trainer/kernels"
)

// smallModel exports a `small` network with non-trivial random weights (the speed of a
// forward pass does not depend on what the weights learned) and returns its path.
func smallModel(b *testing.B) string {
	b.Helper()
	needRuntime(b)
	dir := b.TempDir()
	testCheckpoint(b, "small", dir, 1)
	path := filepath.Join(dir, "small.onnx")
	if err := Export(dir, path, Options{}); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkSmallScoreModel times the exported `small` NCSN++ under ONNX Runtime (CPU) at
// batch 1 and 16: milliseconds per image and the achieved GFLOP/s (the FLOPs that
// `scorelens inspect` counts), beside the 1024² float32 matmul rate of the trainer's BLAS
// measured in the same run.
func BenchmarkSmallScoreModel(b *testing.B) {
	path := smallModel(b)
	rep, err := ort.Inspect(context.Background(), path, ort.Options{})
	if err != nil {
		b.Fatal(err)
	}
	m, err := ort.Open(path, ort.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	mm := kernels.MatmulRate(3)
	for _, batch := range []int{1, 16} {
		b.Run(fmt.Sprintf("B%d", batch), func(b *testing.B) {
			x, dst, ts := benchInput(batch, 0.3)
			ctx := context.Background()
			if err := m.Score(ctx, dst, x, ts); err != nil { // allocate the tensors of this batch size
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if err := m.Score(ctx, dst, x, ts); err != nil {
					b.Fatal(err)
				}
			}
			perImage := b.Elapsed().Seconds() / float64(b.N*batch)
			b.ReportMetric(perImage*1e3, "ms/image")
			b.ReportMetric(float64(rep.FLOPs)/perImage/1e9, "GFLOP/s")
			b.ReportMetric(mm, "matmul-GFLOP/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// timedModel measures the time spent in the score model.
type timedModel struct {
	infer.ScoreModel
	spent time.Duration
}

func (m *timedModel) Score(ctx context.Context, dst, x, t []float32) error {
	s := time.Now()
	err := m.ScoreModel.Score(ctx, dst, x, t)
	m.spent += time.Since(s)
	return err
}

// BenchmarkPosteriorSmall runs `scorelens sample` on the 64×64 lens of SPEC §4 with the
// exported `small` model, batch 16, each likelihood, and reports seconds per sample at the
// step count `--steps auto` would use, the share of the time spent in the score model and
// in the sampler's own work (lensing, likelihood, SDE), and the process's peak resident
// memory. A short descent (benchSteps) is timed and scaled: the cost per step is constant.
func BenchmarkPosteriorSmall(b *testing.B) {
	const benchSteps = 20
	path := smallModel(b)
	dir := b.TempDir()
	lensPath := filepath.Join("..", "testdata", "lens-example.json")
	obsPath := filepath.Join(dir, "obs.fits")
	if _, err := lens.SimulateFile(context.Background(), lensPath, "spiral", 1, obsPath, "bench"); err != nil {
		b.Fatal(err)
	}
	// Each likelihood with the paper's Euler–Maruyama at --steps auto, and the full one
	// with the heun predictor at 100 steps and churn 40 (two model calls a step), the
	// setting that matched it on the held-out lenses (models/galaxies64.md).
	type variant struct {
		name, lik, pred string
		steps           int // steps timed
		churn           infer.Churn
	}
	var variants []variant
	for _, lik := range infer.LikelihoodNames {
		variants = append(variants, variant{lik, lik, "em", benchSteps, infer.Churn{}})
	}
	variants = append(variants, variant{"full-heun100", infer.LikelihoodFull, "heun", benchSteps / 2, infer.Churn{Amount: 40}})
	for _, v := range variants {
		lik := v.lik
		b.Run(v.name, func(b *testing.B) {
			prior, m, err := ort.OpenPrior(path, 64, ort.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			auto, err := infer.StepsFor(infer.DefaultStepTarget, 64*64, prior.SigmaMin, prior.SigmaMax)
			if err != nil {
				b.Fatal(err)
			}
			if v.pred == "heun" {
				auto = 100
			}
			tm := &timedModel{ScoreModel: prior.Score}
			prior.Score = tm
			var total time.Duration
			for i := 0; b.Loop(); i++ {
				s := time.Now()
				err := infer.Run(context.Background(), infer.RunOptions{Lens: lensPath, Obs: obsPath,
					Out: filepath.Join(dir, fmt.Sprintf("post-%s-%d.fits", v.name, i)), Model: prior,
					Likelihood: lik, Predictor: v.pred, Churn: v.churn, Corrector: "none", Steps: v.steps, Samples: 16,
					Batch: 16, Seed: 1, Shard: 1, Shards: 1})
				if err != nil {
					b.Fatal(err)
				}
				total += time.Since(s)
			}
			perStep := total.Seconds() / float64(b.N*v.steps)
			b.ReportMetric(perStep*float64(auto)/16, "s/sample")
			b.ReportMetric(float64(auto), "steps")
			b.ReportMetric(100*tm.spent.Seconds()/total.Seconds(), "%model")
			b.ReportMetric(100*(1-tm.spent.Seconds()/total.Seconds()), "%sampler")
			var ru syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MiB")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkCombinedScoreModel times the `small` network alone and joined to itself by
// Combine (switch σ = 0.03), at batch 16 and a time on each side of the switch: a combined
// model should cost what the network it runs costs (the If, Where and the other network's
// zeros are negligible). Compare the ns/op of the three sub-benchmarks within one run.
func BenchmarkCombinedScoreModel(b *testing.B) {
	path := smallModel(b)
	joined := filepath.Join(b.TempDir(), "joined.onnx")
	if _, err := Combine(path, path, joined, CombineOptions{SwitchSigma: 0.03}); err != nil {
		b.Fatal(err)
	}
	const batch = 16
	for _, c := range []struct {
		name, path string
		t          float32
	}{{"alone", path, 0.3}, {"joined/above", joined, 0.3}, {"joined/below", joined, 0.1}} {
		b.Run(c.name, func(b *testing.B) {
			m, err := ort.Open(c.path, ort.Options{Threads: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			x, dst, ts := benchInput(batch, c.t)
			ctx := context.Background()
			if err := m.Score(ctx, dst, x, ts); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := m.Score(ctx, dst, x, ts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchInput returns a fixed 64×64 batch, its output buffer and the times, all t.
func benchInput(batch int, t float32) (x, dst, ts []float32) {
	x = make([]float32, batch*64*64)
	for i := range x {
		x[i] = float32(i%23) / 23
	}
	ts = make([]float32, batch)
	for i := range ts {
		ts[i] = t
	}
	return x, make([]float32, len(x)), ts
}
