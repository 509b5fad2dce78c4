package fitsimg

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/astrogo/fitsio"
)

// Write writes hdus to path atomically: into a temporary file in the same directory, which
// is synced and then renamed over path. On error nothing at path changes. The first HDU
// becomes the primary HDU; an empty primary is written first when it is a table.
func Write(path string, hdus ...HDU) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("could not write %q: %w", path, err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := encode(tmp, hdus); err != nil {
		return fmt.Errorf("could not write %q: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("could not write %q: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("could not write %q: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("could not write %q: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("could not write %q: %w", path, err)
	}
	ok = true
	// Make the rename itself durable where the platform allows it.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func encode(w *os.File, hdus []HDU) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("fitsio: %v", r)
		}
	}()
	if len(hdus) == 0 {
		return fmt.Errorf("no HDU to write")
	}
	f, err := fitsio.Create(w)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, isTable := hdus[0].(*Table); isTable {
		if err := writeImage(f, &Image{}, true, len(hdus)+1); err != nil {
			return err
		}
	}
	for i, h := range hdus {
		switch h := h.(type) {
		case *Image:
			if err := writeImage(f, h, i == 0, len(hdus)); err != nil {
				return fmt.Errorf("HDU %d (%s): %w", i, h.Name, err)
			}
		case *Table:
			if err := writeTable(w, h); err != nil {
				return fmt.Errorf("HDU %d (%s): %w", i, h.Name, err)
			}
		default:
			return fmt.Errorf("HDU %d: unsupported type %T", i, h)
		}
	}
	return nil
}

func writeImage(f *fitsio.File, im *Image, primary bool, nhdu int) error {
	bitpix := im.BitPix
	if bitpix == 0 {
		bitpix = -32
	}
	n := 0
	if len(im.Axes) > 0 {
		n = 1
		for _, a := range im.Axes {
			n *= a
		}
	}
	if len(im.Data) != n {
		panic(fmt.Sprintf("fitsimg: image %q: data length %d does not match axes %v", im.Name, len(im.Data), im.Axes))
	}
	img := fitsio.NewImage(bitpix, append([]int(nil), im.Axes...))
	defer img.Close()
	var cards []fitsio.Card
	if primary && nhdu > 1 {
		cards = append(cards, fitsio.Card{Name: "EXTEND", Value: true, Comment: "there may be extensions"})
	}
	if im.Name != "" {
		cards = append(cards, fitsio.Card{Name: "EXTNAME", Value: im.Name, Comment: "name of this HDU"})
	}
	cards = append(cards, toCards(&im.Header)...)
	if err := img.Header().Append(cards...); err != nil {
		return err
	}
	if n > 0 {
		data, err := pixels(im.Data, bitpix)
		if err != nil {
			return err
		}
		if err := img.Write(data); err != nil {
			return err
		}
	}
	return f.Write(img)
}

