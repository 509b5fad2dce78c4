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
		UsageText: "scorelens loss run/ [--out run/loss.png]",
		Description: `Reads run/loss.csv (or a loss.csv given directly), draws every step's DSM loss and
its moving average on a logarithmic axis into --out (default: loss.png beside the CSV), and
prints the steps, wall time and the moving-average loss at the end.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "PNG `FILE` to write (default: loss.png beside loss.csv)"},
			&cli.StringFlag{Name: "title", Usage: "figure title (default: the run folder's name)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("loss: expected one run folder or loss.csv, got %d arguments", c.NArg())
			}
			path := c.Args().First()
			if st, err := os.Stat(path); err == nil && st.IsDir() {
				path = filepath.Join(path, train.LossFile)
			}
			rows, err := train.ReadLoss(path)
			if err != nil {
				return err
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
