package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"scorelens/infer/demo"
)

func init() {
	register(&cli.Command{
		Name:  "demo",
		Usage: "simulate a lens, sample its source posterior and draw the paper's figure 1 (--ood: figure 2)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "output `DIR` (the demo replaces its own files there)", Value: "demo"},
			&cli.BoolFlag{Name: "ood", Usage: "an out-of-distribution source at increasing noise (the paper's figure 2)"},
			&cli.IntFlag{Name: "samples", Usage: "posterior samples (about 8 s each with the shipped model on 2 cores; 4.4 s with its small network alone)", Value: 16},
			&cli.IntFlag{Name: "steps", Usage: "steps of the heun predictor (churn 40, the model card's posterior setting)", Value: demo.DefaultSteps},
			&cli.Uint64Flag{Name: "seed", Usage: "seed", Value: 1},
			&cli.StringFlag{Name: "model", Usage: "score model `FILE` (default: models/" + demo.ShippedModelName + " when shipped)"},
			&cli.StringFlag{Name: "prior", Usage: "analytic prior `SPEC` instead of a model (default, when no model is shipped: " + demo.DefaultPrior + ")"},
			&cli.BoolFlag{Name: "quiet", Usage: "no progress output"},
		},
		Action: func(c *cli.Context) error {
			var log io.Writer = c.App.ErrWriter
			if c.Bool("quiet") {
				log = nil
			}
			files, err := demo.Run(c.Context, demo.Options{Out: c.String("out"), OOD: c.Bool("ood"),
				Samples: c.Int("samples"), Steps: c.Int("steps"), Seed: c.Uint64("seed"), Model: c.String("model"), Prior: c.String("prior"),
				Software: version, Log: log})
			if err != nil {
				return err
			}
			for _, f := range files {
				fmt.Fprintln(c.App.Writer, "wrote", f)
			}
			return nil
		},
	})
}
