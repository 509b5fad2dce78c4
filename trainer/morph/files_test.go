package morph

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"scorelens/lens/fitsimg"
)

func TestThreshold(t *testing.T) {
	img := []float64{2, 0.019, 0.02, -0.5, 1, 0.03}
	Threshold(img, 0.01)
	want := []float64{2, 0, 0.02, 0, 1, 0.03}
	for i := range img {
		if img[i] != want[i] {
			t.Fatalf("Threshold: %v, want %v", img, want)
		}
	}
}

// A faint uniform background (0.5% of the peak) moves R80 of Gaussian blobs by half the
// set's spread of R80 (0.52 here); zeroing the pixels below 2% of the peak in both sets
// leaves only the veil's offset on the kept pixels and a slightly wider cut, 0.08. Asserted
// with margin: above 0.4 with the background, below 0.15 with the threshold.
func TestCompareFilesThreshold(t *testing.T) {
	const n, m = 32, 6
	clean := make([]float64, m*n*n)
	veiled := make([]float64, m*n*n)
	for k := 0; k < m; k++ {
		s := 2 + 0.4*float64(k)
		for j := 0; j < n; j++ {
			for i := 0; i < n; i++ {
				x, y := float64(i)-15.5, float64(j)-15.5
				v := math.Exp(-(x*x + y*y) / (2 * s * s))
				clean[k*n*n+j*n+i] = v
				veiled[k*n*n+j*n+i] = v + 5e-3
			}
		}
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.fits"), filepath.Join(dir, "b.fits")
	if err := fitsimg.Write(a, fitsimg.NewImage("", clean, n, n, m)); err != nil {
		t.Fatal(err)
	}
	if err := fitsimg.Write(b, fitsimg.NewImage("", veiled, n, n, m)); err != nil {
		t.Fatal(err)
	}
	r80 := func(thr float64) float64 {
		var out bytes.Buffer
		if err := CompareFiles(context.Background(), &out, a, b, thr); err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(out.String(), "\n") {
			f := strings.Fields(line)
			if len(f) > 6 && f[0] == "r80" {
				var d float64
				if _, err := fmt.Sscan(f[5], &d); err != nil {
					t.Fatal(err)
				}
				return d
			}
		}
		t.Fatalf("no r80 row in\n%s", out.String())
		return 0
	}
	if d := r80(0); d < 0.4 {
		t.Errorf("r80 distance with the background kept = %.3f, want > 0.4", d)
	}
	if d := r80(0.02); d > 0.15 {
		t.Errorf("r80 distance with pixels below 2%% of the peak zeroed = %.3f, want < 0.15", d)
	}
	var out bytes.Buffer
	if err := CompareFiles(context.Background(), &out, a, b, 1); err == nil {
		t.Error("a threshold of 1 was accepted")
	}
}
