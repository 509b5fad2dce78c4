package lens

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const goodLens = `{
  "lens":   [{"type":"sie","theta_e":1.2,"q":0.75,"phi":30,"x0":0.05,"y0":-0.02},
             {"type":"shear","gamma1":0.03,"gamma2":-0.01}],
  "source": {"pixels":64,"fov":3.0,"x0":0,"y0":0},
  "image":  {"pixels":64,"fov":6.0,"supersample":2},
  "psf":    {"type":"gaussian","fwhm":0.08},
  "noise":  {"sigma":0.01}
}`

func TestParseConfigSpecExample(t *testing.T) {
	c, err := ParseConfig([]byte(goodLens), "dir/lens.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Lens) != 2 || c.Lens[0].SIE != (SIE{ThetaE: 1.2, Q: 0.75, Phi: 30, X0: 0.05, Y0: -0.02}) ||
		c.Lens[1].Shear != (Shear{Gamma1: 0.03, Gamma2: -0.01}) {
		t.Errorf("lens: %+v", c.Lens)
	}
	if g := c.SourceGrid(); g != (Grid{N: 64, Scale: 3.0 / 64}) {
		t.Errorf("source grid %+v", g)
	}
	if g := c.ImageGrid(); g != (Grid{N: 64, Scale: 6.0 / 64}) || c.Supersample() != 2 {
		t.Errorf("image grid %+v k=%d", g, c.Supersample())
	}
	if c.PSF == nil || c.PSF.FWHM != 0.08 || c.Noise == nil || c.Noise.Sigma != 0.01 {
		t.Errorf("psf %+v noise %+v", c.PSF, c.Noise)
	}
	if string(c.Raw) != goodLens || len(c.LensHash()) != 64 {
		t.Errorf("raw bytes not kept")
	}
	// the committed example file is SPEC §4's
	data, err := os.ReadFile("../testdata/lens-example.json")
	if err != nil {
		t.Skipf("no ../testdata/lens-example.json: %v", err)
	}
	if _, err := ParseConfig(data, "lens-example.json"); err != nil {
		t.Error(err)
	}
}

func TestParseConfigPathsAndDefaults(t *testing.T) {
	c, err := ParseConfig([]byte(`{"lens":[{"type":"map","path":"alpha.fits"},{"type":"shear","gamma1":0,"gamma2":0.1}],
		"source":{"pixels":8,"fov":1},"image":{"pixels":8,"fov":2},
		"psf":{"type":"fits","path":"/abs/psf.fits"},
		"noise":{"sigma_map":"sub/sigma.fits","mask":"mask.fits"}}`), filepath.Join("obs", "run", "lens.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join("obs", "run", "alpha.fits"), "/abs/psf.fits", filepath.Join("obs", "run", "sub", "sigma.fits"), filepath.Join("obs", "run", "mask.fits")}
	got := []string{c.Lens[0].Path, c.PSF.Path, c.Noise.SigmaMap, c.Noise.Mask}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("path %d = %q, want %q", i, got[i], want[i])
		}
	}
	if c.Supersample() != 1 || c.Source.X0 != 0 || c.Lens[1].Shear.X0 != 0 {
		t.Errorf("defaults: k=%d %+v", c.Supersample(), c.Lens[1])
	}
}

// TestParseConfigErrors: every bad file is refused with one line that names the file
// and the field.
func TestParseConfigErrors(t *testing.T) {
	src := `"source":{"pixels":16,"fov":3}`
	img := `"image":{"pixels":16,"fov":6,"supersample":2}`
	sie := `{"type":"sie","theta_e":1.2,"q":0.75,"phi":30}`
	withLens := func(l string) string { return `{"lens":[` + l + `],` + src + `,` + img + `}` }
	with := func(extra string) string { return `{"lens":[` + sie + `],` + src + `,` + img + `,` + extra + `}` }
	cases := []struct{ name, js, want string }{
		{"unknown type", withLens(`{"type":"nfw","theta_e":1}`), `lens.json: lens[0]: unknown lens type "nfw"`},
		{"type typo", withLens(`{"type":"sei","theta_e":1,"q":1,"phi":0}`), `unknown lens type "sei" (did you mean "sie"?)`},
		{"missing type", withLens(`{"theta_e":1}`), `lens[0]: missing required key "type"`},
		{"negative theta_e", withLens(`{"type":"sie","theta_e":-1,"q":0.5,"phi":0}`), `lens[0] (sie): theta_e = -1: must be > 0`},
		{"zero theta_e", withLens(`{"type":"sie","theta_e":0,"q":0.5,"phi":0}`), `theta_e = 0: must be > 0`},
		{"q > 1", withLens(`{"type":"sie","theta_e":1,"q":1.3,"phi":0}`), `lens[0] (sie): q = 1.3: must be in (0, 1]`},
		{"q = 0", withLens(`{"type":"sie","theta_e":1,"q":0,"phi":0}`), `q = 0: must be in (0, 1]`},
		{"q negative", withLens(`{"type":"sie","theta_e":1,"q":-0.5,"phi":0}`), `q = -0.5`},
		{"missing q", withLens(`{"type":"sie","theta_e":1,"phi":0}`), `lens[0] (sie): missing required key "q"`},
		{"missing phi", withLens(`{"type":"sie","theta_e":1,"q":0.5}`), `missing required key "phi"`},
		{"key typo", withLens(`{"type":"sie","theta_E":1.2,"q":0.75,"phi":30}`), `lens.json: lens[0] (sie): unknown key "theta_E" (did you mean "theta_e"?)`},
		{"key typo 2", withLens(`{"type":"sie","theta_e":1.2,"q":0.75,"phi":30,"xo":0}`), `unknown key "xo" (did you mean "x0"?)`},
		{"unrelated key", withLens(`{"type":"sie","theta_e":1.2,"q":0.75,"phi":30,"velocity_dispersion":250}`), `unknown key "velocity_dispersion" (valid keys:`},
		{"shear typo", withLens(`{"type":"shear","gamma_1":0.1,"gamma2":0}`), `lens[0] (shear): unknown key "gamma_1" (did you mean "gamma1"?)`},
		{"shear missing", withLens(`{"type":"shear","gamma1":0.1}`), `missing required key "gamma2"`},
		{"map missing path", withLens(`{"type":"map"}`), `lens[0] (map): missing required key "path"`},
		{"map empty path", withLens(`{"type":"map","path":""}`), `path: must not be empty`},
		{"string number", withLens(`{"type":"sie","theta_e":"1.2","q":0.75,"phi":30}`), `theta_e: want a number, got a string "1.2"`},
		{"bool number", withLens(`{"type":"sie","theta_e":true,"q":0.75,"phi":30}`), `theta_e: want a number, got a boolean`},
		{"null number", withLens(`{"type":"sie","theta_e":null,"q":0.75,"phi":30}`), `theta_e: want a number, got null`},
		{"overflow", withLens(`{"type":"sie","theta_e":1e999,"q":0.75,"phi":30}`), `theta_e: number 1e999 is not a finite float64`},
		{"type not string", withLens(`{"type":3}`), `type: want a string`},
		{"component not object", withLens(`"sie"`), `lens[0]: want an object`},
		{"duplicate key", withLens(`{"type":"sie","theta_e":1.2,"q":0.75,"q":0.5,"phi":30}`), `duplicate key "q"`},
		{"empty lens", withLens(``), `lens: must list at least one component`},
		{"lens not array", `{"lens":{"type":"sie"},` + src + `,` + img + `}`, `lens: want an array`},
		{"missing lens", `{` + src + `,` + img + `}`, `lens.json: missing required key "lens"`},
		{"missing source", `{"lens":[` + sie + `],` + img + `}`, `missing required key "source"`},
		{"top-level typo", `{"lens":[` + sie + `],` + src + `,` + img + `,"nosie":{"sigma":1}}`, `unknown key "nosie" (did you mean "noise"?)`},
		{"pixels < 2", `{"lens":[` + sie + `],"source":{"pixels":1,"fov":3},` + img + `}`, `source: pixels = 1: must be ≥ 2`},
		{"pixels fractional", `{"lens":[` + sie + `],"source":{"pixels":16.5,"fov":3},` + img + `}`, `source: pixels: want an integer`},
		{"fov 0", `{"lens":[` + sie + `],` + src + `,"image":{"pixels":16,"fov":0}}`, `image: fov = 0: must be > 0`},
		{"fov negative", `{"lens":[` + sie + `],"source":{"pixels":16,"fov":-3},` + img + `}`, `source: fov = -3`},
		{"supersample 0", `{"lens":[` + sie + `],` + src + `,"image":{"pixels":16,"fov":6,"supersample":0}}`, `image: supersample = 0: must be ≥ 1`},
		{"image missing fov", `{"lens":[` + sie + `],` + src + `,"image":{"pixels":16}}`, `image: missing required key "fov"`},
		{"image centre", `{"lens":[` + sie + `],` + src + `,"image":{"pixels":16,"fov":6,"x0":1}}`, `image: unknown key "x0"`},
		{"psf unknown type", with(`"psf":{"type":"moffat","fwhm":0.1}`), `psf: unknown psf type "moffat"`},
		{"psf missing fwhm", with(`"psf":{"type":"gaussian"}`), `psf (gaussian): missing required key "fwhm"`},
		{"psf negative fwhm", with(`"psf":{"type":"gaussian","fwhm":-0.1}`), `fwhm = -0.1: must be > 0`},
		{"psf even size", with(`"psf":{"type":"gaussian","fwhm":0.1,"size":4}`), `psf (gaussian): size = 4: must be a positive odd number`},
		{"psf negative size", with(`"psf":{"type":"gaussian","fwhm":0.1,"size":-3}`), `size = -3: must be a positive odd`},
		{"psf fits no path", with(`"psf":{"type":"fits"}`), `psf (fits): missing required key "path"`},
		{"noise both", with(`"noise":{"sigma":0.1,"sigma_map":"s.fits"}`), `noise: give exactly one of`},
		{"noise none", with(`"noise":{}`), `noise: give exactly one of`},
		{"noise negative", with(`"noise":{"sigma":-0.1}`), `noise: sigma = -0.1: must be > 0`},
		{"noise typo", with(`"noise":{"sigam":0.1}`), `noise: unknown key "sigam" (did you mean "sigma"?)`},
		{"syntax error", "{\n \"lens\": [,]\n}", `lens.json:2:`},
		{"truncated", `{"lens":[`, `invalid JSON`},
		{"trailing data", withLens(sie) + `{}`, `extra data after the top-level object`},
		{"not an object", `[1,2]`, `want an object`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(c.js), "/some/where/lens.json")
			if err == nil {
				t.Fatalf("accepted %s", c.js)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) || !strings.HasPrefix(msg, "lens.json") || strings.Contains(msg, "\n") {
				t.Errorf("error %q, want one line starting lens.json and containing %q", msg, c.want)
			}
		})
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	_, err := LoadConfig(filepath.Join(t.TempDir(), "nope.json"))
	if err == nil || !strings.Contains(err.Error(), "nope.json") {
		t.Errorf("error %v", err)
	}
}
