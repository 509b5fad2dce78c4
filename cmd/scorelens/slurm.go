package main

import (
	"github.com/urfave/cli/v2"

	"scorelens/infer/slurm"
)

func init() {
	register(&cli.Command{
		Name:  "slurm",
		Usage: "write a SLURM job-array script that runs one posterior in shards and merges them",
		UsageText: "scorelens slurm --samples 320 --shards 80 [--gpu] [--partition P] [--time HH:MM:SS]\n" +
			"   [--mem 8G] [--cpus-per-task N] [--account A] [--binary PATH] --out-dir DIR -- SAMPLE-FLAGS > job.sh\n" +
			"bash job.sh    (or: sbatch job.sh)",
		Description: "Writes to stdout a batch script whose array task k runs\n" +
			"  scorelens sample SAMPLE-FLAGS --samples S --shard k/N --resume --out DIR/shard-NNN.fits\n" +
			"and a merge job (scorelens merge ... --out DIR/posterior.fits) that runs after every shard\n" +
			"succeeded. `bash job.sh` submits both and prints their job IDs; `sbatch job.sh` submits the\n" +
			"array and its first task submits the merge job. Relative paths in SAMPLE-FLAGS are relative\n" +
			"to the current directory, where every job runs. A requeued or resubmitted shard resumes its\n" +
			"file. Creates DIR and DIR/logs (the jobs' logs).",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "samples", Usage: "total number of posterior samples", Required: true},
			&cli.IntFlag{Name: "shards", Usage: "number of array tasks, one shard each", Required: true},
			&cli.StringFlag{Name: "out-dir", Usage: "`DIR` of the shard files, the logs and the merged posterior", Required: true},
			&cli.StringFlag{Name: "merged", Usage: "merged posterior `FILE` (default DIR/posterior.fits)"},
			&cli.BoolFlag{Name: "gpu", Usage: "one GPU per task (--gres=gpu:1) and sample --device cuda"},
			&cli.StringFlag{Name: "partition", Usage: "SLURM `PARTITION`"},
			&cli.StringFlag{Name: "time", Usage: "time limit of each task, `HH:MM:SS` or D-HH:MM:SS"},
			&cli.StringFlag{Name: "mem", Usage: "memory of each task, e.g. `8G`"},
			&cli.IntFlag{Name: "cpus-per-task", Usage: "CPUs of each task (`N`)"},
			&cli.StringFlag{Name: "account", Usage: "SLURM `ACCOUNT` to charge"},
			&cli.StringFlag{Name: "job-name", Usage: "job `NAME`", Value: "scorelens"},
			&cli.StringFlag{Name: "binary", Usage: "scorelens binary `PATH` on the compute nodes (default: this one)"},
		},
		Action: func(c *cli.Context) error {
			return slurm.WriteScript(c.App.Writer, slurm.Job{
				Samples:     c.Int("samples"),
				Shards:      c.Int("shards"),
				GPU:         c.Bool("gpu"),
				Partition:   c.String("partition"),
				Time:        c.String("time"),
				Mem:         c.String("mem"),
				CPUsPerTask: c.Int("cpus-per-task"),
				Account:     c.String("account"),
				JobName:     c.String("job-name"),
				Binary:      c.String("binary"),
				OutDir:      c.String("out-dir"),
				Merged:      c.String("merged"),
				SampleArgs:  c.Args().Slice(),
				Version:     version,
			})
		},
	})
}
