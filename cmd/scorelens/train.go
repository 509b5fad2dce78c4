package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"scorelens/trainer/train"
)

func init() {
	register(&cli.Command{
		Name:  "train",
		Usage: "train the NCSN++ score prior by denoising score matching on a data-set cube",
		UsageText: "scorelens train --data train.fits --preset small --max-time 10m --out run/\n" +
			"   scorelens train --out run/ --resume --max-time 2h\n" +
			"   scorelens train --init-from run/checkpoint.ckpt --lr 5e-5 --out run-ft/ --max-time 1h",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data", Usage: "FITS cube of training images (scorelens dataset); on --resume, default the checkpoint's"},
			&cli.StringFlag{Name: "out", Required: true, Usage: "run folder: checkpoint.ckpt, hparams.json, loss.csv"},
			&cli.BoolFlag{Name: "resume", Usage: "continue the run in --out from its checkpoint"},
			&cli.StringFlag{Name: "init-from", Usage: "start a new run in --out (fine-tuning) from another run's checkpoint: its network, weights, EMA, optimiser state and step count; " +
				"hyper-parameters not given are the checkpoint's; --data may differ. Or from a model written by scorelens export (e.g. models/training/galaxies64-expert/expert.onnx; not a joined model of scorelens combine): " +
				"its network and weights, with fresh optimiser state, steps from 0 and the default hyper-parameters; --data needed"},
			&cli.BoolFlag{Name: "offset-head", Usage: "give the network the offset head, which corrects the uniform level of the denoised image (with --init-from: added to the source's network at zero)"},
			&cli.StringFlag{Name: "preset", Usage: "network preset: tiny, small or paper", DefaultText: "small"},
			&cli.StringFlag{Name: "config", Usage: "network configuration JSON (ncsnpp config, or a run's hparams.json)"},
			&cli.IntFlag{Name: "batch", Usage: "batch size", DefaultText: "16"},
			&cli.Float64Flag{Name: "lr", Usage: "Adam learning rate after warm-up", DefaultText: "2e-4"},
			&cli.IntFlag{Name: "warmup", Usage: "learning-rate warm-up steps (0: none)", DefaultText: "5000"},
			&cli.Float64Flag{Name: "grad-clip", Usage: "global gradient-norm clip (0: none)", DefaultText: "1"},
			&cli.Float64Flag{Name: "ema", Usage: "EMA rate of the weights", DefaultText: "0.999"},
			&cli.BoolFlag{Name: "augment", Usage: "random flips and right-angle rotations of the training images"},
			&cli.Float64Flag{Name: "loss-weight", Usage: "β: errors of the mean level of each --loss-block tile (background, flux) cost 1+β times more in the DSM loss; the minimiser is unchanged (0: none)", DefaultText: "0"},
			&cli.IntFlag{Name: "loss-block", Usage: "tile size in pixels of --loss-weight", DefaultText: "8"},
			&cli.Float64Flag{Name: "train-sigma-max", Usage: "train only on noise levels σ ≤ this: a low-noise expert, to join to a model of the whole range with `scorelens combine` (0: the whole range)", DefaultText: "0"},
			&cli.Int64Flag{Name: "steps", Usage: "stop after this many updates in all", DefaultText: "no limit"},
			&cli.DurationFlag{Name: "max-time", Usage: "stop after this much wall time, e.g. 10m or 2h", DefaultText: "no limit"},
			&cli.DurationFlag{Name: "ckpt-every", Value: train.DefaultCkptEvery, Usage: "periodic checkpoint interval"},
			&cli.Uint64Flag{Name: "seed", Usage: "random seed", DefaultText: "1"},
			&cli.Float64Flag{Name: "sigma-max", Usage: "σmax of the VE SDE", DefaultText: "the largest distance between two training images"},
			&cli.Float64Flag{Name: "sigma-min", Usage: "σmin of the VE SDE (0.01 suits images normalised to peak ~1)", DefaultText: "0.01"},
			&cli.IntFlag{Name: "threads", Usage: "worker threads", DefaultText: "all CPUs"},
			&cli.BoolFlag{Name: "quiet", Usage: "no progress display"},
		},
		Action: func(c *cli.Context) error {
			warmup, clip := c.Int("warmup"), c.Float64("grad-clip")
			if c.IsSet("warmup") && warmup == 0 {
				warmup = -1 // explicitly none
			}
			if c.IsSet("grad-clip") && clip == 0 {
				clip = -1
			}
			weight := c.Float64("loss-weight")
			if weight < 0 {
				return fmt.Errorf("train: --loss-weight must be ≥ 0, got %g", weight)
			}
			if c.IsSet("loss-weight") && weight == 0 {
				weight = -1
			}
			sigmaTrain := c.Float64("train-sigma-max")
			if sigmaTrain < 0 {
				return fmt.Errorf("train: --train-sigma-max must be ≥ 0, got %g", sigmaTrain)
			}
			if c.IsSet("train-sigma-max") && sigmaTrain == 0 {
				sigmaTrain = -1
			}
			return train.Run(c.Context, train.Options{
				Data: c.String("data"), Out: c.String("out"), Resume: c.Bool("resume"), InitFrom: c.String("init-from"),
				OffsetHead: c.Bool("offset-head"), Preset: c.String("preset"), ConfigFile: c.String("config"),
				SigmaMax: c.Float64("sigma-max"), SigmaMin: c.Float64("sigma-min"),
				HParams: train.HParams{Batch: c.Int("batch"), LR: c.Float64("lr"), Warmup: warmup,
					GradClip: clip, EMADecay: c.Float64("ema"), Seed: c.Uint64("seed"), Augment: c.Bool("augment"),
					LossWeight: weight, LossBlock: c.Int("loss-block"), SigmaTrainMax: sigmaTrain},
				Steps: c.Int64("steps"), MaxTime: c.Duration("max-time"), CkptEvery: c.Duration("ckpt-every"),
				Threads: c.Int("threads"), Quiet: c.Bool("quiet"), Version: version,
			}, c.App.Writer)
		},
	})
}
