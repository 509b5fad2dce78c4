package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"scorelens/infer/ort"
	"scorelens/lens"
)

// scoreModelFlags are the flags of the score-model conventions (SPEC §6) and of the ONNX
// Runtime session, shared by every command that opens an ONNX score model. The σ range
// flags (--sigma-min, --sigma-max) are each command's own.
func scoreModelFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "time-input", Usage: "what the model's time input receives: t, sigma or log-sigma (default: metadata, else t)"},
		&cli.StringFlag{Name: "output", Usage: "what the model returns: score, noise (ε, score = −ε/σ) or sigma-score (σ·score) (default: metadata, else score)"},
		&cli.StringFlag{Name: "input-name", Usage: "name of the model's image input (default x)"},
		&cli.StringFlag{Name: "time-name", Usage: "name of the model's time input (default t)"},
		&cli.StringFlag{Name: "output-name", Usage: "name of the model's score output (default score)"},
		&cli.Float64Flag{Name: "data-scale", Usage: "physical surface brightness per model unit", DefaultText: "metadata scorelens.data_scale, else 1"},
		&cli.StringFlag{Name: "device", Usage: "cpu, cuda or cuda:N (CUDA needs a CUDA build of ONNX Runtime in ORT_LIB)", Value: "cpu"},
		&cli.IntFlag{Name: "threads", Usage: "ONNX Runtime intra-op threads (0: one per core)"},
	}
}

// scoreModelOptions reads the flags of scoreModelFlags, and --sigma-min/--sigma-max where
// the command has them (in physical units; 0 means the model's metadata).
func scoreModelOptions(c *cli.Context) ort.Options {
	return ort.Options{
		Device:     c.String("device"),
		Threads:    c.Int("threads"),
		InputName:  c.String("input-name"),
		TimeName:   c.String("time-name"),
		OutputName: c.String("output-name"),
		TimeInput:  c.String("time-input"),
		Output:     c.String("output"),
		SigmaMin:   c.Float64("sigma-min"),
		SigmaMax:   c.Float64("sigma-max"),
		DataScale:  c.Float64("data-scale"),
	}
}

func init() {
	flags := append([]cli.Flag{
		&cli.StringFlag{Name: "lens", Usage: "also check the model against the source grid of this lens configuration `FILE`"},
		&cli.Float64Flag{Name: "sigma-min", Usage: "σmin of the VE SDE in physical units", DefaultText: "data_scale × metadata"},
		&cli.Float64Flag{Name: "sigma-max", Usage: "σmax of the VE SDE in physical units", DefaultText: "data_scale × metadata"},
	}, scoreModelFlags()...)
	register(&cli.Command{
		Name:      "inspect",
		Usage:     "validate an ONNX score model against the contract (SPEC §6) and describe it",
		UsageText: "scorelens inspect model.onnx [--lens lens.json] [--time-input ...] [--output ...] [--sigma-min S --sigma-max S]",
		Description: "Checks the model's inputs, outputs, types, shapes and metadata against the score-model\n" +
			"contract, prints them with the parameter count, the FLOPs of one forward pass at batch 1\n" +
			"and the conventions `scorelens sample --model` will use, then (when the ONNX Runtime\n" +
			"library is found: ORT_LIB or .ort/lib) runs it once. A model that breaks the contract\n" +
			"is an error. The convention flags are those of `scorelens sample`.",
		Flags: flags,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("inspect: want one model file, got %d arguments", c.NArg())
			}
			opt := scoreModelOptions(c)
			opt.Expert = true // described, with what it was trained on, rather than refused
			if path := c.String("lens"); path != "" {
				cfg, err := lens.LoadConfig(path)
				if err != nil {
					return err
				}
				opt.Channels, opt.Height, opt.Width = 1, cfg.Source.Pixels, cfg.Source.Pixels
			}
			r, err := ort.Inspect(c.Context, c.Args().First(), opt)
			if err != nil {
				return err
			}
			_, err = r.WriteTo(c.App.Writer)
			return err
		},
	})
}
