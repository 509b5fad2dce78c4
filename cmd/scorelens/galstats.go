package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"scorelens/trainer/morph"
)

func init() {
	register(&cli.Command{
		Name:      "galstats",
		Usage:     "compare the morphology statistics of two sets of galaxy images (A is the reference)",
		UsageText: "scorelens galstats A.fits B.fits [--threshold 0.01]",
		Flags: []cli.Flag{
			&cli.Float64Flag{Name: "threshold", Usage: "set pixels fainter than this fraction of their image's peak to zero in both sets before measuring (for noisy images or residual backgrounds)", DefaultText: "none"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return fmt.Errorf("galstats: expected two FITS cubes, A (reference) and B, got %d arguments", c.NArg())
			}
			return morph.CompareFiles(c.Context, c.App.Writer, c.Args().Get(0), c.Args().Get(1), c.Float64("threshold"))
		},
	})
}
