package morph

import (
	"context"
	"fmt"
	"io"
	"math"

	"scorelens/lens/fitsimg"
)

// readSet reads the square planes of the first image HDU of path.
func readSet(path string) ([][]float64, int, error) {
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
func CompareFiles(ctx context.Context, w io.Writer, ref, other string) error {
	a, na, err := readSet(ref)
	if err != nil {
		return err
	}
	b, nb, err := readSet(other)
	if err != nil {
		return err
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
