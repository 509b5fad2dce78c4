package train

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"

	"scorelens/lens/fitsimg"
)

// trainingSet holds the images (float32, n×n each, one after the other).
type trainingSet struct {
	id     DatasetID
	n      int
	images []float32
	raw    []float64 // the same in float64, for σmax
}

func (s *trainingSet) count() int { return s.id.Count }

// loadSet reads a data-set cube (scorelens dataset, or any FITS image cube with square
// planes) and its identity (SHA-256 of the file, header keys NORM and PIXSCALE).
func loadSet(path string) (*trainingSet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("could not open the data set: %w", err)
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("could not read the data set: %w", err)
	}
	im, err := fitsimg.ReadImage(path, "")
	if err != nil {
		return nil, fmt.Errorf("could not read the data set: %w", err)
	}
	if len(im.Axes) < 2 || im.Axes[0] != im.Axes[1] || im.Axes[0] < 1 {
		return nil, fmt.Errorf("data set %q: expected a cube of square images, got axes %v", path, im.Axes)
	}
	n := im.Axes[0]
	s := &trainingSet{n: n, raw: im.Data, images: make([]float32, len(im.Data))}
	for i, v := range im.Data {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("data set %q: image %d holds %v", path, i/(n*n), v)
		}
		s.images[i] = float32(v)
	}
	s.id = DatasetID{Path: path, SHA256: hex.EncodeToString(h.Sum(nil)), Count: im.Depth(), Size: n}
	s.id.Norm, _ = im.Header.String("NORM")
	s.id.PixelScale, _ = im.Header.Float("PIXSCALE")
	return s, nil
}

// order gives the data order: each epoch visits every image once, in a permutation drawn
// from a source seeded by (seed, epoch), so that the image of any step follows from the
// step number alone and a resumed run sees the same images as an unbroken one.
type order struct {
	seed  uint64
	count int
	epoch int64
	perm  []int
}

func (o *order) index(k int64) int {
	e := k / int64(o.count)
	if o.perm == nil || e != o.epoch {
		o.epoch = e
		o.perm = rand.New(rand.NewPCG(o.seed, 0x9e3779b97f4a7c15^uint64(e))).Perm(o.count)
	}
	return o.perm[k%int64(o.count)]
}

// dihedral writes into dst the n×n image src transformed by element d ∈ [0, 8) of the
// symmetry group of the square: bit 0 flips x, bit 1 flips y, bit 2 transposes.
func dihedral(dst, src []float32, n, d int) {
	for j := 0; j < n; j++ {
		for i := 0; i < n; i++ {
			x, y := i, j
			if d&4 != 0 {
				x, y = y, x
			}
			if d&1 != 0 {
				x = n - 1 - x
			}
			if d&2 != 0 {
				y = n - 1 - y
			}
			dst[j*n+i] = src[y*n+x]
		}
	}
}
