package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"scorelens/export"
)

func init() {
	register(&cli.Command{
		Name:  "combine",
		Usage: "join a low-noise expert to a score model of the whole range: one ONNX model that runs the expert below a noise level",
		UsageText: "scorelens combine --base galaxies64-small.onnx --expert expert.onnx --switch-sigma 0.03 --out model.onnx\n" +
			"   (the expert: scorelens train --train-sigma-max S …, then scorelens export)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "base", Required: true, Usage: "score model of the whole σ range (SPEC §6)"},
			&cli.StringFlag{Name: "expert", Required: true, Usage: "score model to use below --switch-sigma (same images, σ range and data scale)"},
			&cli.Float64Flag{Name: "switch-sigma", Required: true, Usage: "noise level σ (model units) below which the expert's score is used"},
			&cli.StringFlag{Name: "out", Required: true, Usage: "ONNX model file to write"},
		},
		Action: func(c *cli.Context) error {
			how, err := export.Combine(c.String("base"), c.String("expert"), c.String("out"), export.CombineOptions{
				SwitchSigma: c.Float64("switch-sigma"), Version: version,
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "wrote %s: the expert below σ = %g, the base above; %s\n", c.String("out"), c.Float64("switch-sigma"), how)
			return nil
		},
	})
}
