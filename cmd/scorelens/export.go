package main

import (
	"github.com/urfave/cli/v2"

	"scorelens/export"
)

func init() {
	register(&cli.Command{
		Name:      "export",
		Usage:     "export a training checkpoint as an ONNX score model (SPEC §6)",
		UsageText: "scorelens export --checkpoint run/ --out model.onnx [--raw] [--data-scale S]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "checkpoint", Required: true, Usage: "run folder (scorelens train --out) or checkpoint file"},
			&cli.StringFlag{Name: "out", Required: true, Usage: "ONNX model file to write"},
			&cli.BoolFlag{Name: "raw", Usage: "export the raw trained weights instead of their EMA"},
			&cli.Float64Flag{Name: "data-scale", Usage: "physical surface brightness per model unit, written as scorelens.data_scale", DefaultText: "1"},
		},
		Action: func(c *cli.Context) error {
			return export.Export(c.String("checkpoint"), c.String("out"), export.Options{
				Raw: c.Bool("raw"), DataScale: c.Float64("data-scale"), Version: version,
			})
		},
	})
}
