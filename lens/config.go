package lens

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// Config is a lens configuration, the --lens file of SPEC §4:
//
//	{
//	  "lens":   [{"type":"sie","theta_e":1.2,"q":0.75,"phi":30,"x0":0.05,"y0":-0.02},
//	             {"type":"shear","gamma1":0.03,"gamma2":-0.01}],
//	  "source": {"pixels":64,"fov":3.0,"x0":0,"y0":0},
//	  "image":  {"pixels":64,"fov":6.0,"supersample":2},
//	  "psf":    {"type":"gaussian","fwhm":0.08},
//	  "noise":  {"sigma":0.01}
//	}
//
// Keys (angles in arcsec, position angles in degrees CCW from +x; * = required):
//
//	lens*      non-empty array of components whose deflections add:
//	  {"type":"sie", "theta_e"* > 0, "q"* in (0,1], "phi"*, "x0", "y0"}   centre defaults to (0,0)
//	  {"type":"shear", "gamma1"*, "gamma2"*, "x0", "y0"}                   origin defaults to (0,0)
//	  {"type":"map", "path"*}   FITS file with image HDUs ALPHA_X and ALPHA_Y (arcsec); see
//	                            Config.Deflector for the sizes accepted
//	source*    {"pixels"* ≥ 2, "fov"* > 0, "x0", "y0"}   the source grid; centre defaults to (0,0)
//	image*     {"pixels"* ≥ 2, "fov"* > 0, "supersample" ≥ 1 (default 1)}   centred on (0,0)
//	psf        optional; {"type":"gaussian", "fwhm"* > 0, "size"} with size the odd kernel
//	           width in pixels (default 2·ceil(4σ/pixel)+1, σ = fwhm/2.3548), each kernel
//	           pixel the Gaussian integrated over the pixel; or {"type":"fits", "path"*}, an
//	           odd-sized kernel at the observed pixel scale (first image HDU), non-negative,
//	           renormalised to sum 1
//	noise      optional (simulate needs it): exactly one of "sigma" (> 0, the same σ for
//	           every pixel) or "sigma_map" (FITS image, no×no, per-pixel σ > 0), and
//	           optionally "mask" (FITS image, no×no, non-zero = use the pixel, 0 = ignore)
//
// Paths are relative to the directory of the configuration file. Unknown keys, missing
// required keys, duplicate keys, wrong JSON types and out-of-range values are errors that
// name the file and the field.
type Config struct {
	Name   string      // the file name used in messages (as given to LoadConfig/ParseConfig)
	Dir    string      // directory that relative paths are resolved against
	Lens   []Component // the lens components, in file order
	Source GridSpec    // the source grid
	Image  ImageSpec   // the observed image
	PSF    *PSFSpec    // nil when there is no PSF
	Noise  *NoiseSpec  // nil when the file has no noise section
	Raw    []byte      // the file's bytes, for hashing
}

// Component is one entry of "lens". Exactly one of SIE, Shear, Path is meaningful,
// according to Type ("sie", "shear", "map").
type Component struct {
	Type  string
	SIE   SIE
	Shear Shear
	Path  string // deflection-map FITS file, resolved against Config.Dir
}

// GridSpec is the source section: Pixels a side over FOV arcsec centred at (X0, Y0).
type GridSpec struct {
	Pixels int
	FOV    float64 // arcsec, edge to edge
	X0, Y0 float64 // arcsec
}

// ImageSpec is the image section: Pixels a side over FOV arcsec centred at (0, 0), each
// pixel the mean of Supersample×Supersample rays.
type ImageSpec struct {
	Pixels      int
	FOV         float64 // arcsec, edge to edge
	Supersample int
}

// PSFSpec is the psf section.
type PSFSpec struct {
	Type string  // "gaussian" or "fits"
	FWHM float64 // arcsec (gaussian)
	Size int     // odd kernel width in pixels (gaussian); 0 = automatic
	Path string  // kernel FITS file (fits), resolved against Config.Dir
}

