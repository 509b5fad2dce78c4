package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"scorelens/infer"
	"scorelens/infer/evaluate"
	"scorelens/infer/ort"
)

func init() {
	register(&cli.Command{
		Name:      "evaluate",
		Usage:     "posteriors of held-out synthetic lenses with a score model and a Gaussian baseline: the χ²ν and error table",
		UsageText: "scorelens evaluate --model model.onnx --out dir/ [--lenses 20] [--samples 16] [--seed S] [--steps auto|N] [--likelihood full] [--baseline SPEC] [--grid N]",
		Description: fmt.Sprintf("For each lens i: a random SIE (θE %g–%g″, q %g–%g, random φ, centre within %g″) and shear\n"+
			"(|γ| ≤ %g); a held-out synthetic galaxy (stream seed --galaxy-seed, default %d; the shipped\n"+
			"prior was trained on seed %d) peak-normalised, its light centroid drawn uniformly inside the\n"+
			"tangential caustic; a source grid of N pixels over %g″, an image of N pixels over %g″\n"+
			"(supersample %d, Gaussian PSF FWHM %g″; N = 64 is SPEC §4), σN = %g × the source peak. It\n"+
			"writes dir/lens-NN/{lens.json,obs.fits,post-model.fits,post-baseline.fits}, samples both\n"+
			"posteriors with the same likelihood, steps and seed (seed+i), and prints the table (also\n"+
			"dir/table.md, dir/table.csv): median χ²ν of the samples' predictions and the rms error of\n"+
			"each posterior mean against the truth. Rerunning the same command resumes: finished\n"+
			"posterior files are kept; --shard k/n splits the lenses between processes sharing --out.\n"+
			"--steps auto uses the model's σ range at p = 0.99.",
			evaluate.ThetaEMin, evaluate.ThetaEMax, evaluate.QMin, evaluate.QMax, evaluate.CentreMax, evaluate.ShearMax,
			evaluate.DefaultGalaxySeed, evaluate.TrainingSeed, evaluate.SourceFOV, evaluate.ImageFOV, evaluate.Supersample,
			evaluate.PSFFWHM, evaluate.NoiseFrac),
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "model", Usage: "score model `FILE` (ONNX, SPEC §6)", Required: true},
			&cli.StringFlag{Name: "out", Usage: "output `DIR`", Required: true},
			&cli.IntFlag{Name: "lenses", Usage: "number of held-out lenses", Value: 20},
			&cli.IntFlag{Name: "samples", Usage: "posterior samples per lens and prior", Value: 16},
			&cli.IntFlag{Name: "batch", Usage: "samples solved together", Value: 16},
			&cli.StringFlag{Name: "steps", Usage: "solver steps (both priors): auto (200 for heun; else the paper's rule, eq. 22 at 0.99) or a number", Value: "auto"},
			&cli.StringFlag{Name: "likelihood", Usage: "convolved likelihood: " + strings.Join(infer.LikelihoodNames, ", "), Value: infer.LikelihoodFull},
			&cli.StringFlag{Name: "predictor", Usage: "predictor: " + strings.Join(infer.PredictorNames(), ", "), Value: "em"},
			&cli.StringFlag{Name: "corrector", Usage: "corrector: " + strings.Join(infer.CorrectorNames(), ", "), Value: "none"},
			&cli.Float64Flag{Name: "snr", Usage: "Langevin corrector signal-to-noise ratio", Value: infer.DefaultSNR},
			&cli.Float64Flag{Name: "cg-tol", Usage: "relative CG tolerance of --likelihood full", Value: infer.DefaultCGTol},
			&cli.StringFlag{Name: "baseline", Usage: "analytic Gaussian prior `SPEC` to compare with", Value: evaluate.DefaultBaseline},
			&cli.Uint64Flag{Name: "seed", Usage: "seed of the lenses, their noise and the samplers", Value: 1},
			&cli.Uint64Flag{Name: "galaxy-seed", Usage: "held-out galaxy stream seed (not the training set's)", Value: evaluate.DefaultGalaxySeed},
			&cli.IntFlag{Name: "grid", Usage: "source and image pixels a side (0: the model's size)"},
			&cli.StringFlag{Name: "shard", Usage: "compute only lenses i with i mod n = k−1 (`k/n`), no table: run the shards in parallel processes on one --out, then once without --shard for the table", Value: "1/1"},
			&cli.BoolFlag{Name: "quiet", Usage: "no progress output"},
		}, append(churnFlags(0, "0:0"), scoreModelFlags()...)...),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("evaluate: unexpected argument %q", c.Args().First())
			}
			churn, err := churnOf("evaluate", c)
			if err != nil {
				return err
			}
			steps, err := parseSteps("evaluate", c.String("steps"))
			if err != nil {
				return err
			}
			if g := c.Int("grid"); g < 0 || (g > 0 && g < 4) {
				return fmt.Errorf("evaluate: --grid must be 0 (the model's size) or at least 4, got %d", g)
			}
			if c.Uint64("galaxy-seed") == evaluate.TrainingSeed {
				return fmt.Errorf("evaluate: --galaxy-seed %d is the training set's: held-out galaxies need another", evaluate.TrainingSeed)
			}
			k, n, err := parseShard(c.String("shard"))
			if err != nil {
				return fmt.Errorf("evaluate: --shard must be k/n with 1 ≤ k ≤ n, got %q", c.String("shard"))
			}
			prior, m, err := ort.OpenPrior(c.String("model"), c.Int("grid"), scoreModelOptions(c))
			if err != nil {
				return err
			}
			defer m.Close()
			var log io.Writer = c.App.ErrWriter
			if c.Bool("quiet") {
				log = nil
			}
			res, err := evaluate.Evaluate(c.Context, evaluate.Options{
				Model: prior, Baseline: c.String("baseline"), Lenses: c.Int("lenses"), Samples: c.Int("samples"),
				Batch: c.Int("batch"), Steps: steps, Likelihood: c.String("likelihood"), Predictor: c.String("predictor"),
				Corrector: c.String("corrector"), SNR: c.Float64("snr"), Churn: churn, CGTol: c.Float64("cg-tol"), Seed: c.Uint64("seed"),
				GalaxySeed: c.Uint64("galaxy-seed"), Grid: c.Int("grid"), Out: c.String("out"), Shard: k, Shards: n, Software: version, Log: log,
			})
			if err != nil {
				return err
			}
			if n > 1 {
				fmt.Fprintf(c.App.Writer, "shard %d/%d: %d lenses done in %s; run once more without --shard for the table\n", k, n, len(res.Lenses), c.String("out"))
				return nil
			}
			res.WriteMarkdown(c.App.Writer, prior.Name)
			return nil
		},
	})
}
