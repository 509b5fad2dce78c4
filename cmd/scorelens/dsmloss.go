package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"scorelens/infer/evaluate"
	"scorelens/infer/ort"
	"scorelens/trainer/morph"
)

func init() {
	register(&cli.Command{
		Name:      "dsmloss",
		Usage:     "denoising loss of score models on held-out images, by noise level (compare priors, check over-fitting)",
		UsageText: "scorelens dsmloss --model a.onnx [--model b.onnx ...] --data heldout.fits [--images 200] [--levels 13] [--csv out.csv]",
		Description: "Adds noise σ·z to each image at --levels noise levels spaced geometrically over the\n" +
			"first model's σ range and reports, per level, the denoising score-matching loss\n" +
			"½‖σ·s + z‖² per image (the trainer's loss at that σ) with its standard error, and the\n" +
			"errors of Tweedie's denoiser D = x̃ + σ²·s against the clean image: RMS per pixel, and\n" +
			"the RMS over images of its mean over the image and over the 4-pixel border (errors of\n" +
			"flux and background level). The mean over levels estimates the training loss on these\n" +
			"images: against the training curve, a higher held-out loss is over-fitting. Every model\n" +
			"sees the same noise (image i from PCG(seed, i)); later models are compared with the first\n" +
			"image by image (paired difference and its standard error).",
		Flags: append([]cli.Flag{
			&cli.StringSliceFlag{Name: "model", Usage: "score model `FILE` (ONNX, SPEC §6); repeat to compare models on the same noise", Required: true},
			&cli.StringFlag{Name: "data", Usage: "FITS cube `FILE` of held-out images in the models' physical units (scorelens dataset)", Required: true},
			&cli.IntFlag{Name: "images", Usage: "use the first N images", DefaultText: "all"},
			&cli.IntFlag{Name: "levels", Usage: "noise levels, from σmin to σmax", Value: evaluate.DefaultDenoiseLevels},
			&cli.IntFlag{Name: "batch", Usage: "images per model call", Value: 16},
			&cli.Uint64Flag{Name: "seed", Usage: "seed of the noise", Value: 1},
			&cli.StringFlag{Name: "csv", Usage: "also write the table to `FILE` (CSV)"},
			&cli.Float64Flag{Name: "sigma-min", Usage: "σmin in physical units", DefaultText: "the model's"},
			&cli.Float64Flag{Name: "sigma-max", Usage: "σmax in physical units", DefaultText: "the model's"},
		}, scoreModelFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("dsmloss: unexpected argument %q", c.Args().First())
			}
			images, _, err := morph.ReadSet(c.String("data"))
			if err != nil {
				return err
			}
			if k := c.Int("images"); c.IsSet("images") {
				if k < 1 || k > len(images) {
					return fmt.Errorf("dsmloss: --images must lie in 1…%d (the images of %s), got %d", len(images), c.String("data"), k)
				}
				images = images[:k]
			}
			var names []string
			var runs [][]evaluate.DenoiseLevel
			for _, path := range c.StringSlice("model") {
				levels, err := denoisingLoss(c, path, images)
				if err != nil {
					return err
				}
				if len(runs) > 0 && (levels[0].Sigma != runs[0][0].Sigma || levels[len(levels)-1].Sigma != runs[0][len(levels)-1].Sigma) {
					return fmt.Errorf("dsmloss: %s has another σ range than %s: give --sigma-min and --sigma-max to compare them", path, names[0])
				}
				names, runs = append(names, filepath.Base(path)), append(runs, levels)
			}
			writeDenoiseTable(c.App.Writer, names, runs, len(images), c.String("data"), c.Uint64("seed"))
			if p := c.String("csv"); p != "" {
				if err := writeDenoiseCSV(p, names, runs); err != nil {
					return err
				}
			}
			return nil
		},
	})
}

func denoisingLoss(c *cli.Context, path string, images [][]float64) ([]evaluate.DenoiseLevel, error) {
	opt := scoreModelOptions(c)
	opt.Expert = true // a low-noise expert is measured too (its levels above its training range are untrained)
	prior, m, err := ort.OpenPrior(path, 0, opt)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	levels, err := evaluate.DenoisingLoss(c.Context, evaluate.DenoiseOptions{Model: prior, Images: images,
		Levels: c.Int("levels"), Batch: c.Int("batch"), Seed: c.Uint64("seed")})
	if err != nil {
		return nil, fmt.Errorf("dsmloss: %s on %s: %w", filepath.Base(path), filepath.Base(c.String("data")), err)
	}
	return levels, nil
}

func writeDenoiseTable(w io.Writer, names []string, runs [][]evaluate.DenoiseLevel, count int, data string, seed uint64) {
	fmt.Fprintf(w, "denoising loss on %d images of %s (seed %d); D = x̃ + σ²·s, errors in physical units\n", count, filepath.Base(data), seed)
	for k, levels := range runs {
		fmt.Fprintf(w, "\n%s\n%10s %10s %8s %10s %10s %10s %10s %8s", names[k], "σ", "loss", "± SE", "RMS(D−x)", "offset", "border", "Δflux", "± SE")
		if k > 0 {
			fmt.Fprintf(w, " %10s %8s", "Δloss", "± SE")
		}
		fmt.Fprintln(w)
		for l, lv := range levels {
			fmt.Fprintf(w, "%10.4g %10.4g %8.2g %10.3g %10.3g %10.3g %+10.3g %8.2g", lv.Sigma, lv.Loss, lv.LossSE, lv.RMS, lv.Offset, lv.Border, lv.FluxBias, lv.FluxBiasSE)
			if k > 0 {
				d, se := evaluate.PairedDifference(runs[0][l], lv)
				fmt.Fprintf(w, " %+10.3g %8.2g", d, se)
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "mean over t (the training loss on these images): %.4g\n", evaluate.MeanLoss(levels))
	}
}

func writeDenoiseCSV(path string, names []string, runs [][]evaluate.DenoiseLevel) error {
	var b strings.Builder
	b.WriteString("model,sigma,loss,loss_se,rms,offset,border,dloss,dloss_se,flux_bias,flux_bias_se\n")
	for k, levels := range runs {
		for l, lv := range levels {
			d, se := 0.0, 0.0
			if k > 0 {
				d, se = evaluate.PairedDifference(runs[0][l], lv)
			}
			fmt.Fprintf(&b, "%s,%g,%g,%g,%g,%g,%g,%g,%g,%g,%g\n", names[k], lv.Sigma, lv.Loss, lv.LossSE, lv.RMS, lv.Offset, lv.Border, d, se, lv.FluxBias, lv.FluxBiasSE)
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("could not write %q: %w", path, err)
	}
	return nil
}
