package lens

import (
	"fmt"
)

// Deflector returns the lens of the configuration: the sum of its components, with
// deflection maps read from their files. A map is read from the FITS image HDUs ALPHA_X
// and ALPHA_Y (arcsec). Accepted sizes: m×m for any m ≥ 2 spanning the image field of view
// (pixel centres per SPEC §2 with scale image.fov/m, centred at the origin). The intended
// size is the supersampled image grid, m = pixels·supersample, where the ray positions are
// exactly the tabulated centres and the map is used as it is; any other size (for example
// the observed grid, m = pixels) is interpolated bilinearly between its centres and
// extrapolated linearly for the rays within half a map pixel of the edge. If the HDUs carry
// PIXSCALE it must equal image.fov/m.
func (c *Config) Deflector() (Deflector, error) {
	var sum Sum
	for n, comp := range c.Lens {
		switch comp.Type {
		case "sie":
			sum = append(sum, comp.SIE)
		case "shear":
			sum = append(sum, comp.Shear)
		case "map":
			m, err := c.readDeflectionMap(comp.Path)
			if err != nil {
				return nil, fmt.Errorf("%s: lens[%d] (map): %w", c.base(), n, err)
			}
			sum = append(sum, m)
		default:
			panic("lens: unknown component type " + comp.Type)
		}
	}
	if len(sum) == 1 {
		return sum[0], nil
	}
	return sum, nil
}
