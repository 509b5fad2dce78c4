// Command gpubench times an exported 64×64 score model and the sampler on the CPU and on
// CUDA through infer/ort, the path `scorelens sample --device cuda` takes: forward passes at
// batch 1 and 16, and 100 sampler steps at batch 16 with the paper and full likelihoods.
// It does not link the trainer (no OpenBLAS), so it runs on a bare GPU machine; see
// docs/gpu.md for how it was run and what it measured.
//
//	gpubench model.onnx lens.json workdir
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"scorelens/infer"
	"scorelens/infer/ort"
	"scorelens/lens"
)

type timed struct {
	infer.ScoreModel
	spent time.Duration
}

func (m *timed) Score(ctx context.Context, dst, x, t []float32) error {
	s := time.Now()
	err := m.ScoreModel.Score(ctx, dst, x, t)
	m.spent += time.Since(s)
	return err
}

func main() {
	model, lensPath, work := os.Args[1], os.Args[2], os.Args[3]
	ctx := context.Background()
	obs := filepath.Join(work, "obs.fits")
	if _, err := lens.SimulateFile(ctx, lensPath, "spiral", 1, obs, "gpubench"); err != nil {
		fmt.Println("simulate:", err)
		os.Exit(1)
	}
	for _, dev := range []string{"cpu", "cuda"} {
		m, err := ort.Open(model, ort.Options{Device: dev})
		if err != nil {
			fmt.Printf("%s: open: %v\n", dev, err)
			continue
		}
		lib, ver := m.Runtime()
		fmt.Printf("%s: ONNX Runtime %s (%s), device %s\n", dev, ver, lib, m.Device())
		for _, b := range []int{1, 16} {
			x := make([]float32, b*64*64)
			for i := range x {
				x[i] = float32(i%23) / 23
			}
			dst := make([]float32, len(x))
			ts := make([]float32, b)
			for i := range ts {
				ts[i] = 0.3
			}
			for range 3 {
				m.Score(ctx, dst, x, ts)
			}
			n := 40
			s := time.Now()
			for range n {
				if err := m.Score(ctx, dst, x, ts); err != nil {
					fmt.Println(err)
				}
			}
			el := time.Since(s)
			fmt.Printf("%s forward batch %2d: %.3f ms/call, %.3f ms/image\n", dev, b, el.Seconds()*1e3/float64(n), el.Seconds()*1e3/float64(n*b))
		}
		m.Close()
		for _, lik := range []string{"paper", "full"} {
			prior, pm, err := ort.OpenPrior(model, 64, ort.Options{Device: dev})
			if err != nil {
				fmt.Println(err)
				continue
			}
			tm := &timed{ScoreModel: prior.Score}
			prior.Score = tm
			const steps = 100
			s := time.Now()
			err = infer.Run(ctx, infer.RunOptions{Lens: lensPath, Obs: obs, Out: filepath.Join(work, "post-"+dev+"-"+lik+".fits"),
				Model: prior, Likelihood: lik, Predictor: "em", Corrector: "none", Steps: steps, Samples: 16, Batch: 16,
				Seed: 1, Shard: 1, Shards: 1, Force: true})
			el := time.Since(s)
			if err != nil {
				fmt.Println(err)
			}
			fmt.Printf("%s sampler %s batch 16: %.2f ms/step (%.3f ms per sample-step), %.0f%% in the score model\n",
				dev, lik, el.Seconds()*1e3/steps, el.Seconds()*1e3/steps/16, 100*tm.spent.Seconds()/el.Seconds())
			pm.Close()
		}
	}
}
