package figure

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"scorelens/lens"
)

// Scale is how pixel values map to colours.
type Scale int

const (
	// Linear maps [Min, Max] linearly: flux maps with a colour bar in data units.
	Linear Scale = iota
	// Asinh compresses the bright end (Lupton et al. 1999), for grids of galaxies with
	// bright cores and faint arms; no colour bar is drawn.
	Asinh
	// Diverging is linear and symmetric about zero with a blue–red map: residuals.
	Diverging
)

// Panel is one image in a figure.
type Panel struct {
	Title string
	Data  []float64 // N×N, row-major, row 0 at the bottom
	N     int
	// Extent is (xmin, xmax, ymin, ymax) of the image edges in arcsec; all zero means
	// pixel units.
	Extent   [4]float64
	Scale    Scale
	Min, Max float64 // colour limits; both zero means automatic (robust percentiles)
	ColorBar bool
	Label    string      // colour-bar label (units)
	Lines    [][]Point   // polylines drawn over the image (critical curves, caustics)
	LineCol  color.Color // colour of Lines; white when nil
}

// Point is a position in the panel's coordinates (arcsec).
type Point = lens.Point

type grid struct {
	p    *Panel
	vals []float64
}

func (g grid) Dims() (c, r int)   { return g.p.N, g.p.N }
func (g grid) Z(c, r int) float64 { return g.vals[r*g.p.N+c] }
func (g grid) X(c int) float64 {
	x0, x1 := g.p.extent()
	return x0 + (float64(c)+0.5)*(x1-x0)/float64(g.p.N)
}
func (g grid) Y(r int) float64 {
	_, _, y0, y1 := g.p.Extent[0], g.p.Extent[1], g.p.Extent[2], g.p.Extent[3]
	if y0 == 0 && y1 == 0 {
		y1 = float64(g.p.N)
	}
	return y0 + (float64(r)+0.5)*(y1-y0)/float64(g.p.N)
}

func (p *Panel) extent() (float64, float64) {
	if p.Extent == [4]float64{} {
		return 0, float64(p.N)
	}
	return p.Extent[0], p.Extent[1]
}

// limits returns the colour range: the given one, or the range of the finite values (from
// zero for non-negative flux maps; symmetric about zero, clipped at the 0.5 and 99.5
// percentiles, for Diverging).
func (p *Panel) limits(vals []float64) (lo, hi float64) {
	if p.Min != 0 || p.Max != 0 {
		return p.Min, p.Max
	}
	f := make([]float64, 0, len(vals))
	for _, v := range vals {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			f = append(f, v)
		}
	}
	if len(f) == 0 {
		return 0, 1
	}
	sort.Float64s(f)
	q := func(p float64) float64 { return f[int(p*float64(len(f)-1))] }
	switch p.Scale {
	case Diverging:
		m := math.Max(math.Abs(q(0.005)), math.Abs(q(0.995)))
		if m == 0 {
			m = 1
		}
		return -m, m
	case Asinh:
		lo, hi = f[0], f[len(f)-1]
	default:
		lo, hi = f[0], f[len(f)-1]
		if lo > 0 {
			lo = 0 // flux maps start at zero so that empty sky reads as black
		}
	}
	if hi <= lo {
		hi = lo + 1
	}
	return lo, hi
}

func (p *Panel) colorMap() palette.ColorMap {
	if p.Scale == Diverging {
		return moreland.SmoothBlueRed()
	}
	return moreland.ExtendedBlackBody()
}

