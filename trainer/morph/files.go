package morph

import (
	"context"
	"fmt"
	"io"
	"math"

	"scorelens/lens/fitsimg"
)

// ReadSet reads the square planes of the first image HDU of path.
func ReadSet(path string) ([][]float64, int, error) {
	im, err := fitsimg.ReadImage(path, "")
	if err != nil {
		return nil, 0, err
	}
	if len(im.Axes) < 2 || im.Axes[0] != im.Axes[1] {
		return nil, 0, fmt.Errorf("%q: expected square images or a cube of them, got axes %v", path, im.Axes)
	}
	out := make([][]float64, im.Depth())
	for k := range out {
		out[k] = im.Plane(k)
		for _, v := range out[k] {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, 0, fmt.Errorf("%q: image %d holds %v", path, k, v)
			}
		}
	}
	return out, im.Axes[0], nil
}

// CompareFiles measures the images of two FITS cubes and prints the distance table, ref
// (A) being the reference set.
//
// With threshold > 0 every pixel fainter than threshold × its image's peak is set to zero in
// both sets before measuring: a crude segmentation for images with noise or a residual
// background (statmorph measures inside a segmentation map for the same reason), since the
// statistics otherwise take the whole stamp as the galaxy.
func CompareFiles(ctx context.Context, w io.Writer, ref, other string, threshold float64) error {
	if threshold < 0 || threshold >= 1 || math.IsNaN(threshold) {
		return fmt.Errorf("galstats: threshold must be in [0, 1), got %g", threshold)
	}
	a, na, err := ReadSet(ref)
	if err != nil {
		return err
	}
	b, nb, err := ReadSet(other)
	if err != nil {
		return err
	}
	if threshold > 0 {
		for _, set := range [][][]float64{a, b} {
			for _, im := range set {
				Threshold(im, threshold)
			}
		}
		fmt.Fprintf(w, "pixels below %g of each image's peak set to zero\n", threshold)
	}
	sa, err := MeasureAll(ctx, a, na)
	if err != nil {
		return err
	}
	sb, err := MeasureAll(ctx, b, nb)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "A: %s (%d images, %d×%d)\nB: %s (%d images, %d×%d)\n", ref, len(a), na, na, other, len(b), nb, nb)
	if na != nb {
		fmt.Fprintf(w, "note: the sets differ in size; radii are in each set's own pixels\n")
	}
	return WriteTable(w, Distance(sa, sb))
}

// Threshold sets the pixels of img fainter than frac × its peak to zero, in place.
func Threshold(img []float64, frac float64) {
	peak := math.Inf(-1)
	for _, v := range img {
		peak = max(peak, v)
	}
	for i, v := range img {
		if v < frac*peak {
			img[i] = 0
		}
	}
}
