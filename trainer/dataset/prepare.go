package dataset

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Normalisations of a set.
const (
	NormPeak = "peak" // each image divided by its maximum
	NormFlux = "flux" // each image divided by its sum
	NormNone = "none"
)

// Kinds of bad input, as counted in a Report.
const (
	BadUnreadable = "unreadable"
	BadNaN        = "nan"
	BadUndersized = "undersized"
	BadEmpty      = "empty"
)

// BadInput is an input that Prepare or a loader refused; Kind is one of the Bad* kinds.
type BadInput struct {
	Name string
	Kind string
	Err  error
}

func (b *BadInput) Error() string { return fmt.Sprintf("%s: %s: %v", b.Name, b.Kind, b.Err) }
func (b *BadInput) Unwrap() error { return b.Err }

// Prep configures Prepare.
type Prep struct {
	Size       int     // output pixels a side
	PixelScale float64 // output pixel scale, arcsec; 0 keeps the input's
	Norm       string  // NormPeak, NormFlux or NormNone
	Mask       bool    // mask neighbours
}

// Prepare turns a stamp (nx×ny, row-major, pixel scale in arcsec) into an N×N training image
// and returns it with its normalisation factor (the image was divided by it). Data-dependent
// refusals are *BadInput errors.
func Prepare(name string, img []float64, nx, ny int, scale float64, p Prep) ([]float64, float64, error) {
	if len(img) != nx*ny {
		panic("dataset: image length mismatch")
	}
	bad := func(kind string, format string, a ...any) error {
		return &BadInput{Name: name, Kind: kind, Err: fmt.Errorf(format, a...)}
	}
	for k, v := range img {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, 0, bad(BadNaN, "pixel (%d, %d) is %v", k%nx, k/nx, v)
		}
	}
	if !(scale > 0) {
		return nil, 0, bad(BadUnreadable, "no pixel scale")
	}
	out := p.PixelScale
	if out == 0 {
		out = scale
	}
	// The output must lie on sky the stamp covers (half a pixel of slack for rounding).
	need := float64(p.Size) * out
	if float64(nx)*scale < need-0.5*scale || float64(ny)*scale < need-0.5*scale {
		return nil, 0, bad(BadUndersized, "stamp %d×%d at %.4g\" covers %.3g\"×%.3g\", less than the %d×%d at %.4g\" asked",
			nx, ny, scale, float64(nx)*scale, float64(ny)*scale, p.Size, p.Size, out)
	}
	work := append([]float64(nil), img...)
	if p.Mask {
		MaskNeighbours(work, nx, ny)
	}
	cx, cy, ok := lightCentre(work, nx, ny)
	if !ok {
		return nil, 0, bad(BadEmpty, "no positive flux")
	}
	res := Resample(work, nx, ny, cx, cy, out/scale, p.Size)
	f, err := Normalise(res, p.Norm)
	if err != nil {
		if errors.Is(err, errNoLight) {
			return nil, 0, bad(BadEmpty, "%v", err)
		}
		return nil, 0, err
	}
	return res, f, nil
}

var errNoLight = errors.New("no positive peak or flux to normalise by")

// Normalise divides img in place as norm says and returns the factor.
func Normalise(img []float64, norm string) (float64, error) {
	var f float64
	switch norm {
	case NormPeak:
		f = math.Inf(-1)
		for _, v := range img {
			f = math.Max(f, v)
		}
	case NormFlux:
		for _, v := range img {
			f += v
		}
	case NormNone:
		return 1, nil
	default:
		return 0, fmt.Errorf("unknown normalisation %q (peak, flux or none)", norm)
	}
	if !(f > 0) {
		return 0, errNoLight
	}
	for i := range img {
		img[i] /= f
	}
	return f, nil
}

// lightCentre is the flux-weighted centroid of the positive pixels, in pixel coordinates.
func lightCentre(img []float64, nx, ny int) (cx, cy float64, ok bool) {
	var s float64
	for j := 0; j < ny; j++ {
		for i := 0; i < nx; i++ {
			if v := img[j*nx+i]; v > 0 {
				s += v
				cx += v * float64(i)
				cy += v * float64(j)
			}
		}
	}
	if !(s > 0) {
		return 0, 0, false
	}
	return cx / s, cy / s, true
}