// NoiseSpec is the noise section: either a scalar Sigma or a per-pixel SigmaMap file, and
// an optional Mask file (non-zero = use).
type NoiseSpec struct {
	Sigma    float64 // same σ for all pixels (0 when SigmaMap is used)
	SigmaMap string  // FITS file, resolved against Config.Dir; "" when Sigma is used
	Mask     string  // FITS file, resolved against Config.Dir; "" = use every pixel
}

// SourceGrid returns the source-plane grid.
func (c *Config) SourceGrid() Grid {
	return NewGrid(c.Source.Pixels, c.Source.FOV, c.Source.X0, c.Source.Y0)
}

// ImageGrid returns the observed image grid (centred at the origin).
func (c *Config) ImageGrid() Grid { return NewGrid(c.Image.Pixels, c.Image.FOV, 0, 0) }

// Supersample returns k, the number of rays per pixel side.
func (c *Config) Supersample() int { return c.Image.Supersample }

// LoadConfig reads and validates the lens configuration file at path.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("could not read lens file: %w", err)
	}
	return ParseConfig(data, path)
}

// ParseConfig validates a lens configuration. name is the file it came from: it is used
// in messages, and relative paths inside the configuration are resolved against its
// directory.
func ParseConfig(data []byte, name string) (*Config, error) {
	c := &Config{Name: name, Dir: filepath.Dir(name), Raw: append([]byte(nil), data...)}
	p := &parser{name: filepath.Base(name), data: data}
	if name == "" {
		p.name = "lens configuration"
		c.Dir = "."
	}
	if err := p.parse(c); err != nil {
		return nil, err
	}
	return c, nil
}

// parser reads one configuration; every error names the file and the field.
type parser struct {
	name string
	data []byte
}

// field is one key of a JSON object with its raw value.
type field struct {
	key string
	raw json.RawMessage
}

// object is a JSON object read key by key, so that duplicate keys are seen.
type object struct {
	path   string // field path for messages, e.g. "lens[0] (sie)"
	fields map[string]json.RawMessage
	order  []string
}

func (p *parser) errorf(path, format string, args ...any) error {
	if path == "" {
		return fmt.Errorf("%s: %s", p.name, fmt.Sprintf(format, args...))
	}
	return fmt.Errorf("%s: %s: %s", p.name, path, fmt.Sprintf(format, args...))
}

// syntax converts a JSON decoding error into a message with line and column.
func (p *parser) syntax(err error, raw []byte, base int64) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := lineCol(p.data, base+se.Offset)
		return fmt.Errorf("%s:%d:%d: invalid JSON: %v", p.name, line, col, se)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: invalid JSON: unexpected end of file", p.name)
	}
	return fmt.Errorf("%s: invalid JSON: %v", p.name, err)
}

func lineCol(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off < 0 {
		off = 0
	}
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1)
	if col < 1 {
		col = 1
	}
	return line, col
}

// readObject parses raw as a JSON object, refusing duplicate keys.
func (p *parser) readObject(raw json.RawMessage, path string) (*object, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, p.errorf(path, "invalid JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, p.errorf(path, "want an object {...}, got %s", jsonKind(raw))
	}
	o := &object{path: path, fields: map[string]json.RawMessage{}}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, p.errorf(path, "invalid JSON: %v", err)
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, p.errorf(path, "invalid JSON after key %q: %v", key, err)
		}
		if _, dup := o.fields[key]; dup {
			return nil, p.errorf(path, "duplicate key %q", key)
		}
		o.fields[key] = v
		o.order = append(o.order, key)
	}
	return o, nil
}

// checkKeys refuses keys outside allowed (suggesting the nearest) and missing required keys.
func (p *parser) checkKeys(o *object, allowed []string, required ...string) error {
	for _, k := range o.order {
		ok := false
		for _, a := range allowed {
			if k == a {
				ok = true
				break
			}
		}
		if ok {
			continue
		}
		if s := nearest(k, allowed); s != "" {
			return p.errorf(o.path, "unknown key %q (did you mean %q?)", k, s)
		}
		return p.errorf(o.path, "unknown key %q (valid keys: %s)", k, strings.Join(allowed, ", "))
	}
	for _, r := range required {
		if _, ok := o.fields[r]; !ok {
			return p.errorf(o.path, "missing required key %q", r)
		}
	}
	return nil
}

