package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"scorelens/infer"
	"scorelens/infer/ort"
	"scorelens/lens"
)

func init() {
	register(&cli.Command{
		Name:      "sample",
		Usage:     "draw posterior samples of the source (writes SAMPLES, MEAN, STD, PRED, RESID, CHI2NU)",
		UsageText: "scorelens sample (--model model.onnx | --prior SPEC) --lens lens.json --obs obs.fits --out post.fits [options]",
		Description: "Solves the reverse-time VE SDE with the prior score plus the convolved likelihood score\n" +
			"(Adam et al. 2022). --model takes an ONNX score model (SPEC §6; the convention flags below\n" +
			"describe models made elsewhere; metadata, where present, is the default). --prior takes an\n" +
			"analytic Gaussian prior instead: white:sigma=S[,mean=M] or\n" +
			"grf:sigma=S,index=A[,mean=M][,scale=L] (L in arcsec, default a quarter of the source field).\n" +
			"Defaults: a model's σ range from its metadata (× data_scale); for --prior, --sigma-max\n" +
			"sqrt(2 tr Σx + |m|²) and --sigma-min 1e-3 × min(prior σ, smallest noise σ); --steps auto =\n" +
			"technique 2 of Song & Ermon at p = 0.99 (200 for --predictor heun).\n\n" +
			"The output is rewritten (atomically) after every batch, so a killed run keeps its finished\n" +
			"batches; --resume continues it and ends with exactly the file an unbroken run writes (same\n" +
			"machine and --batch). A file of another run is never overwritten without --force; a file of\n" +
			"the same run needs --resume (continue) or --force (start over); a file another process is\n" +
			"writing is refused (a lock on <out>.lock). SIGINT/SIGTERM stop after the\n" +
			"batch in flight (a second one abandons it) and say how to resume. Progress goes to stderr: a\n" +
			"bar on a terminal, a line every 10% or 30 s otherwise, nothing with --quiet.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "prior", Usage: "analytic prior `SPEC` (white:... or grf:...)"},
			&cli.StringFlag{Name: "model", Usage: "score model `FILE` (ONNX, SPEC §6; see scorelens inspect)"},
			&cli.StringFlag{Name: "lens", Usage: "lens configuration `FILE` (JSON)", Required: true},
			&cli.StringFlag{Name: "obs", Usage: "observation `FILE` (FITS)", Required: true},
			&cli.StringFlag{Name: "out", Usage: "posterior `FILE` to write (FITS)", Required: true},
			&cli.StringFlag{Name: "likelihood", Usage: "convolved likelihood: " + strings.Join(infer.LikelihoodNames, ", "), Value: infer.LikelihoodPaper},
			&cli.StringFlag{Name: "predictor", Usage: "predictor: " + strings.Join(infer.PredictorNames(), ", "), Value: "em"},
			&cli.StringFlag{Name: "corrector", Usage: "corrector: " + strings.Join(infer.CorrectorNames(), ", "), Value: "none"},
			&cli.Float64Flag{Name: "snr", Usage: "Langevin corrector signal-to-noise ratio", Value: infer.DefaultSNR},
			&cli.StringFlag{Name: "steps", Usage: "solver steps: auto (200 for heun; else the paper's rule, eq. 22 at 0.99) or a number", Value: "auto"},
			&cli.Float64Flag{Name: "sigma-min", Usage: "σmin of the VE SDE in physical units", DefaultText: "the model's; for --prior, 1e-3 × min(prior σ, smallest noise σ)"},
			&cli.Float64Flag{Name: "sigma-max", Usage: "σmax of the VE SDE in physical units", DefaultText: "the model's or the prior's"},
			&cli.IntFlag{Name: "samples", Usage: "number of samples (all shards)", Value: 16},
			&cli.IntFlag{Name: "batch", Usage: "samples solved together (the file is rewritten after each batch)", Value: 16},
			&cli.Uint64Flag{Name: "seed", Usage: "seed; sample i draws from PCG(seed, i)", Value: 1},
			&cli.StringFlag{Name: "shard", Usage: "this run's shard `k/n` (samples with index mod n = k−1)", Value: "1/1"},
			&cli.Float64Flag{Name: "cg-tol", Usage: "relative CG tolerance of --likelihood full", Value: infer.DefaultCGTol},
			&cli.BoolFlag{Name: "no-denoise", Usage: "keep the noise of the final step and of level σmin (by default the last step returns its mean and Tweedie's formula x + σmin²·s(x, 0) removes the rest)"},
			&cli.BoolFlag{Name: "quiet", Usage: "no progress output"},
			&cli.BoolFlag{Name: "resume", Usage: "continue the --out file of this run (start it when absent)"},
			&cli.BoolFlag{Name: "force", Usage: "replace an --out file that is not a posterior of this run"},
		}, append(churnFlags(0, "0:0"), scoreModelFlags()...)...),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("sample: unexpected argument %q", c.Args().First())
			}
			churn, err := churnOf("sample", c)
			if err != nil {
				return err
			}
			if (c.String("prior") == "") == (c.String("model") == "") {
				return fmt.Errorf("sample: give one of --model model.onnx and --prior (white:sigma=S[,mean=M] or grf:sigma=S,index=A[,mean=M][,scale=L])")
			}
			var model *infer.ModelPrior
			if path := c.String("model"); path != "" {
				cfg, err := lens.LoadConfig(c.String("lens"))
				if err != nil {
					return err
				}
				prior, m, err := ort.OpenPrior(path, cfg.SourceGrid().N, scoreModelOptions(c))
				if err != nil {
					return err
				}
				defer m.Close()
				model = prior
			}
			steps := 0
			if s := c.String("steps"); s != "auto" {
				v, err := strconv.Atoi(s)
				if err != nil || v < 1 {
					return fmt.Errorf("sample: --steps must be auto or a positive integer, got %q", s)
				}
				steps = v
			}
			k, n, err := parseShard(c.String("shard"))
			if err != nil {
				return err
			}
			var log io.Writer = c.App.ErrWriter
			if c.Bool("quiet") {
				log = nil
			}
			for _, f := range []string{"sigma-min", "sigma-max"} {
				if c.IsSet(f) && !(c.Float64(f) > 0) {
					return fmt.Errorf("sample: --%s must be positive, got %g", f, c.Float64(f))
				}
			}
			// The first SIGINT/SIGTERM cancels c.Context (main): finish the batch in flight.
			// A second one abandons it.
			ctx, abort := context.WithCancel(context.WithoutCancel(c.Context))
			defer abort()
			sigs := make(chan os.Signal, 2)
			signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
			defer signal.Stop(sigs)
			go func() {
				for n := 0; ; {
					select {
					case <-sigs:
						if n++; n == 2 {
							abort()
							return
						}
					case <-ctx.Done():
						return
					}
				}
			}()
			return infer.Run(ctx, infer.RunOptions{
				Lens: c.String("lens"), Obs: c.String("obs"), Out: c.String("out"),
				Prior: c.String("prior"), Model: model, Likelihood: c.String("likelihood"),
				Predictor: c.String("predictor"), Corrector: c.String("corrector"), SNR: c.Float64("snr"), Churn: churn,
				Steps: steps, SigmaMin: c.Float64("sigma-min"), SigmaMax: c.Float64("sigma-max"),
				Samples: c.Int("samples"), Batch: c.Int("batch"), Seed: c.Uint64("seed"),
				Shard: k, Shards: n, CGTol: c.Float64("cg-tol"), NoDenoise: c.Bool("no-denoise"),
				Resume: c.Bool("resume"), Force: c.Bool("force"), Stop: c.Context.Done(),
				Software: version, Log: log,
			})
		},
	})
}

// parseShard reads "k/n" with 1 ≤ k ≤ n.
func parseShard(s string) (k, n int, err error) {
	a, b, ok := strings.Cut(s, "/")
	k, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || k < 1 || k > n {
		return 0, 0, fmt.Errorf("sample: --shard must be k/n with 1 ≤ k ≤ n, got %q", s)
	}
	return k, n, nil
}