// Resample returns the n×n image whose pixels are r input pixels wide, centred on (cx, cy)
// in input pixel coordinates; each output pixel holds the input flux in its square, by
// exact overlap of the pixel squares (input pixels uniform), so Σ out = Σ in over the
// covered area. Sky beyond the input is zero.
func Resample(img []float64, nx, ny int, cx, cy, r float64, n int) []float64 {
	if len(img) != nx*ny {
		panic("dataset: image length mismatch")
	}
	wx := overlap(nx, cx, r, n)
	wy := overlap(ny, cy, r, n)
	tmp := make([]float64, ny*n) // rows resampled in x
	for j := 0; j < ny; j++ {
		row := img[j*nx : (j+1)*nx]
		for i, w := range wx {
			var s float64
			for _, t := range w {
				s += t.w * row[t.k]
			}
			tmp[j*n+i] = s
		}
	}
	out := make([]float64, n*n)
	for j, w := range wy {
		for _, t := range w {
			for i := 0; i < n; i++ {
				out[j*n+i] += t.w * tmp[t.k*n+i]
			}
		}
	}
	return out
}

type term struct {
	k int
	w float64
}

// overlap gives, for each of n output pixels of width r (input pixels) centred on c, the
// lengths of its overlap with the input pixels [k−½, k+½].
func overlap(m int, c, r float64, n int) [][]term {
	w := make([][]term, n)
	for i := range w {
		a := c + (float64(i)-float64(n)/2)*r
		b := a + r
		for k := int(math.Floor(a + 0.5)); float64(k)-0.5 < b; k++ {
			if k < 0 || k >= m {
				continue
			}
			lo := math.Max(a, float64(k)-0.5)
			hi := math.Min(b, float64(k)+0.5)
			if hi > lo {
				w[i] = append(w[i], term{k, hi - lo})
			}
		}
	}
	return w
}

// MaskNeighbours segments img above 3σ of its background (σ from the median absolute
// deviation, background the median) into 8-connected components and sets every pixel of
// the components other than the central one, grown by one pixel, to zero. The central
// component is the one containing the centre pixel or, if none does, the one whose
// brightest pixel is nearest the centre. It returns the number of pixels masked.
func MaskNeighbours(img []float64, nx, ny int) int {
	s := append([]float64(nil), img...)
	sort.Float64s(s)
	med := s[len(s)/2]
	for i := range s {
		s[i] = math.Abs(img[i] - med)
	}
	sort.Float64s(s)
	sigma := 1.4826 * s[len(s)/2]
	thr := med + 3*sigma
	if sigma == 0 {
		thr = med
	}
	label := make([]int, nx*ny)
	var comps [][]int
	for p := range img {
		if label[p] != 0 || !(img[p] > thr) {
			continue
		}
		id := len(comps) + 1
		stack := []int{p}
		label[p] = id
		var members []int
		for len(stack) > 0 {
			q := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			members = append(members, q)
			qi, qj := q%nx, q/nx
			for dj := -1; dj <= 1; dj++ {
				for di := -1; di <= 1; di++ {
					i, j := qi+di, qj+dj
					if i < 0 || j < 0 || i >= nx || j >= ny {
						continue
					}
					if r := j*nx + i; label[r] == 0 && img[r] > thr {
						label[r] = id
						stack = append(stack, r)
					}
				}
			}
		}
		comps = append(comps, members)
	}
	if len(comps) < 2 {
		return 0
	}
	centre := (ny/2)*nx + nx/2
	keep := label[centre]
	if keep == 0 {
		best := math.Inf(1)
		for c, m := range comps {
			bp := m[0]
			for _, q := range m {
				if img[q] > img[bp] {
					bp = q
				}
			}
			d := math.Hypot(float64(bp%nx-nx/2), float64(bp/nx-ny/2))
			if d < best {
				best, keep = d, c+1
			}
		}
	}
	masked := 0
	for c, m := range comps {
		if c+1 == keep {
			continue
		}
		for _, q := range m {
			qi, qj := q%nx, q/nx
			for dj := -1; dj <= 1; dj++ {
				for di := -1; di <= 1; di++ {
					i, j := qi+di, qj+dj
					if i < 0 || j < 0 || i >= nx || j >= ny {
						continue
					}
					if r := j*nx + i; label[r] != keep && img[r] != 0 {
						img[r] = 0
						masked++
					}
				}
			}
		}
	}
	return masked
}

// Augment8 returns the eight images of the dihedral group of the square: the identity, the
// rotations by 90°, 180° and 270°, and the four reflections.
func Augment8(img []float64, n int) [][]float64 {
	if len(img) != n*n {
		panic("dataset: image length mismatch")
	}
	out := make([][]float64, 8)
	for t := range out {
		d := make([]float64, n*n)
		for j := 0; j < n; j++ {
			for i := 0; i < n; i++ {
				x, y := i, j
				if t&4 != 0 { // reflect first
					x = n - 1 - x
				}
				for r := 0; r < t&3; r++ { // then rotate by 90° counter-clockwise
					x, y = n-1-y, x
				}
				d[y*n+x] = img[j*n+i]
			}
		}
		out[t] = d
	}
	return out
}
