package galaxy

import (
	"fmt"
	"strings"
)

// examples are the built-in sources: fixed parameters, chosen to look like the textbook
// case of each type and to fill the central half to two thirds of the stamp.
var examples = []struct {
	name string
	p    Params
}{
	{"spiral", Params{Type: Spiral, Seed: 11, Flux: 1, PA: 30, Incl: 35, Q: 0.83,
		BulgeFrac: 0.15, BulgeRe: 0.045, BulgeN: 2, BulgeQ: 0.9, DiscH: 0.14,
		Arms: 2, Pitch: 18, ArmContrast: 0.8, ArmWidth: 3, Knots: 30, KnotFrac: 0.12}},
	{"elliptical", Params{Type: Elliptical, Seed: 12, Flux: 1, PA: 120, Q: 0.7,
		BulgeFrac: 1, BulgeRe: 0.16, BulgeN: 4, BulgeQ: 0.7}},
	{"barred", Params{Type: Barred, Seed: 13, Flux: 1, PA: 70, Incl: 30, Q: 0.87,
		BulgeFrac: 0.12, BulgeRe: 0.04, BulgeN: 1.5, BulgeQ: 0.95, DiscH: 0.14,
		Arms: 2, Pitch: 14, ArmContrast: 0.85, ArmWidth: 4, Knots: 20, KnotFrac: 0.08,
		BarFrac: 0.15, BarLen: 0.22, BarAngle: 20}},
	{"merger", Params{Type: Merger, Seed: 14, Flux: 1, X0: -0.1, Y0: -0.07, PA: 40, Incl: 50, Q: 0.65,
		BulgeFrac: 0.35, BulgeRe: 0.05, BulgeN: 2.5, BulgeQ: 0.85, DiscH: 0.12,
		CompFrac: 0.6, CompSep: 0.45, CompPA: 35, Tails: 2, Knots: 8, KnotFrac: 0.05}},
	{"irregular", Params{Type: Irregular, Seed: 15, Flux: 1, PA: 10, Incl: 40, Q: 0.8,
		BulgeFrac: 0.03, BulgeRe: 0.04, BulgeN: 1, BulgeQ: 1, DiscH: 0.13,
		Lumpiness: 0.5, Knots: 9, KnotFrac: 0.35}},
	{"edge-on", Params{Type: EdgeOn, Seed: 16, Flux: 1, PA: 155, Incl: 86, Q: 0.13,
		BulgeFrac: 0.2, BulgeRe: 0.07, BulgeN: 2, BulgeQ: 0.7, DiscH: 0.16, Dust: 0.7}},
	{"seven", Params{Type: Seven, Seed: 17, Flux: 1, PA: 90, Q: 1, DiscH: 0.07}},
	{"ring", Params{Type: Ring, Seed: 18, Flux: 1, PA: 20, Q: 0.8, DiscH: 0.42,
		BulgeFrac: 0.1, BulgeRe: 0.05, BulgeN: 1, BulgeQ: 1}},
}

// Names lists the built-in example sources: galaxies of each type ("spiral", "elliptical",
// "barred", "merger", "irregular", "edge-on") and the out-of-distribution shapes of the
// paper's figure 2 ("seven", "ring").
func Names() []string {
	s := make([]string, len(examples))
	for i, e := range examples {
		s[i] = e.name
	}
	return s
}

// ExampleParams returns the parameters of a built-in example source.
func ExampleParams(name string) (Params, error) {
	for _, e := range examples {
		if e.name == name {
			return e.p, nil
		}
	}
	return Params{}, fmt.Errorf("galaxy: unknown example source %q (known: %s)", name, strings.Join(Names(), ", "))
}

// Example renders a built-in example source as an n×n image (row-major data[j*n+i], +y up)
// normalised to a peak of 1. It is deterministic: the same name and n give the same image.
func Example(name string, n int) ([]float64, error) {
	if n < 1 {
		return nil, fmt.Errorf("galaxy: image size %d is not positive", n)
	}
	p, err := ExampleParams(name)
	if err != nil {
		return nil, err
	}
	img := make([]float64, n*n)
	if err := p.Render(img, n); err != nil {
		return nil, err
	}
	PeakNormalize(img)
	return img, nil
}

// PeakNormalize divides img by its maximum (when positive) and returns that maximum.
func PeakNormalize(img []float64) float64 {
	var m float64
	for _, v := range img {
		if v > m {
			m = v
		}
	}
	if m > 0 {
		for i := range img {
			img[i] /= m
		}
	}
	return m
}
