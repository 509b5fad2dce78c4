package figure

import (
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func gaussian(n int, sx, sy float64) []float64 {
	d := make([]float64, n*n)
	for j := 0; j < n; j++ {
		for i := 0; i < n; i++ {
			x, y := float64(i)-float64(n-1)/2, float64(j)-float64(n-1)/2
			d[j*n+i] = math.Exp(-x*x/(2*sx*sx) - y*y/(2*sy*sy))
		}
	}
	return d
}

// decoded checks that path is a PNG of plausible size whose pixels are not all one colour.
func decoded(t *testing.T, path string) (w, h int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	first := img.At(b.Min.X, b.Min.Y)
	distinct := false
	for y := b.Min.Y; y < b.Max.Y && !distinct; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			if img.At(x, y) != first {
				distinct = true
				break
			}
		}
	}
	if !distinct {
		t.Errorf("%s: all pixels equal", path)
	}
	return b.Dx(), b.Dy()
}

func TestGrid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "grid.png")
	ims := [][]float64{gaussian(32, 3, 6), gaussian(32, 6, 3), gaussian(32, 2, 2), gaussian(32, 8, 5), gaussian(32, 4, 4)}
	if err := Grid(path, ims, 32, 3, nil); err != nil {
		t.Fatal(err)
	}
	w, h := decoded(t, path)
	// 3 columns × 2 rows of 90-point tiles at 110 dpi: 90/72·110 ≈ 137.5 px per tile.
	if math.Abs(float64(w)-3*137.5) > 2 || math.Abs(float64(h)-2*137.5) > 2 {
		t.Errorf("size %d×%d, want about 412×275", w, h)
	}
}

func TestPanelsWithColorBars(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.png")
	res := gaussian(24, 3, 3)
	for i := range res {
		res[i] = res[i]*2 - 1
	}
	panels := []Panel{
		{Title: "source", Data: gaussian(24, 3, 5), N: 24, Extent: [4]float64{-1.5, 1.5, -1.5, 1.5}, ColorBar: true},
		{Title: "residual", Data: res, N: 24, Extent: [4]float64{-3, 3, -3, 3}, Scale: Diverging, ColorBar: true,
			Lines: [][]Point{{{X: -1, Y: -1}, {X: 1, Y: 1}}}},
	}
	if err := Render(path, panels, 2, 160); err != nil {
		t.Fatal(err)
	}
	decoded(t, path)
}

func TestRenderRefusesBadPath(t *testing.T) {
	err := Grid(filepath.Join(t.TempDir(), "no", "such", "dir", "g.png"), [][]float64{gaussian(8, 1, 1)}, 8, 1, nil)
	if err == nil {
		t.Fatal("writing into a missing directory succeeded")
	}
}
