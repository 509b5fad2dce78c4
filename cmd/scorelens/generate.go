package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"scorelens/infer"
	"scorelens/infer/evaluate"
	"scorelens/infer/ort"
)

// parseSteps reads --steps: "auto" (0) or a positive integer.
func parseSteps(cmd, s string) (int, error) {
	if s == "auto" {
		return 0, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		return 0, fmt.Errorf("%s: --steps must be auto or a positive integer, got %q", cmd, s)
	}
	return v, nil
}

// churnFlags are the heun predictor's churn settings (infer.Churn), shared by sample,
// generate and evaluate, with the given defaults (window "0:0": every step).
func churnFlags(amount float64, window string) []cli.Flag {
	windowText := window
	if window == "0:0" {
		windowText = "every step"
	}
	return []cli.Flag{
		&cli.Float64Flag{Name: "churn", Usage: "heun predictor only: S_churn of Karras et al. (2022); each step first raises σ by the factor 1+min(churn/steps, √2−1) with fresh noise (0: the deterministic probability-flow ODE)", Value: amount},
		&cli.StringFlag{Name: "churn-sigma", Usage: "heun predictor only: churn only at the steps that start at LOW ≤ σ ≤ HIGH (`LOW:HIGH`, physical units; S_tmin:S_tmax; 0:0 every step; HIGH 0: no upper limit)", Value: window, DefaultText: windowText},
		&cli.Float64Flag{Name: "churn-noise", Usage: "heun predictor only: scale of the churn's fresh noise (S_noise; 0: 1)", DefaultText: "1"},
	}
}

// churnOf reads the churnFlags of c. For another predictor than heun, churn settings that
// were not given are no churn (generate's defaults are heun's).
func churnOf(cmd string, c *cli.Context) (infer.Churn, error) {
	if c.String("predictor") != "heun" && !c.IsSet("churn") && !c.IsSet("churn-sigma") && !c.IsSet("churn-noise") {
		return infer.Churn{}, nil
	}
	ch := infer.Churn{Amount: c.Float64("churn"), Noise: c.Float64("churn-noise")}
	lo, hi, ok := strings.Cut(c.String("churn-sigma"), ":")
	var err1, err2 error
	ch.SigmaLo, err1 = strconv.ParseFloat(lo, 64)
	ch.SigmaHi, err2 = strconv.ParseFloat(hi, 64)
	if !ok || err1 != nil || err2 != nil {
		return ch, fmt.Errorf("%s: --churn-sigma must be LOW:HIGH (two numbers, 0:0 for every step), got %q", cmd, c.String("churn-sigma"))
	}
	return ch, nil
}

// Prior samples default to the heun predictor with churn between σ = 0.003 and 1 (in the
// units of peak-normalised galaxies): on the shipped prior it came closer to the held-out
// galaxies' morphology than Song et al.'s predictor–corrector sampler at a tenth of the
// model calls (models/galaxies64.md). Churn at σ > 1 cost flux and detail; where it stops
// at the low end (0, 0.003 or 0.01) mattered less.
const (
	genChurn      = 40
	genChurnSigma = "0.003:1"
)

