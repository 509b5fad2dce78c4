package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"scorelens/infer/figure"
	"scorelens/lens"
	"scorelens/lens/galaxy"
)

func init() {
	register(&cli.Command{
		Name:      "simulate",
		Usage:     "simulate a lensed observation (OBS, NOISE, TRUTH, MODEL, ALPHA_X, ALPHA_Y, ...)",
		UsageText: "scorelens simulate --lens lens.json [--source SRC] [--seed N] --out obs.fits",
		Description: "Traces the source through the lens of the --lens file, averages the supersampled rays,\n" +
			"applies the PSF and adds Gaussian noise. SRC is a FITS image spanning the source field of\n" +
			"view (one already ns×ns is used as it is, others are resampled) or a built-in galaxy: " +
			strings.Join(galaxy.Names(), ", ") + ".",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "lens", Usage: "lens configuration `FILE` (JSON, SPEC §4)", Required: true},
			&cli.StringFlag{Name: "source", Usage: "source: a FITS image or a built-in galaxy `NAME`", Value: lens.DefaultSource},
			&cli.Uint64Flag{Name: "seed", Usage: "noise seed", Value: 1},
			&cli.StringFlag{Name: "out", Usage: "observation `FILE` to write (FITS)", Required: true},
			&cli.StringFlag{Name: "png", Usage: "also draw the source, model and observation into `FILE` (PNG)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("simulate: unexpected argument %q", c.Args().First())
			}
			o, err := lens.SimulateFile(c.Context, c.String("lens"), c.String("source"), c.Uint64("seed"), c.String("out"), version)
			if err != nil {
				return err
			}
			if png := c.String("png"); png != "" {
				cfg, err := lens.LoadConfig(c.String("lens"))
				if err != nil {
					return err
				}
				if err := figure.Observation(png, o, cfg); err != nil {
					return err
				}
			}
			fmt.Fprintf(c.App.Writer, "wrote %s: %d×%d image (%.4g\"/pixel), source %s on %d×%d, seed %d\n",
				c.String("out"), o.N, o.N, o.PixScale, c.String("source"), o.TruthN, o.TruthN, c.Uint64("seed"))
			return nil
		},
	})
}
