package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"scorelens/infer/figure"
)

func init() {
	register(&cli.Command{
		Name:      "plot",
		Usage:     "draw the paper's figure 1 (and a grid of samples) from a posterior file",
		UsageText: "scorelens plot post.fits --obs obs.fits [--lens lens.json] [--truth src.fits] --out fig.png [--samples grid.png]",
		Description: "Figure 1: the true source and the observation, two samples and their predictions with χ²_ν,\n" +
			"the mean and standard deviation of all samples, and the residual SNR in the source and lens\n" +
			"planes, with the caustics and critical curves of the lens. --samples adds a grid of samples\n" +
			"with each one's χ²_ν (the paper's figure 3).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "obs", Usage: "observation `FILE`", Required: true},
			&cli.StringFlag{Name: "lens", Usage: "lens configuration `FILE` (default: the one recorded in the posterior file)"},
			&cli.StringFlag{Name: "truth", Usage: "true source `FILE` (default: the observation's TRUTH, if any)"},
			&cli.StringFlag{Name: "out", Usage: "figure 1 `FILE` (PNG)", Required: true},
			&cli.StringFlag{Name: "samples", Usage: "also draw a grid of samples into `FILE` (PNG)"},
			&cli.BoolFlag{Name: "no-curves", Usage: "leave out caustics and critical curves"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("plot: want one posterior file, got %d arguments", c.NArg())
			}
			return figure.PlotFile(figure.PlotOptions{Posterior: c.Args().First(), Obs: c.String("obs"),
				Lens: c.String("lens"), Truth: c.String("truth"), Out: c.String("out"),
				Samples: c.String("samples"), NoCurves: c.Bool("no-curves")})
		},
	})
}
