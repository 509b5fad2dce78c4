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
	var panels []Panel
	if obs.Truth != nil {
		panels = append(panels, Panel{Title: "true source", Data: obs.Truth, N: obs.TruthN,
			Extent: extent(cfg.SourceGrid()), ColorBar: true})
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
	panels = append(panels, Panel{Title: title, Data: obs.Data, N: obs.N, Extent: extent(img), ColorBar: true})
	return Render(path, panels, len(panels), 200)
}
