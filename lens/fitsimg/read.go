package fitsimg

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"strconv"
	"strings"

	"github.com/astrogo/fitsio"
)

// HDU is an image or a binary table: *Image or *Table.
type HDU interface {
	HDUName() string
}

// ErrNotFound is wrapped by the errors of ReadImage and ReadTable when no HDU matches.
var ErrNotFound = errors.New("no such HDU")

// file is a validated FITS file held in memory.
type file struct {
	path string
	b    []byte
	hdus []hduLayout
}

func open(path string) (*file, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("could not read %q: %w", path, err)
	}
	b, hdus, err := scan(b)
	if err != nil {
		return nil, fmt.Errorf("could not read %q: %w", path, err)
	}
	return &file{path: path, b: b, hdus: hdus}, nil
}

// decode parses HDU i with fitsio, turning any panic of the decoder into an error.
func (f *file) decode(i int) (hdu fitsio.HDU, err error) {
	l := &f.hdus[i]
	defer func() {
		if r := recover(); r != nil {
			hdu, err = nil, fmt.Errorf("could not read %q: %s: corrupt header: %v", f.path, l.label(), r)
		}
	}()
	hdu, err = fitsio.NewDecoder(bytes.NewReader(f.b[l.start:l.end])).DecodeHDU()
	if err != nil {
		return nil, fmt.Errorf("could not read %q: %s: %w", f.path, l.label(), err)
	}
	return hdu, nil
}

func (f *file) isImage(i int) bool {
	x := f.hdus[i].xtension
	return x == "" || x == "IMAGE"
}

func (f *file) image(i int) (*Image, error) {
	l := &f.hdus[i]
	if !f.isImage(i) {
		return nil, fmt.Errorf("could not read %q: %s is a %s, not an image", f.path, l.label(), l.xtension)
	}
	hdu, err := f.decode(i)
	if err != nil {
		return nil, err
	}
	im := &Image{Name: l.name, Axes: append([]int(nil), l.axes...), BitPix: l.bitpix}
	bscale, bzero := 1.0, 0.0
	var blank *int64
	for _, c := range hdu.Header().Keys() {
		card := hdu.Header().Get(c)
		switch card.Name {
		case "BSCALE":
			v, ok := number(card.Value)
			if !ok || v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("could not read %q: %s: invalid BSCALE %v", f.path, l.label(), card.Value)
			}
			bscale = v
		case "BZERO":
			v, ok := number(card.Value)
			if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("could not read %q: %s: invalid BZERO %v", f.path, l.label(), card.Value)
			}
			bzero = v
		case "BLANK":
			if v, ok := card.Value.(int); ok {
				b := int64(v)
				blank = &b
			}
		}
	}
	im.Header = headerFrom(hdu.Header(), f.b[l.start:l.end])
	n := 0
	if len(l.axes) > 0 {
		n = 1
		for _, a := range l.axes {
			n *= a
		}
	}
	raw := f.b[l.end-paddedLen(l.dataLen) : l.end-paddedLen(l.dataLen)+l.dataLen]
	im.Data = make([]float64, n)
	decodePixels(im.Data, raw, l.bitpix, bscale, bzero, blank)
	return im, nil
}

func paddedLen(n int) int { return (n + blockSize - 1) / blockSize * blockSize }

// decodePixels converts big-endian raw pixels to float64, applying BSCALE and BZERO and
// turning BLANK integers into NaN.
func decodePixels(dst []float64, raw []byte, bitpix int, bscale, bzero float64, blank *int64) {
	be := binary.BigEndian
	scaleInt := func(v int64) float64 {
		if blank != nil && v == *blank {
			return math.NaN()
		}
		return float64(v)*bscale + bzero
	}
	for k := range dst {
		switch bitpix {
		case 8:
			dst[k] = scaleInt(int64(raw[k]))
		case 16:
			dst[k] = scaleInt(int64(int16(be.Uint16(raw[2*k:]))))
		case 32:
			dst[k] = scaleInt(int64(int32(be.Uint32(raw[4*k:]))))
		case 64:
			dst[k] = scaleInt(int64(be.Uint64(raw[8*k:])))
		case -32:
			dst[k] = float64(math.Float32frombits(be.Uint32(raw[4*k:])))*bscale + bzero
		case -64:
			dst[k] = math.Float64frombits(be.Uint64(raw[8*k:]))*bscale + bzero
		}
	}
}

func number(v any) (float64, bool) {
	switch v := v.(type) {
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	case float64:
		return v, true
	case float32:
		return float64(v), true
	}
	return 0, false
}

