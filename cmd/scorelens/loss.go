package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"scorelens/trainer/train"
)

func init() {
	register(&cli.Command{
		Name:      "loss",
		Usage:     "draw a training run's loss curve (PNG) and summarise it",
		UsageText: "scorelens loss run/ [run-ft/ ...] [--out run/loss.png]",
		Description: `Reads run/loss.csv (or a loss.csv given directly), draws every step's DSM loss and
its moving average on a logarithmic axis into --out (default: loss.png beside the first CSV),
and prints the steps, wall time and the moving-average loss at the end. Several runs, each
continuing the one before (train --init-from), are drawn as one curve: a run's rows from the
first step of the next run on are replaced by the next run's.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "PNG `FILE` to write (default: loss.png beside the first loss.csv)"},
			&cli.StringFlag{Name: "title", Usage: "figure title (default: the run folder's name)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() < 1 {
				return fmt.Errorf("loss: expected run folders or loss.csv files, got none")
			}
			var path string
			var rows []train.LossRow
			for k, arg := range c.Args().Slice() {
				p := arg
				if st, err := os.Stat(p); err == nil && st.IsDir() {
					p = filepath.Join(p, train.LossFile)
				}
				more, err := train.ReadLoss(p)
				if err != nil {
					return err
				}
				if k == 0 {
					path, rows = p, more
					continue
				}
				first := more[0].Step
				if first < rows[0].Step || first > rows[len(rows)-1].Step+1 {
					return fmt.Errorf("loss: %s starts at step %d, which does not continue %s (steps %d to %d)",
						arg, first, c.Args().Get(k-1), rows[0].Step, rows[len(rows)-1].Step)
				}
				keep := 0
				for keep < len(rows) && rows[keep].Step < first {
					keep++
				}
				rows = append(rows[:keep], more...)
			}
			out := c.String("out")
			if out == "" {
				out = filepath.Join(filepath.Dir(path), "loss.png")
			}
			title := c.String("title")
			if title == "" {
				abs, _ := filepath.Abs(filepath.Dir(path))
				title = filepath.Base(abs)
			}
			if err := train.PlotLoss(out, rows, title); err != nil {
				return err
			}
			last := rows[len(rows)-1]
			fmt.Fprintf(c.App.Writer, "%d steps in %s, moving-average loss %.4g (first step %.4g); wrote %s\n",
				last.Step, time.Duration(last.Seconds*float64(time.Second)).Round(time.Second), last.EMALoss, rows[0].Loss, out)
			return nil
		},
	})
}