// pixels converts float64 data to the Go slice type of bitpix.
func pixels(data []float64, bitpix int) (any, error) {
	intOf := func(v float64, lo, hi float64) (float64, error) {
		if math.IsNaN(v) || v < lo || v > hi {
			return 0, fmt.Errorf("value %g does not fit BITPIX %d", v, bitpix)
		}
		return math.Round(v), nil
	}
	switch bitpix {
	case -32:
		out := make([]float32, len(data))
		for i, v := range data {
			out[i] = float32(v)
		}
		return out, nil
	case -64:
		return append([]float64(nil), data...), nil
	case 8:
		out := make([]byte, len(data))
		for i, v := range data {
			r, err := intOf(v, 0, 255)
			if err != nil {
				return nil, err
			}
			out[i] = byte(r)
		}
		return out, nil
	case 16:
		out := make([]int16, len(data))
		for i, v := range data {
			r, err := intOf(v, math.MinInt16, math.MaxInt16)
			if err != nil {
				return nil, err
			}
			out[i] = int16(r)
		}
		return out, nil
	case 32:
		out := make([]int32, len(data))
		for i, v := range data {
			r, err := intOf(v, math.MinInt32, math.MaxInt32)
			if err != nil {
				return nil, err
			}
			out[i] = int32(r)
		}
		return out, nil
	case 64:
		out := make([]int64, len(data))
		for i, v := range data {
			r, err := intOf(v, -(1 << 63), 1<<63-1024)
			if err != nil {
				return nil, err
			}
			out[i] = int64(r)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported BITPIX %d", bitpix)
}

func toCards(h *Header) []fitsio.Card {
	out := make([]fitsio.Card, 0, len(h.Cards))
	for _, c := range h.Cards {
		if structural(c.Key) {
			continue
		}
		v := c.Value
		switch x := v.(type) {
		case int64:
			v = int(x)
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				// FITS has no literal for non-finite numbers.
				v = fmt.Sprint(x)
			}
		}
		if c.Key == "COMMENT" || c.Key == "HISTORY" {
			s, _ := c.Value.(string)
			out = append(out, fitsio.Card{Name: c.Key, Comment: s})
			continue
		}
		out = append(out, fitsio.Card{Name: c.Key, Value: v, Comment: c.Comment})
	}
	return out
}

// writeTable encodes a binary table directly: fitsio v0.3.0 prefixes every string cell with
// a NUL byte and writes TSCALn = 0 and TBCOLn cards, which other readers (astropy, CFITSIO)
// take at their word.
func writeTable(w io.Writer, t *Table) error {
	nrows := t.Rows()
	type colEnc struct {
		form  string
		width int
	}
	encs := make([]colEnc, len(t.Columns))
	rowLen := 0
	for k, c := range t.Columns {
		if c.Len() != nrows {
			panic(fmt.Sprintf("fitsimg: table %q: column %q has %d rows, want %d", t.Name, c.Name, c.Len(), nrows))
		}
		var e colEnc
		switch d := c.Data.(type) {
		case []int64:
			e = colEnc{"K", 8}
		case []int32:
			e = colEnc{"J", 4}
		case []int16:
			e = colEnc{"I", 2}
		case []uint8:
			e = colEnc{"B", 1}
		case []float64:
			e = colEnc{"D", 8}
		case []float32:
			e = colEnc{"E", 4}
		case []bool:
			e = colEnc{"L", 1}
		case []string:
			n := 1
			for _, s := range d {
				n = max(n, len(s))
			}
			e = colEnc{fmt.Sprintf("%dA", n), n}
		default:
			return fmt.Errorf("column %q: unsupported type %T", c.Name, c.Data)
		}
		encs[k] = e
		rowLen += e.width
	}
	var hdr bytes.Buffer
	card := func(key string, value any, comment string) { hdr.WriteString(formatCard(key, value, comment)) }
	card("XTENSION", "BINTABLE", "binary table extension")
	card("BITPIX", int64(8), "8-bit bytes")
	card("NAXIS", int64(2), "2-dimensional binary table")
	card("NAXIS1", int64(rowLen), "width of table in bytes")
	card("NAXIS2", int64(nrows), "number of rows in table")
	card("PCOUNT", int64(0), "size of special data area")
	card("GCOUNT", int64(1), "one data group")
	card("TFIELDS", int64(len(t.Columns)), "number of fields in each row")
	for k, c := range t.Columns {
		card(fmt.Sprintf("TTYPE%d", k+1), c.Name, "")
		card(fmt.Sprintf("TFORM%d", k+1), encs[k].form, "")
		if c.Unit != "" {
			card(fmt.Sprintf("TUNIT%d", k+1), c.Unit, "")
		}
	}
	if t.Name != "" {
		card("EXTNAME", t.Name, "name of this HDU")
	}
	for _, c := range toCards(&t.Header) {
		card(c.Name, c.Value, c.Comment)
	}
	hdr.WriteString(fmt.Sprintf("%-80s", "END"))
	for hdr.Len()%blockSize != 0 {
		hdr.WriteByte(' ')
	}
	data := make([]byte, paddedLen(rowLen*nrows))
	be := binary.BigEndian
	off := 0
	for r := 0; r < nrows; r++ {
		for k, c := range t.Columns {
			cell := data[off : off+encs[k].width]
			switch d := c.Data.(type) {
			case []int64:
				be.PutUint64(cell, uint64(d[r]))
			case []int32:
				be.PutUint32(cell, uint32(d[r]))
			case []int16:
				be.PutUint16(cell, uint16(d[r]))
			case []uint8:
				cell[0] = d[r]
			case []float64:
				be.PutUint64(cell, math.Float64bits(d[r]))
			case []float32:
				be.PutUint32(cell, math.Float32bits(d[r]))
			case []bool:
				cell[0] = 'F'
				if d[r] {
					cell[0] = 'T'
				}
			case []string:
				copy(cell, d[r]) // NUL-padded, as the standard allows
			}
			off += encs[k].width
		}
	}
	if _, err := w.Write(hdr.Bytes()); err != nil {
		return err
	}
	_, err := w.Write(data)
	return err
}

// formatCard renders one 80-character header card in the FITS fixed format.
func formatCard(key string, value any, comment string) string {
	var v string
	switch x := value.(type) {
	case string:
		s := strings.ReplaceAll(x, "'", "''")
		if len(s) > 68 {
			s = s[:68]
		}
		v = fmt.Sprintf("'%-8s'", s)
		v = fmt.Sprintf("%-20s", v)
	case bool:
		v = "F"
		if x {
			v = "T"
		}
		v = fmt.Sprintf("%20s", v)
	case int64:
		v = fmt.Sprintf("%20d", x)
	case int:
		v = fmt.Sprintf("%20d", x)
	case float64:
		f := strconv.FormatFloat(x, 'G', -1, 64)
		if !strings.ContainsAny(f, ".EN") {
			f += ".0"
		}
		v = fmt.Sprintf("%20s", f)
	default:
		v = fmt.Sprintf("%20v", x)
	}
	line := fmt.Sprintf("%-8s= %s", key, v)
	if comment != "" && len(line) < 77 {
		line += " / " + comment
	}
	if len(line) > 80 {
		line = line[:80]
	}
	return fmt.Sprintf("%-80s", line)
}
