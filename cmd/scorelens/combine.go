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
		UsageText: "scorelens combine --base galaxies64-small.onnx --expert expert.onnx --switch-sigma 0.03 [--blend-sigma 1.5] --out model.onnx\n" +
			"   (the expert: scorelens train --train-sigma-max S …, then scorelens export)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "base", Required: true, Usage: "score model of the whole σ range (SPEC §6)"},
			&cli.StringFlag{Name: "expert", Required: true, Usage: "score model to use below --switch-sigma (same images, σ range and data scale)"},
			&cli.Float64Flag{Name: "switch-sigma", Required: true, Usage: "noise level σ (model units) below which the expert's score is used"},
			&cli.Float64Flag{Name: "blend-sigma", Usage: "average the two scores between --switch-sigma and this σ (model units): an ensemble of the networks, both run there (0: none)", DefaultText: "0"},
			&cli.Float64Flag{Name: "blend-weight", Usage: "the expert's weight w in the blend band (w·expert + (1−w)·base); above 1 it extrapolates away from the base: autoguidance (Karras et al. 2024)", Value: 0.5},
			&cli.StringFlag{Name: "out", Required: true, Usage: "ONNX model file to write"},
		},
		Action: func(c *cli.Context) error {
			if c.IsSet("blend-weight") && !c.IsSet("blend-sigma") {
				return fmt.Errorf("combine: --blend-weight needs --blend-sigma (the top of the blend band)")
			}
			how, err := export.Combine(c.String("base"), c.String("expert"), c.String("out"), export.CombineOptions{
				SwitchSigma: c.Float64("switch-sigma"), BlendSigma: c.Float64("blend-sigma"), BlendWeight: c.Float64("blend-weight"), Version: version,
			})
			if err != nil {
				return err
			}
			what := fmt.Sprintf("the expert below σ = %g, the base above", c.Float64("switch-sigma"))
			if b := c.Float64("blend-sigma"); b > 0 {
				w := c.Float64("blend-weight")
				mix := fmt.Sprintf("%g·expert + %g·base", w, 1-w)
				if w > 1 {
					mix = fmt.Sprintf("%g·expert − %g·base (autoguidance)", w, w-1)
				}
				what = fmt.Sprintf("the expert below σ = %g, %s up to σ = %g, the base above", c.Float64("switch-sigma"), mix, b)
			}
			fmt.Fprintf(c.App.Writer, "wrote %s: %s; %s\n", c.String("out"), what, how)
			return nil
		},
	})
}
