package fitsimg

import (
	"fmt"
	"strings"
)

// Image is an image HDU of one to three (or more) axes.
type Image struct {
	Name   string    // EXTNAME
	Axes   []int     // NAXIS1 (width, fastest), NAXIS2 (height), NAXIS3 (depth), ...
	Data   []float64 // FITS order: Data[(k*ny+j)*nx+i]; BSCALE/BZERO applied
	Header Header    // non-structural cards
	BitPix int       // on read, what the file had; on write, -32 when 0, or -64, 8, 16, 32, 64
}

// NewImage returns an image named name holding data with the given axes (width first).
// It panics if len(data) differs from the product of axes.
func NewImage(name string, data []float64, axes ...int) *Image {
	n := 1
	for _, a := range axes {
		if a < 0 {
			panic("fitsimg: negative axis length")
		}
		n *= a
	}
	if len(axes) == 0 {
		n = 0
	}
	if len(data) != n {
		panic(fmt.Sprintf("fitsimg: data length %d does not match axes %v", len(data), axes))
	}
	return &Image{Name: name, Axes: append([]int(nil), axes...), Data: data}
}

// HDUName returns the EXTNAME of the image.
func (im *Image) HDUName() string { return im.Name }

// Plane returns the k-th NAXIS1×NAXIS2 plane of a cube; it aliases Data.
func (im *Image) Plane(k int) []float64 {
	if len(im.Axes) < 2 {
		panic("fitsimg: Plane of an image with fewer than two axes")
	}
	n := im.Axes[0] * im.Axes[1]
	if k < 0 || (k+1)*n > len(im.Data) {
		panic(fmt.Sprintf("fitsimg: plane %d out of range", k))
	}
	return im.Data[k*n : (k+1)*n : (k+1)*n]
}

// Depth returns NAXIS3 of a cube, 1 for a 2-D image and 0 for an empty HDU.
func (im *Image) Depth() int {
	switch len(im.Axes) {
	case 0:
		return 0
	case 1, 2:
		return 1
	}
	d := 1
	for _, a := range im.Axes[2:] {
		d *= a
	}
	return d
}

// Square returns the side of a square 2-D image, or an error naming the image otherwise.
func (im *Image) Square() (int, error) {
	if len(im.Axes) != 2 || im.Axes[0] != im.Axes[1] {
		return 0, fmt.Errorf("%s: expected a square 2-D image, got axes %v", im.label(), im.Axes)
	}
	return im.Axes[0], nil
}

func (im *Image) label() string {
	if im.Name == "" {
		return "image"
	}
	return im.Name
}

// Column is one column of a binary table. Data is a []int64, []int32, []int16, []uint8,
// []float64, []float32, []string or []bool of one entry per row.
type Column struct {
	Name string
	Unit string
	Data any
}

// Len returns the number of rows the column holds.
func (c Column) Len() int {
	switch d := c.Data.(type) {
	case []int64:
		return len(d)
	case []int32:
		return len(d)
	case []int16:
		return len(d)
	case []uint8:
		return len(d)
	case []float64:
		return len(d)
	case []float32:
		return len(d)
	case []string:
		return len(d)
	case []bool:
		return len(d)
	case []any:
		return len(d)
	}
	return 0
}

// Float returns the column converted to float64, or false for string, boolean or other
// non-numeric columns.
func (c Column) Float() ([]float64, bool) {
	n := c.Len()
	out := make([]float64, n)
	switch d := c.Data.(type) {
	case []int64:
		for i, v := range d {
			out[i] = float64(v)
		}
	case []int32:
		for i, v := range d {
			out[i] = float64(v)
		}
	case []int16:
		for i, v := range d {
			out[i] = float64(v)
		}
	case []uint8:
		for i, v := range d {
			out[i] = float64(v)
		}
	case []float64:
		copy(out, d)
	case []float32:
		for i, v := range d {
			out[i] = float64(v)
		}
	default:
		return nil, false
	}
	return out, true
}

// Table is a binary-table HDU.
type Table struct {
	Name    string
	Columns []Column
	Header  Header
}

// HDUName returns the EXTNAME of the table.
func (t *Table) HDUName() string { return t.Name }

// Column returns the column named name (case-insensitive).
func (t *Table) Column(name string) (Column, bool) {
	for _, c := range t.Columns {
		if strings.EqualFold(c.Name, name) {
			return c, true
		}
	}
	return Column{}, false
}

// Rows returns the number of rows.
func (t *Table) Rows() int {
	if len(t.Columns) == 0 {
		return 0
	}
	return t.Columns[0].Len()
}
