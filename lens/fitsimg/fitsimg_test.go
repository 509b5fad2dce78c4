package fitsimg

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// physical is the value every golden image holds at column i, row j (see
// scripts/make-fits-golden.py).
func physical(i, j int) float64 { return 10*float64(j) + float64(i) - 7 }

func TestReadAstropyBitpix(t *testing.T) {
	for _, bitpix := range []string{"8", "16", "32", "64", "-32", "-64"} {
		t.Run(bitpix, func(t *testing.T) {
			im, err := ReadImage(filepath.Join("testdata", "astropy-bitpix"+bitpix+".fits"), "IMG")
			if err != nil {
				t.Fatal(err)
			}
			if len(im.Axes) != 2 || im.Axes[0] != 5 || im.Axes[1] != 4 {
				t.Fatalf("axes %v, want [5 4]", im.Axes)
			}
			for j := 0; j < 4; j++ {
				for i := 0; i < 5; i++ {
					// Exact: every value and scale factor is a dyadic rational.
					if got, want := im.Data[j*5+i], physical(i, j); got != want {
						t.Errorf("(%d,%d) = %v, want %v", i, j, got, want)
					}
				}
			}
			if v, ok := im.Header.Float("PIXSCALE"); !ok || v != 0.05 {
				t.Errorf("PIXSCALE = %v, %v", v, ok)
			}
			if s, ok := im.Header.String("OBJECT"); !ok || s != "golden" {
				t.Errorf("OBJECT = %q, %v", s, ok)
			}
			if _, ok := im.Header.Get("BSCALE"); ok {
				t.Errorf("BSCALE kept in the header after being applied")
			}
		})
	}
}

