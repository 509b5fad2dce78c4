package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"scorelens/infer"
)

func init() {
	register(&cli.Command{
		Name:      "merge",
		Usage:     "combine the shard files of one sampling run into one posterior file",
		UsageText: "scorelens merge shard-*.fits --out post.fits [--lens lens.json --obs obs.fits] [--force]",
		Description: "Writes the file an unsharded `scorelens sample` with the same settings writes: SAMPLES\n" +
			"ordered by sample index, MEAN/STD/PRED/RESID/CHI2NU recomputed, SHARD = 1/1. PRED and RESID\n" +
			"need the lens file and the observation: those the shards recorded (INPUTS), or --lens/--obs\n" +
			"when they moved (their SHA-256 must match). Refuses shards of different runs, a file given\n" +
			"twice, duplicated, missing or incomplete shards, naming them; never overwrites a file that\n" +
			"is not a posterior of the same run without --force.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "merged posterior `FILE`", Required: true},
			&cli.StringFlag{Name: "lens", Usage: "lens configuration `FILE` (default: the path the shards recorded)"},
			&cli.StringFlag{Name: "obs", Usage: "observation `FILE` (default: the path the shards recorded)"},
			&cli.BoolFlag{Name: "force", Usage: "replace an --out file that is not a posterior of this run"},
			&cli.BoolFlag{Name: "quiet", Usage: "no summary line"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return fmt.Errorf("merge: no shard files given")
			}
			o := infer.MergeOptions{Inputs: c.Args().Slice(), Out: c.String("out"), Lens: c.String("lens"),
				Obs: c.String("obs"), Force: c.Bool("force"), Log: c.App.ErrWriter}
			if c.Bool("quiet") {
				o.Log = nil
			}
			if err := infer.Merge(c.Context, o); err != nil {
				return fmt.Errorf("merge: %w", err)
			}
			return nil
		},
	})
}
