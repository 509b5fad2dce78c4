package main

import (
	"github.com/urfave/cli/v2"

	"scorelens/trainer/dataset"
)

func init() {
	register(&cli.Command{
		Name:      "dataset",
		Usage:     "build a training set of galaxy images (synthetic, or from FITS files) into one FITS cube",
		UsageText: "scorelens dataset --synthetic 2059 --size 64 --out train.fits [--preview grid.png]\n   scorelens dataset --from DIR|cube.fits|real_galaxy_catalog.fits --size 64 --pixscale 0.05 --out train.fits",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "synthetic", Usage: "number of synthetic galaxies to draw"},
			&cli.StringFlag{Name: "from", Usage: "folder of FITS images, a FITS image or cube, or a GalSim RealGalaxyCatalog"},
			&cli.IntFlag{Name: "size", Value: 64, Usage: "output pixels a side"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "random seed (synthetic)"},
			&cli.Float64Flag{Name: "pixscale", Usage: "output pixel scale in arcsec", DefaultText: "the input's; synthetic: 3/size"},
			&cli.Float64Flag{Name: "input-scale", Usage: "input pixel scale in arcsec, for files whose headers lack it"},
			&cli.StringFlag{Name: "norm", Value: dataset.NormPeak, Usage: "per-image normalisation: peak, flux or none"},
			&cli.BoolFlag{Name: "mask", Usage: "mask neighbours: keep only the central segmented component"},
			&cli.StringFlag{Name: "on-bad", Value: "skip", Usage: "unreadable, NaN or undersized stamps: skip or fail"},
			&cli.BoolFlag{Name: "augment", Usage: "add the eight flips and right-angle rotations of each image"},
			&cli.StringFlag{Name: "out", Required: true, Usage: "output FITS cube"},
			&cli.StringFlag{Name: "preview", Usage: "PNG grid of examples"},
		},
		Action: func(c *cli.Context) error {
			return dataset.Build(c.Context, dataset.BuildOptions{
				Synthetic: c.Int("synthetic"), From: c.String("from"), Size: c.Int("size"),
				Seed: c.Uint64("seed"), PixelScale: c.Float64("pixscale"), InputScale: c.Float64("input-scale"),
				Norm: c.String("norm"), Mask: c.Bool("mask"), OnBad: c.String("on-bad"), Augment: c.Bool("augment"),
				Out: c.String("out"), Preview: c.String("preview"), Version: version,
			}, c.App.Writer)
		},
	})
}