func init() {
	register(&cli.Command{
		Name:      "generate",
		Usage:     "draw samples of a score model's prior alone (a data-set cube for galstats)",
		UsageText: "scorelens generate --model model.onnx --out prior.fits [--samples 500] [--steps auto|N] [--batch 16] [--seed S] [--preview grid.png]",
		Description: "Solves the reverse-time VE SDE from p1 = N(0, σmax² I) with the model's score only (no\n" +
			"likelihood; by default with the heun predictor, 200 steps and churn between σ 0.003 and 1,\n" +
			"tuned on the shipped prior: models/galaxies64.md) and writes the samples, in physical\n" +
			"units, as the IMAGES cube of a data set (NAXIS3 = samples; header: model, SHA-256, σ range,\n" +
			"steps, solver, seed), so that\n" +
			"`scorelens galstats heldout.fits prior.fits` compares them with held-out galaxies. Sample i\n" +
			"draws from PCG(seed, i) alone: the samples do not depend on --batch. The file is rewritten\n" +
			"atomically after every batch; --resume continues it (a file another process is writing is\n" +
			"refused: a lock on <out>.lock). --shard k/n splits the samples between\n" +
			"processes (ONNX Runtime uses many cores poorly: 8 processes of 2 threads drew 3.4 times as\n" +
			"many samples per second as one of 16 threads); the same command without --shard then\n" +
			"collects the shard files beside --out and draws only what they lack.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "model", Usage: "score model `FILE` (ONNX, SPEC §6)", Required: true},
			&cli.StringFlag{Name: "out", Usage: "FITS cube `FILE` to write", Required: true},
			&cli.IntFlag{Name: "samples", Usage: "number of prior samples", Value: 500},
			&cli.StringFlag{Name: "steps", Usage: "solver steps: auto (200 for heun; else the paper's rule, eq. 22 at 0.99) or a number", Value: "auto"},
			&cli.StringFlag{Name: "predictor", Usage: "predictor: " + strings.Join(infer.PredictorNames(), ", "), Value: "heun"},
			&cli.StringFlag{Name: "corrector", Usage: "corrector: " + strings.Join(infer.CorrectorNames(), ", ") + " (Song et al.'s predictor–corrector sampler: --predictor em --corrector langevin --snr 0.16)", Value: "none"},
			&cli.Float64Flag{Name: "snr", Usage: "Langevin corrector signal-to-noise ratio", Value: 0.16},
			&cli.Float64Flag{Name: "sigma-min", Usage: "σmin of the VE SDE in physical units", DefaultText: "the model's"},
			&cli.Float64Flag{Name: "sigma-max", Usage: "σmax of the VE SDE in physical units", DefaultText: "the model's"},
			&cli.BoolFlag{Name: "no-denoise", Usage: "keep the noise of the final step and of level σmin (by default the last step returns its mean and Tweedie's formula x + σmin²·s(x, 0) removes the rest)"},
			&cli.IntFlag{Name: "batch", Usage: "samples solved together", Value: 16},
			&cli.Uint64Flag{Name: "seed", Usage: "seed; sample i draws from PCG(seed, i)", Value: 1},
			&cli.StringFlag{Name: "preview", Usage: "PNG `FILE`: a grid of the first 48 samples"},
			&cli.StringFlag{Name: "shard", Usage: "draw only samples i with i mod n = k−1 (`k/n`) into OUT.shard-k-of-n.fits; a run without --shard on the same --out collects the shard files", Value: "1/1"},
			&cli.BoolFlag{Name: "resume", Usage: "continue the --out cube of this run"},
			&cli.BoolFlag{Name: "force", Usage: "replace an --out file that is not a cube of this run"},
			&cli.BoolFlag{Name: "quiet", Usage: "no progress output"},
		}, append(churnFlags(genChurn, genChurnSigma), scoreModelFlags()...)...),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("generate: unexpected argument %q", c.Args().First())
			}
			churn, err := churnOf("generate", c)
			if err != nil {
				return err
			}
			steps, err := parseSteps("generate", c.String("steps"))
			if err != nil {
				return err
			}
			for _, f := range []string{"sigma-min", "sigma-max"} {
				if c.IsSet(f) && !(c.Float64(f) > 0) {
					return fmt.Errorf("generate: --%s must be positive, got %g", f, c.Float64(f))
				}
			}
			k, n, err := parseShard(c.String("shard"))
			if err != nil {
				return fmt.Errorf("generate: --shard must be k/n with 1 ≤ k ≤ n, got %q", c.String("shard"))
			}
			prior, m, err := ort.OpenPrior(c.String("model"), 0, scoreModelOptions(c))
			if err != nil {
				return err
			}
			defer m.Close()
			var log io.Writer = c.App.ErrWriter
			if c.Bool("quiet") {
				log = nil
			}
			_, err = evaluate.Generate(c.Context, evaluate.GenerateOptions{
				Model: prior, Samples: c.Int("samples"), Batch: c.Int("batch"), Steps: steps,
				Predictor: c.String("predictor"), Corrector: c.String("corrector"), SNR: c.Float64("snr"), Churn: churn,
				SigmaMin: c.Float64("sigma-min"), SigmaMax: c.Float64("sigma-max"), NoDenoise: c.Bool("no-denoise"),
				Seed: c.Uint64("seed"), Out: c.String("out"), Resume: c.Bool("resume"), Force: c.Bool("force"), Shard: k, Shards: n,
				Preview: c.String("preview"), Software: version, Log: log,
			})
			return err
		},
	})
}