// nearest returns the allowed key closest to k, if it is close enough to be a typo.
func nearest(k string, allowed []string) string {
	best, bestD := "", 1<<30
	lk := strings.ToLower(k)
	for _, a := range allowed {
		d := levenshtein(lk, a)
		if d < bestD {
			best, bestD = a, d
		}
	}
	limit := 2
	if len(k) <= 3 {
		limit = 1
	}
	if bestD <= limit || strings.EqualFold(k, best) {
		return best
	}
	return ""
}

// levenshtein returns the optimal-string-alignment distance between a and b: edits are
// insertions, deletions, substitutions and transpositions of adjacent characters.
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

func jsonKind(raw json.RawMessage) string {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return "nothing"
	}
	switch t[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string " + string(t)
	case 't', 'f':
		return "a boolean " + string(t)
	case 'n':
		return "null"
	default:
		return "a number " + string(t)
	}
}

// number reads a finite number; def is used when the key is absent.
func (p *parser) number(o *object, key string, def float64) (float64, error) {
	raw, ok := o.fields[key]
	if !ok {
		return def, nil
	}
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || !(t[0] == '-' || (t[0] >= '0' && t[0] <= '9')) {
		return 0, p.errorf(o.path, "%s: want a number, got %s", key, jsonKind(raw))
	}
	var v float64
	if err := json.Unmarshal(t, &v); err != nil || !finite(v) {
		return 0, p.errorf(o.path, "%s: number %s is not a finite float64", key, t)
	}
	return v, nil
}

// integer reads an integral number; def is used when the key is absent.
func (p *parser) integer(o *object, key string, def int) (int, error) {
	if _, ok := o.fields[key]; !ok {
		return def, nil
	}
	v, err := p.number(o, key, 0)
	if err != nil {
		return 0, err
	}
	if v != math.Trunc(v) || math.Abs(v) > 1<<30 {
		return 0, p.errorf(o.path, "%s: want an integer, got %v", key, v)
	}
	return int(v), nil
}

// str reads a non-empty string.
func (p *parser) str(o *object, key string) (string, error) {
	raw, ok := o.fields[key]
	if !ok {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", p.errorf(o.path, "%s: want a string, got %s", key, jsonKind(raw))
	}
	if strings.TrimSpace(s) == "" {
		return "", p.errorf(o.path, "%s: must not be empty", key)
	}
	return s, nil
}

