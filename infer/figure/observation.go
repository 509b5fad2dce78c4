package figure

import (
	"fmt"

	"scorelens/lens"
)

func extent(g lens.Grid) [4]float64 {
	h := g.FOV() / 2
	return [4]float64{g.X0 - h, g.X0 + h, g.Y0 - h, g.Y0 + h}
}

// Observation draws a simulated or real observation: the true source (when the file has
// one) on the source grid, the noise-free model (when present) and the observed image on the
// image grid, each with a colour bar in data units.
func Observation(path string, obs *lens.Observation, cfg *lens.Config) error {
	img := cfg.ImageGrid()
	crit, caus, err := Curves(cfg)
	if err != nil {
		return err
	}
	var panels []Panel
	if obs.Truth != nil {
		panels = append(panels, Panel{Title: "true source", Data: obs.Truth, N: obs.TruthN,
			Extent: extent(cfg.SourceGrid()), ColorBar: true, Lines: caus, LineCol: causticColor})
	}
	if obs.Model != nil {
		panels = append(panels, Panel{Title: "noise-free model A·x", Data: obs.Model, N: obs.N,
			Extent: extent(img), ColorBar: true})
	}
	title := "observation"
	if s := obs.Sigma; len(s) > 0 {
		title = fmt.Sprintf("observation (σ = %.3g)", s[0])
		for _, v := range s {
			if v != s[0] {
				title = "observation (σ: per-pixel map)"
				break
			}
		}
	}
	panels = append(panels, Panel{Title: title, Data: obs.Data, N: obs.N, Extent: extent(img), ColorBar: true,
		Lines: crit, LineCol: causticColor})
	return Render(path, panels, len(panels), 200)
}

// Curves returns the critical curves of the lens in cfg, traced on the image grid
// supersampled four times, and its caustics.
func Curves(cfg *lens.Config) (critical, caustics [][]Point, err error) {
	d, err := cfg.Deflector()
	if err != nil {
		return nil, nil, err
	}
	g := cfg.ImageGrid()
	crit := lens.CriticalCurves(d, lens.NewGrid(4*g.N, g.FOV(), g.X0, g.Y0))
	return crit, lens.Caustics(d, crit), nil
}