// headerFrom collects the non-structural cards of an HDU: valued cards as fitsio parsed
// them, then COMMENT and HISTORY lines from the raw header (fitsio drops their text).
func headerFrom(h *fitsio.Header, raw []byte) Header {
	var out Header
	for _, key := range h.Keys() {
		c := h.Get(key)
		if c == nil || structural(c.Name) {
			continue
		}
		out.Cards = append(out.Cards, Card{Key: c.Name, Value: normValue(c.Value), Comment: c.Comment})
	}
	for off := 0; off+cardSize <= len(raw); off += cardSize {
		line := string(raw[off : off+cardSize])
		key := strings.TrimRight(line[:8], " ")
		if key == "END" {
			break
		}
		if key == "COMMENT" || key == "HISTORY" {
			out.Add(key, strings.TrimRight(line[8:], " "), "")
		}
	}
	return out
}

func (f *file) table(i int) (*Table, error) {
	l := &f.hdus[i]
	if l.xtension != "BINTABLE" && l.xtension != "TABLE" {
		kind := "an image"
		if l.xtension != "" && l.xtension != "IMAGE" {
			kind = "a " + l.xtension
		}
		return nil, fmt.Errorf("could not read %q: %s is %s, not a table", f.path, l.label(), kind)
	}
	hdu, err := f.decode(i)
	if err != nil {
		return nil, err
	}
	ft, ok := hdu.(*fitsio.Table)
	if !ok {
		return nil, fmt.Errorf("could not read %q: %s: not a table", f.path, l.label())
	}
	t, err := readTable(ft, f.b[l.start:l.end])
	if err != nil {
		return nil, fmt.Errorf("could not read %q: %s: %w", f.path, l.label(), err)
	}
	t.Name = l.name
	return t, nil
}

func readTable(ft *fitsio.Table, raw []byte) (t *Table, err error) {
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf("corrupt table: %v", r)
		}
	}()
	t = &Table{Header: headerFrom(ft.Header(), raw)}
	cols := ft.Cols()
	nrows := int(ft.NumRows())
	ptrs := make([]any, len(cols))
	vals := make([]reflect.Value, len(cols))
	for k := range cols {
		typ := cols[k].Type()
		if typ == nil {
			return nil, fmt.Errorf("column %q has an unsupported format %q", cols[k].Name, cols[k].Format)
		}
		v := reflect.New(typ)
		ptrs[k] = v.Interface()
		vals[k] = v.Elem()
		t.Columns = append(t.Columns, Column{Name: cols[k].Name, Unit: cols[k].Unit, Data: makeColumn(typ, nrows)})
	}
	rows, err := ft.Read(0, int64(nrows))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for r := 0; rows.Next(); r++ {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("row %d: %w", r, err)
		}
		for k := range cols {
			storeCell(t.Columns[k].Data, r, vals[k])
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return t, fixLogical(t, cols, raw, ft)
}

// fixLogical re-reads logical (L) columns from the raw rows: fitsio v0.3.0 takes any
// non-zero byte as true, but FITS stores 'T' and 'F'.
func fixLogical(t *Table, cols []fitsio.Column, raw []byte, ft *fitsio.Table) error {
	hdrLen := 0
	for off := 0; off+cardSize <= len(raw); off += cardSize {
		if strings.TrimRight(string(raw[off:off+8]), " ") == "END" {
			hdrLen = paddedLen(off + cardSize)
			break
		}
	}
	rowLen := 0
	offsets := make([]int, len(cols))
	for k := range cols {
		offsets[k] = rowLen
		w, err := formWidth(cols[k].Format)
		if err != nil {
			return fmt.Errorf("column %q: %w", cols[k].Name, err)
		}
		rowLen += w
	}
	nrows := int(ft.NumRows())
	if hdrLen+rowLen*nrows > len(raw) {
		return fmt.Errorf("table rows extend past the data")
	}
	for k, c := range t.Columns {
		b, ok := c.Data.([]bool)
		if !ok {
			continue
		}
		for r := range b {
			b[r] = raw[hdrLen+r*rowLen+offsets[k]] == 'T'
		}
	}
	return nil
}