// draw renders the panel into c.
func (p *Panel) draw(c draw.Canvas) error {
	if p.N <= 0 || len(p.Data) != p.N*p.N {
		panic(fmt.Sprintf("figure: panel %q has %d values for N=%d", p.Title, len(p.Data), p.N))
	}
	vals := p.Data
	lo, hi := p.limits(vals)
	if p.Scale == Asinh {
		// Stretch so that the faint outskirts are visible: asinh(x/soft), soft = 2% of range.
		soft := 0.02 * (hi - lo)
		vals = make([]float64, len(p.Data))
		for i, v := range p.Data {
			vals[i] = math.Asinh((v - lo) / soft)
		}
		lo, hi = 0, math.Asinh((hi-lo)/soft)
	}
	cm := p.colorMap()
	cm.SetMin(lo)
	cm.SetMax(hi)
	pl := plot.New()
	pl.Title.Text = p.Title
	pl.Title.TextStyle.Font.Size = vg.Points(10)
	hm := plotter.NewHeatMap(grid{p, vals}, cm.Palette(256))
	hm.Min, hm.Max = lo, hi
	hm.Underflow, hm.Overflow = cm.Palette(256).Colors()[0], cm.Palette(256).Colors()[255]
	hm.NaN = color.Gray{Y: 128}
	hm.Rasterized = true
	pl.Add(hm)
	x0, x1 := p.extent()
	y0, y1 := p.Extent[2], p.Extent[3]
	if p.Extent == [4]float64{} {
		y0, y1 = 0, float64(p.N)
	}
	for _, line := range p.Lines {
		xy := make(plotter.XYs, len(line))
		for i, q := range line {
			xy[i].X, xy[i].Y = q.X, q.Y
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return err
		}
		l.Color = p.LineCol
		if l.Color == nil {
			l.Color = color.White
		}
		l.Width = vg.Points(0.8)
		pl.Add(l)
	}
	pl.X.Min, pl.X.Max, pl.Y.Min, pl.Y.Max = x0, x1, y0, y1
	pl.X.Tick.Label.Font.Size = vg.Points(7)
	pl.Y.Tick.Label.Font.Size = vg.Points(7)
	if p.Extent == [4]float64{} {
		pl.HideAxes()
	} else {
		pl.X.Label.Text = "x [arcsec]"
		pl.Y.Label.Text = "y [arcsec]"
		pl.X.Label.TextStyle.Font.Size = vg.Points(7)
		pl.Y.Label.TextStyle.Font.Size = vg.Points(7)
	}
	if !p.ColorBar || p.Scale == Asinh {
		pl.Draw(square(pl, c))
		return nil
	}
	w := c.Max.X - c.Min.X
	img := draw.Crop(c, 0, -0.2*w, 0, 0)
	pl.Draw(square(pl, img))
	cb := plot.New()
	cb.HideX()
	cb.Y.Padding = 0
	cb.Y.Label.Text = p.Label
	cb.Y.Label.TextStyle.Font.Size = vg.Points(7)
	cb.Y.Tick.Label.Font.Size = vg.Points(7)
	cb.Add(&plotter.ColorBar{ColorMap: cm, Vertical: true})
	bar := draw.Crop(c, 0.83*w, -0.05*w, vg.Points(22), -vg.Points(18))
	cb.Draw(bar)
	return nil
}

// square shrinks c so that the plot's data area is square: pixels stay square.
func square(pl *plot.Plot, c draw.Canvas) draw.Canvas {
	da := pl.DataCanvas(c)
	w, h := da.Max.X-da.Min.X, da.Max.Y-da.Min.Y
	switch {
	case w > h:
		d := (w - h) / 2
		return draw.Crop(c, d, -d, 0, 0)
	case h > w:
		d := (h - w) / 2
		return draw.Crop(c, 0, 0, d, -d)
	}
	return c
}

// Render draws panels in a grid of cols columns (rows as needed) and writes a PNG, each
// tile size×size points plus room for colour bars. A zero Panel leaves its tile blank.
func Render(path string, panels []Panel, cols int, size vg.Length) (err error) {
	if len(panels) == 0 {
		panic("figure: no panels")
	}
	if cols <= 0 || cols > len(panels) {
		cols = len(panels)
	}
	rows := (len(panels) + cols - 1) / cols
	tileW := size
	for _, p := range panels {
		if p.ColorBar && p.Scale != Asinh {
			tileW = size * 1.25
			break
		}
	}
	defer func() {
		// gonum/plot panics on degenerate input (e.g. an all-NaN panel); report it as an error.
		if r := recover(); r != nil {
			err = fmt.Errorf("could not draw %q: %v", path, r)
		}
	}()
	img := vgimg.NewWith(vgimg.UseWH(tileW*vg.Length(cols), size*vg.Length(rows)), vgimg.UseDPI(110))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Points(4), PadY: vg.Points(4),
		PadTop: vg.Points(2), PadBottom: vg.Points(2), PadLeft: vg.Points(2), PadRight: vg.Points(2)}
	for k := range panels {
		if panels[k].N == 0 {
			continue // a blank tile
		}
		if err := panels[k].draw(tiles.At(dc, k%cols, k/cols)); err != nil {
			return fmt.Errorf("could not draw %q: %w", path, err)
		}
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return fmt.Errorf("could not draw %q: %w", path, err)
	}
	return writeAtomic(path, buf.Bytes())
}

func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("could not write %q: %w", path, err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("could not write %q: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("could not write %q: %w", path, err)
	}
	os.Chmod(tmp.Name(), 0o644)
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("could not write %q: %w", path, err)
	}
	return nil
}

// Grid draws n×n images in cols columns, asinh-stretched, with optional titles (nil for
// none): previews of data sets and prior samples.
func Grid(path string, images [][]float64, n, cols int, titles []string) error {
	panels := make([]Panel, len(images))
	for k, im := range images {
		panels[k] = Panel{Data: im, N: n, Scale: Asinh}
		if k < len(titles) {
			panels[k].Title = titles[k]
		}
	}
	size := vg.Points(90)
	if titles != nil {
		size = vg.Points(105)
	}
	return Render(path, panels, cols, size)
}

func colorRGB(r, g, b uint8) color.Color { return color.RGBA{R: r, G: g, B: b, A: 255} }