func (p *parser) resolve(dir, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

func (p *parser) parse(c *Config) error {
	dec := json.NewDecoder(bytes.NewReader(p.data))
	var top json.RawMessage
	if err := dec.Decode(&top); err != nil {
		return p.syntax(err, p.data, 0)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%s: invalid JSON: extra data after the top-level object", p.name)
	}
	root, err := p.readObject(top, "")
	if err != nil {
		return err
	}
	if err := p.checkKeys(root, []string{"lens", "source", "image", "psf", "noise"}, "lens", "source", "image"); err != nil {
		return err
	}
	if err := p.parseLens(c, root.fields["lens"]); err != nil {
		return err
	}
	if err := p.parseSource(c, root.fields["source"]); err != nil {
		return err
	}
	if err := p.parseImage(c, root.fields["image"]); err != nil {
		return err
	}
	if raw, ok := root.fields["psf"]; ok {
		if err := p.parsePSF(c, raw); err != nil {
			return err
		}
	}
	if raw, ok := root.fields["noise"]; ok {
		if err := p.parseNoise(c, raw); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) parseLens(c *Config, raw json.RawMessage) error {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '[' {
		return p.errorf("lens", "want an array of lens components, got %s", jsonKind(raw))
	}
	var items []json.RawMessage
	if err := json.Unmarshal(t, &items); err != nil {
		return p.errorf("lens", "invalid JSON: %v", err)
	}
	if len(items) == 0 {
		return p.errorf("lens", "must list at least one component")
	}
	types := []string{"sie", "shear", "map"}
	for n, item := range items {
		path := fmt.Sprintf("lens[%d]", n)
		o, err := p.readObject(item, path)
		if err != nil {
			return err
		}
		if _, ok := o.fields["type"]; !ok {
			return p.errorf(path, "missing required key \"type\" (one of %s)", strings.Join(types, ", "))
		}
		typ, err := p.str(o, "type")
		if err != nil {
			return err
		}
		o.path = fmt.Sprintf("lens[%d] (%s)", n, typ)
		comp := Component{Type: typ}
		switch typ {
		case "sie":
			if err := p.checkKeys(o, []string{"type", "theta_e", "q", "phi", "x0", "y0"}, "theta_e", "q", "phi"); err != nil {
				return err
			}
			s := &comp.SIE
			if s.ThetaE, err = p.number(o, "theta_e", 0); err != nil {
				return err
			}
			if s.ThetaE <= 0 {
				return p.errorf(o.path, "theta_e = %v: must be > 0 (arcsec)", s.ThetaE)
			}
			if s.Q, err = p.number(o, "q", 0); err != nil {
				return err
			}
			if !(s.Q > 0 && s.Q <= 1) {
				return p.errorf(o.path, "q = %v: must be in (0, 1] (minor/major axis ratio; rotate phi by 90 instead of using q > 1)", s.Q)
			}
			if s.Phi, err = p.number(o, "phi", 0); err != nil {
				return err
			}
			if s.X0, err = p.number(o, "x0", 0); err != nil {
				return err
			}
			if s.Y0, err = p.number(o, "y0", 0); err != nil {
				return err
			}
		case "shear":
			if err := p.checkKeys(o, []string{"type", "gamma1", "gamma2", "x0", "y0"}, "gamma1", "gamma2"); err != nil {
				return err
			}
			s := &comp.Shear
			if s.Gamma1, err = p.number(o, "gamma1", 0); err != nil {
				return err
			}
			if s.Gamma2, err = p.number(o, "gamma2", 0); err != nil {
				return err
			}
			if s.X0, err = p.number(o, "x0", 0); err != nil {
				return err
			}
			if s.Y0, err = p.number(o, "y0", 0); err != nil {
				return err
			}
		case "map":
			if err := p.checkKeys(o, []string{"type", "path"}, "path"); err != nil {
				return err
			}
			path, err := p.str(o, "path")
			if err != nil {
				return err
			}
			comp.Path = p.resolve(c.Dir, path)
		default:
			msg := fmt.Sprintf("unknown lens type %q (one of %s)", typ, strings.Join(types, ", "))
			if s := nearest(typ, types); s != "" {
				msg = fmt.Sprintf("unknown lens type %q (did you mean %q?)", typ, s)
			}
			return p.errorf(path, "%s", msg)
		}
		c.Lens = append(c.Lens, comp)
	}
	return nil
}

func (p *parser) parseSource(c *Config, raw json.RawMessage) error {
	o, err := p.readObject(raw, "source")
	if err != nil {
		return err
	}
	if err := p.checkKeys(o, []string{"pixels", "fov", "x0", "y0"}, "pixels", "fov"); err != nil {
		return err
	}
	s := &c.Source
	if s.Pixels, err = p.integer(o, "pixels", 0); err != nil {
		return err
	}
	if s.Pixels < 2 {
		return p.errorf("source", "pixels = %d: must be ≥ 2", s.Pixels)
	}
	if s.FOV, err = p.number(o, "fov", 0); err != nil {
		return err
	}
	if s.FOV <= 0 {
		return p.errorf("source", "fov = %v: must be > 0 (arcsec)", s.FOV)
	}
	if s.X0, err = p.number(o, "x0", 0); err != nil {
		return err
	}
	if s.Y0, err = p.number(o, "y0", 0); err != nil {
		return err
	}
	return nil
}

func (p *parser) parseImage(c *Config, raw json.RawMessage) error {
	o, err := p.readObject(raw, "image")
	if err != nil {
		return err
	}
	if err := p.checkKeys(o, []string{"pixels", "fov", "supersample"}, "pixels", "fov"); err != nil {
		return err
	}
	im := &c.Image
	if im.Pixels, err = p.integer(o, "pixels", 0); err != nil {
		return err
	}
	if im.Pixels < 2 {
		return p.errorf("image", "pixels = %d: must be ≥ 2", im.Pixels)
	}
	if im.FOV, err = p.number(o, "fov", 0); err != nil {
		return err
	}
	if im.FOV <= 0 {
		return p.errorf("image", "fov = %v: must be > 0 (arcsec)", im.FOV)
	}
	if im.Supersample, err = p.integer(o, "supersample", 1); err != nil {
		return err
	}
	if im.Supersample < 1 {
		return p.errorf("image", "supersample = %d: must be ≥ 1", im.Supersample)
	}
	if im.Supersample > 64 || im.Pixels*im.Supersample > 1<<14 {
		return p.errorf("image", "pixels×supersample = %d×%d is too large (at most 16384 rays a side, supersample ≤ 64)", im.Pixels, im.Supersample)
	}
	return nil
}

func (p *parser) parsePSF(c *Config, raw json.RawMessage) error {
	o, err := p.readObject(raw, "psf")
	if err != nil {
		return err
	}
	if _, ok := o.fields["type"]; !ok {
		return p.errorf("psf", "missing required key \"type\" (gaussian or fits)")
	}
	typ, err := p.str(o, "type")
	if err != nil {
		return err
	}
	o.path = fmt.Sprintf("psf (%s)", typ)
	ps := &PSFSpec{Type: typ}
	switch typ {
	case "gaussian":
		if err := p.checkKeys(o, []string{"type", "fwhm", "size"}, "fwhm"); err != nil {
			return err
		}
		if ps.FWHM, err = p.number(o, "fwhm", 0); err != nil {
			return err
		}
		if ps.FWHM <= 0 {
			return p.errorf(o.path, "fwhm = %v: must be > 0 (arcsec)", ps.FWHM)
		}
		if ps.Size, err = p.integer(o, "size", 0); err != nil {
			return err
		}
		if _, ok := o.fields["size"]; ok && (ps.Size < 1 || ps.Size%2 == 0) {
			return p.errorf(o.path, "size = %d: must be a positive odd number of pixels", ps.Size)
		}
		if ps.Size > 2*c.Image.Pixels+1 {
			return p.errorf(o.path, "size = %d: larger than twice the image (%d pixels)", ps.Size, c.Image.Pixels)
		}
	case "fits":
		if err := p.checkKeys(o, []string{"type", "path"}, "path"); err != nil {
			return err
		}
		path, err := p.str(o, "path")
		if err != nil {
			return err
		}
		ps.Path = p.resolve(c.Dir, path)
	default:
		types := []string{"gaussian", "fits"}
		msg := fmt.Sprintf("unknown psf type %q (one of gaussian, fits)", typ)
		if s := nearest(typ, types); s != "" {
			msg = fmt.Sprintf("unknown psf type %q (did you mean %q?)", typ, s)
		}
		return p.errorf("psf", "%s", msg)
	}
	c.PSF = ps
	return nil
}

func (p *parser) parseNoise(c *Config, raw json.RawMessage) error {
	o, err := p.readObject(raw, "noise")
	if err != nil {
		return err
	}
	if err := p.checkKeys(o, []string{"sigma", "sigma_map", "mask"}); err != nil {
		return err
	}
	_, hasS := o.fields["sigma"]
	_, hasM := o.fields["sigma_map"]
	if hasS == hasM {
		return p.errorf("noise", "give exactly one of \"sigma\" (a number) and \"sigma_map\" (a FITS file)")
	}
	n := &NoiseSpec{}
	if hasS {
		if n.Sigma, err = p.number(o, "sigma", 0); err != nil {
			return err
		}
		if n.Sigma <= 0 {
			return p.errorf("noise", "sigma = %v: must be > 0", n.Sigma)
		}
	} else {
		s, err := p.str(o, "sigma_map")
		if err != nil {
			return err
		}
		n.SigmaMap = p.resolve(c.Dir, s)
	}
	if _, ok := o.fields["mask"]; ok {
		s, err := p.str(o, "mask")
		if err != nil {
			return err
		}
		n.Mask = p.resolve(c.Dir, s)
	}
	c.Noise = n
	return nil
}
