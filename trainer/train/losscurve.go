package train

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// LossRow is one line of a run's loss.csv.
type LossRow struct {
	Step     int
	Seconds  float64 // wall time since the run began (resumed runs continue it)
	Loss     float64 // the step's DSM loss (eq. 3, λ(t) = σ(t)²)
	LR       float64
	GradNorm float64 // before clipping
	EMALoss  float64 // exponential moving average of Loss
}

// lossColumns are the columns of loss.csv (lossHeader).
var lossColumns = strings.Split(strings.TrimSpace(lossHeader), ",")

// ReadLoss reads a loss.csv written by Run.
func ReadLoss(path string) ([]LossRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("could not read loss log: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = len(lossColumns)
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("could not read loss log %q: %w", path, err)
	}
	for i, h := range lossColumns {
		if head[i] != h {
			return nil, fmt.Errorf("could not read loss log %q: column %d is %q, want %q", path, i+1, head[i], h)
		}
	}
	var rows []LossRow
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("could not read loss log %q: %w", path, err)
		}
		var v [6]float64
		for i, s := range rec {
			if v[i], err = strconv.ParseFloat(s, 64); err != nil {
				return nil, fmt.Errorf("could not read loss log %q: line %d, column %s: %q is not a number", path, line, lossColumns[i], s)
			}
		}
		rows = append(rows, LossRow{Step: int(v[0]), Seconds: v[1], Loss: v[2], LR: v[3], GradNorm: v[4], EMALoss: v[5]})
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("could not read loss log %q: no steps", path)
	}
	return rows, nil
}

// PlotLoss draws the loss curve of rows into the PNG file path (atomically): every step's
// loss in grey, its moving average in black, on a logarithmic axis.
func PlotLoss(path string, rows []LossRow, title string) error {
	if len(rows) == 0 {
		return fmt.Errorf("could not plot %q: no steps", path)
	}
	steps := make(plotter.XYs, 0, len(rows))
	avg := make(plotter.XYs, 0, len(rows))
	for _, r := range rows {
		if r.Loss > 0 && !math.IsInf(r.Loss, 0) {
			steps = append(steps, plotter.XY{X: float64(r.Step), Y: r.Loss})
		}
		if r.EMALoss > 0 && !math.IsInf(r.EMALoss, 0) {
			avg = append(avg, plotter.XY{X: float64(r.Step), Y: r.EMALoss})
		}
	}
	if len(steps) == 0 {
		return fmt.Errorf("could not plot %q: no positive finite loss", path)
	}
	pl := plot.New()
	pl.Title.Text = title
	pl.X.Label.Text = "step"
	pl.Y.Label.Text = "DSM loss (eq. 3, λ = σ²)"
	pl.Y.Scale = plot.LogScale{}
	pl.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	pl.Add(plotter.NewGrid())
	sc, err := plotter.NewScatter(steps)
	if err != nil {
		return fmt.Errorf("could not plot %q: %w", path, err)
	}
	sc.GlyphStyle.Radius = vg.Points(0.6)
	sc.GlyphStyle.Shape = draw.CircleGlyph{}
	sc.GlyphStyle.Color = color.Gray{Y: 150}
	pl.Add(sc)
	if len(avg) > 0 {
		ln, err := plotter.NewLine(avg)
		if err != nil {
			return fmt.Errorf("could not plot %q: %w", path, err)
		}
		ln.Width = vg.Points(1.2)
		pl.Add(ln)
		pl.Legend.Add("moving average", ln)
	}
	pl.Legend.Add("step", sc)
	pl.Legend.Top = true
	img := vgimg.NewWith(vgimg.UseWH(16*vg.Centimeter, 10*vg.Centimeter), vgimg.UseDPI(110))
	pl.Draw(draw.New(img))
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return fmt.Errorf("could not plot %q: %w", path, err)
	}
	return writeAtomic(path, buf.Bytes())
}