func TestReadAstropyCubeAndTable(t *testing.T) {
	path := filepath.Join("testdata", "astropy-cube-table.fits")
	names, err := Names(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != ",CUBE,CATALOG" {
		t.Fatalf("names %q", names)
	}
	cube, err := ReadImage(path, "cube")
	if err != nil {
		t.Fatal(err)
	}
	if cube.Depth() != 3 || cube.Axes[0] != 5 || cube.Axes[1] != 4 {
		t.Fatalf("axes %v", cube.Axes)
	}
	if p := cube.Plane(2); p[0] != 40 || p[19] != 59 {
		t.Errorf("plane 2 = %v", p)
	}
	first, err := ReadImage(path, "")
	if err != nil || first.Name != "CUBE" {
		t.Fatalf("first image with data: %v, %v", first, err)
	}
	tab, err := ReadTable(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if tab.Name != "CATALOG" || tab.Rows() != 3 {
		t.Fatalf("table %q with %d rows", tab.Name, tab.Rows())
	}
	files, _ := tab.Column("gal_filename")
	if got := files.Data.([]string); got[2] != "ccc.fits" {
		t.Errorf("GAL_FILENAME = %q", got)
	}
	hdus, _ := tab.Column("GAL_HDU")
	if got := hdus.Data.([]int32); got[1] != 1 {
		t.Errorf("GAL_HDU = %v", got)
	}
	ids, _ := tab.Column("IDENT")
	if got := ids.Data.([]int64); got[2] != 303 {
		t.Errorf("IDENT = %v", got)
	}
	mag, _ := tab.Column("MAG")
	if f, ok := mag.Float(); !ok || f[1] != 22.25 {
		t.Errorf("MAG = %v", f)
	}
	if _, err := ReadImage(path, "CATALOG"); err == nil || !strings.Contains(err.Error(), "not an image") {
		t.Errorf("reading a table as an image: %v", err)
	}
	if _, err := ReadImage(path, "NOPE"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing HDU: %v", err)
	}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	// Values representable in every BITPIX's range, so integer types round-trip exactly.
	data := []float64{0, 1, 2, 3, 4, 5, 100, 127, 200, 255, 17, 42}
	for _, bitpix := range []int{8, 16, 32, 64, -32, -64} {
		im := NewImage("OBS", append([]float64(nil), data...), 3, 2, 2)
		im.BitPix = bitpix
		im.Header.Set("SEED", 42, "random seed")
		im.Header.Set("PIXSCALE", 0.09375, "arcsec")
		im.Header.Set("MODEL", "model.onnx", "")
		im.Header.Set("DENOISE", true, "")
		im.Header.Add("HISTORY", "made by a test", "")
		tab := &Table{Name: "A", Columns: []Column{
			{Name: "ROW", Data: []int64{0, 1, 2}},
			{Name: "COL", Data: []int32{5, 6, 7}},
			{Name: "VAL", Unit: "1", Data: []float64{0.25, -1e-300, math.Pi}},
			{Name: "OK", Data: []bool{true, false, true}},
			{Name: "NAME", Data: []string{"a", "", "ccc"}},
		}}
		tab.Header.Set("NOBS", 9, "")
		path := filepath.Join(dir, "rt.fits")
		noise := NewImage("NOISE", []float64{1.5, 2.5}, 2)
		noise.BitPix = -64
		if err := Write(path, im, noise, tab); err != nil {
			t.Fatalf("bitpix %d: %v", bitpix, err)
		}
		got, err := ReadImage(path, "OBS")
		if err != nil {
			t.Fatalf("bitpix %d: %v", bitpix, err)
		}
		if got.BitPix != bitpix || len(got.Axes) != 3 || got.Axes[2] != 2 {
			t.Fatalf("bitpix %d: read BITPIX %d axes %v", bitpix, got.BitPix, got.Axes)
		}
		for k := range data {
			if got.Data[k] != data[k] {
				t.Errorf("bitpix %d: [%d] = %v, want %v", bitpix, k, got.Data[k], data[k])
			}
		}
		if s, _ := got.Header.Int("SEED"); s != 42 {
			t.Errorf("SEED = %v", s)
		}
		if v, _ := got.Header.Float("PIXSCALE"); v != 0.09375 {
			t.Errorf("PIXSCALE = %v", v)
		}
		if v, _ := got.Header.Bool("DENOISE"); !v {
			t.Errorf("DENOISE lost")
		}
		if v, _ := got.Header.String("HISTORY"); v != "made by a test" {
			t.Errorf("HISTORY = %q", v)
		}
		rt, err := ReadTable(path, "A")
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := rt.Header.Int("NOBS"); n != 9 {
			t.Errorf("NOBS = %v", n)
		}
		val, _ := rt.Column("VAL")
		if v := val.Data.([]float64); v[1] != -1e-300 || v[2] != math.Pi {
			t.Errorf("VAL = %v", v)
		}
		name, _ := rt.Column("NAME")
		if v := name.Data.([]string); v[0] != "a" || v[1] != "" || v[2] != "ccc" {
			t.Errorf("NAME = %q", v)
		}
		okc, _ := rt.Column("OK")
		if v := okc.Data.([]bool); !v[0] || v[1] {
			t.Errorf("OK = %v", v)
		}
	}
}

func TestWriteFloat32Precision(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.fits")
	if err := Write(path, NewImage("X", []float64{1.0 / 3, 1e-7, -2.5e30}, 3)); err != nil {
		t.Fatal(err)
	}
	im, err := ReadImage(path, "X")
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range []float64{1.0 / 3, 1e-7, -2.5e30} {
		// BITPIX -32 keeps 24 bits of mantissa: relative error ≤ 2⁻²⁴.
		if math.Abs(im.Data[k]-want) > math.Abs(want)*0x1p-24 {
			t.Errorf("[%d] = %v, want %v", k, im.Data[k], want)
		}
	}
}

func TestTableFirstGetsEmptyPrimary(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.fits")
	if err := Write(path, &Table{Name: "A", Columns: []Column{{Name: "X", Data: []float64{1, 2}}}}); err != nil {
		t.Fatal(err)
	}
	names, err := Names(path)
	if err != nil || len(names) != 2 || names[1] != "A" {
		t.Fatalf("names %q, %v", names, err)
	}
	if _, err := ReadImage(path, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("a file with no image data: %v", err)
	}
}

func TestWriteIsAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keep.fits")
	if err := Write(path, NewImage("A", []float64{1, 2, 3, 4}, 2, 2)); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	// A value that does not fit BITPIX 8 fails half-way through encoding.
	bad := NewImage("A", []float64{1, 2, 300, 4}, 2, 2)
	bad.BitPix = 8
	if err := Write(path, bad); err == nil {
		t.Fatal("writing 300 as BITPIX 8 succeeded")
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("a failed write changed the existing file")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestCorruptFiles(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.fits")
	if err := Write(good, NewImage("OBS", make([]float64, 64*64), 64, 64), NewImage("NOISE", make([]float64, 64*64), 64, 64)); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(good)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, data, 0o644)
		return p
	}
	replaceCard := func(key, value string) []byte {
		c := bytes.Clone(b)
		i := bytes.Index(c, []byte(key))
		copy(c[i:i+80], []byte(value+strings.Repeat(" ", 80-len(value))))
		return c
	}
	cases := []struct {
		name string
		path string
		want string
	}{
		{"empty", write("empty.fits", nil), "empty file"},
		{"text", write("text.fits", []byte("hello, this is not FITS")), "not a FITS file"},
		{"truncated-header", write("th.fits", b[:1000]), "truncated header"},
		{"truncated-data", write("td.fits", b[:2880+5000]), "HDU 0 (OBS): truncated data"},
		{"truncated-second", write("t2.fits", b[:len(b)-2880*3]), "HDU 1 (NOISE): truncated data"},
		{"bad-bitpix", write("bb.fits", replaceCard("BITPIX", "BITPIX  =                   12")), "invalid BITPIX 12"},
		{"huge-naxis", write("hn.fits", replaceCard("NAXIS1", "NAXIS1  =        9999999999999")), "HDU 0 (OBS)"},
		{"negative-naxis", write("nn.fits", replaceCard("NAXIS2", "NAXIS2  =                  -64")), "negative NAXIS2"},
		{"missing", filepath.Join(dir, "nope.fits"), "no such file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadImage(c.path, "NOISE")
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) || !strings.Contains(msg, filepath.Base(c.path)) {
				t.Errorf("error %q does not name the file and %q", msg, c.want)
			}
		})
	}
}

// FuzzReadAll checks that no input makes the reader panic or hang; the seeds under
// testdata/fuzz/FuzzReadAll are corrupt files of the kinds TestCorruptFiles describes.
func FuzzReadAll(f *testing.F) {
	for _, name := range []string{"astropy-bitpix16.fits", "astropy-bitpix-32.fits", "astropy-cube-table.fits"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "fuzz.fits")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		hdus, err := ReadAll(path)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.fits") {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		for _, h := range hdus {
			if im, ok := h.(*Image); ok && len(im.Axes) > 0 {
				n := 1
				for _, a := range im.Axes {
					n *= a
				}
				if n != len(im.Data) {
					t.Errorf("image %q: %d values for axes %v", im.Name, len(im.Data), im.Axes)
				}
			}
		}
	})
}