// formWidth returns the bytes a binary-table column of TFORM form takes in a row.
func formWidth(form string) (int, error) {
	form = strings.TrimSpace(form)
	i := 0
	for i < len(form) && form[i] >= '0' && form[i] <= '9' {
		i++
	}
	rep := 1
	if i > 0 {
		n, err := strconv.Atoi(form[:i])
		if err != nil {
			return 0, fmt.Errorf("invalid TFORM %q", form)
		}
		rep = n
	}
	if i >= len(form) {
		return 0, fmt.Errorf("invalid TFORM %q", form)
	}
	size := map[byte]int{'L': 1, 'B': 1, 'A': 1, 'I': 2, 'J': 4, 'K': 8, 'E': 4, 'D': 8, 'C': 8, 'M': 16, 'P': 8, 'Q': 16}[form[i]]
	if form[i] == 'X' {
		return (rep + 7) / 8, nil
	}
	if size == 0 {
		return 0, fmt.Errorf("invalid TFORM %q", form)
	}
	return rep * size, nil
}

func makeColumn(typ reflect.Type, n int) any {
	switch typ.Kind() {
	case reflect.Int64:
		return make([]int64, n)
	case reflect.Int32:
		return make([]int32, n)
	case reflect.Int16:
		return make([]int16, n)
	case reflect.Uint8:
		return make([]uint8, n)
	case reflect.Float64:
		return make([]float64, n)
	case reflect.Float32:
		return make([]float32, n)
	case reflect.String:
		return make([]string, n)
	case reflect.Bool:
		return make([]bool, n)
	}
	return make([]any, n)
}

func storeCell(col any, r int, v reflect.Value) {
	switch c := col.(type) {
	case []int64:
		c[r] = v.Int()
	case []int32:
		c[r] = int32(v.Int())
	case []int16:
		c[r] = int16(v.Int())
	case []uint8:
		c[r] = uint8(v.Uint())
	case []float64:
		c[r] = v.Float()
	case []float32:
		c[r] = float32(v.Float())
	case []string:
		c[r] = strings.TrimRight(v.String(), " \x00")
	case []bool:
		c[r] = v.Bool()
	case []any:
		c[r] = v.Interface()
	}
}

// find returns the index of the HDU named extname (case-insensitive), or of the first HDU
// accepted by ok when extname is "".
func (f *file) find(extname string, ok func(int) bool) (int, error) {
	for i := range f.hdus {
		if extname == "" {
			if ok(i) {
				return i, nil
			}
		} else if strings.EqualFold(f.hdus[i].name, extname) {
			return i, nil
		}
	}
	if extname == "" {
		return 0, fmt.Errorf("could not read %q: %w", f.path, ErrNotFound)
	}
	return 0, fmt.Errorf("could not read %q: no HDU named %s: %w", f.path, extname, ErrNotFound)
}

// ReadImage reads the image HDU whose EXTNAME is extname (case-insensitive), or the first HDU
// holding image data when extname is "".
func ReadImage(path, extname string) (*Image, error) {
	f, err := open(path)
	if err != nil {
		return nil, err
	}
	i, err := f.find(extname, func(i int) bool { return f.isImage(i) && f.hdus[i].dataLen > 0 })
	if err != nil {
		if extname == "" {
			return nil, fmt.Errorf("could not read %q: no image data in any HDU: %w", path, ErrNotFound)
		}
		return nil, err
	}
	return f.image(i)
}

// ReadImageHDU reads the image in HDU index (0-based; the primary HDU is 0).
func ReadImageHDU(path string, index int) (*Image, error) {
	f, err := open(path)
	if err != nil {
		return nil, err
	}
	if index < 0 || index >= len(f.hdus) {
		return nil, fmt.Errorf("could not read %q: HDU %d does not exist (the file has %d): %w", path, index, len(f.hdus), ErrNotFound)
	}
	return f.image(index)
}

// ReadTable reads the table HDU named extname, or the first table when extname is "".
func ReadTable(path, extname string) (*Table, error) {
	f, err := open(path)
	if err != nil {
		return nil, err
	}
	i, err := f.find(extname, func(i int) bool { return !f.isImage(i) })
	if err != nil {
		return nil, err
	}
	return f.table(i)
}

// ReadAll reads every HDU of a file in order. An empty primary HDU is returned as an Image
// with no axes.
func ReadAll(path string) ([]HDU, error) {
	f, err := open(path)
	if err != nil {
		return nil, err
	}
	out := make([]HDU, 0, len(f.hdus))
	for i := range f.hdus {
		var h HDU
		if f.isImage(i) {
			h, err = f.image(i)
		} else {
			h, err = f.table(i)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// Names returns the EXTNAME of every HDU in order ("" where an HDU has none).
func Names(path string) ([]string, error) {
	f, err := open(path)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(f.hdus))
	for i := range f.hdus {
		names[i] = f.hdus[i].name
	}
	return names, nil
}
