package fitsimg

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

const (
	blockSize = 2880
	cardSize  = 80
)

// hduLayout is what the pre-scan learns about one HDU: enough to check that the file holds
// every byte the header promises before any decoder allocates for it.
type hduLayout struct {
	index    int
	name     string // EXTNAME, or "" where none
	xtension string // "" for the primary HDU
	bitpix   int
	axes     []int
	dataLen  int // bytes of data, without padding
	start    int // offset of the header
	end      int // offset just past the padded data
}

// label names an HDU in messages: "HDU 2 (NOISE)" or "HDU 0".
func (l *hduLayout) label() string {
	if l.name != "" {
		return fmt.Sprintf("HDU %d (%s)", l.index, l.name)
	}
	return fmt.Sprintf("HDU %d", l.index)
}

// scan walks the header blocks of a whole FITS file held in memory and validates its
// structure. It returns the file's bytes with any missing padding of the last HDU added
// (several writers omit it) and the layout of every HDU.
func scan(b []byte) ([]byte, []hduLayout, error) {
	if len(b) == 0 {
		return nil, nil, fmt.Errorf("empty file")
	}
	if len(b) < cardSize || string(b[:9]) != "SIMPLE  =" {
		return nil, nil, fmt.Errorf("not a FITS file (no SIMPLE card at the start)")
	}
	var hdus []hduLayout
	off := 0
	for off < len(b) {
		// Trailing zero or blank padding after the last HDU is tolerated.
		if allBlank(b[off:]) {
			break
		}
		l := hduLayout{index: len(hdus), start: off}
		cards := map[string]string{}
		ended := false
		for !ended {
			if off+blockSize > len(b) {
				return nil, nil, fmt.Errorf("HDU %d: truncated header (no END card before the end of the file)", l.index)
			}
			for c := 0; c < blockSize/cardSize; c++ {
				line := b[off+c*cardSize : off+(c+1)*cardSize]
				key := strings.TrimRight(string(line[:8]), " ")
				if key == "END" {
					ended = true
					break
				}
				if string(line[8:10]) == "= " {
					if _, dup := cards[key]; !dup {
						cards[key] = cardValue(string(line[10:]))
					}
				}
			}
			off += blockSize
		}
		if l.index == 0 {
			if v := cards["SIMPLE"]; v != "T" {
				return nil, nil, fmt.Errorf("HDU 0: SIMPLE = %q: not a standard FITS file", v)
			}
		} else {
			l.xtension = strings.TrimSpace(strings.Trim(cards["XTENSION"], "'"))
			if l.xtension == "" {
				return nil, nil, fmt.Errorf("HDU %d: missing XTENSION card", l.index)
			}
		}
		l.name = strings.TrimSpace(strings.Trim(cards["EXTNAME"], "'"))
		var err error
		if l.bitpix, err = intCard(cards, "BITPIX"); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", l.label(), err)
		}
		switch l.bitpix {
		case 8, 16, 32, 64, -32, -64:
		default:
			return nil, nil, fmt.Errorf("%s: invalid BITPIX %d", l.label(), l.bitpix)
		}
		naxis, err := intCard(cards, "NAXIS")
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", l.label(), err)
		}
		if naxis < 0 || naxis > 999 {
			return nil, nil, fmt.Errorf("%s: invalid NAXIS %d", l.label(), naxis)
		}
		size := 0
		if naxis > 0 {
			size = 1
		}
		for k := 1; k <= naxis; k++ {
			n, err := intCard(cards, fmt.Sprintf("NAXIS%d", k))
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", l.label(), err)
			}
			if n < 0 {
				return nil, nil, fmt.Errorf("%s: negative NAXIS%d %d", l.label(), k, n)
			}
			l.axes = append(l.axes, n)
			if size, err = mulCheck(size, n); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", l.label(), err)
			}
		}
		pcount, gcount := 0, 1
		if _, ok := cards["PCOUNT"]; ok {
			if pcount, err = intCard(cards, "PCOUNT"); err != nil || pcount < 0 {
				return nil, nil, fmt.Errorf("%s: invalid PCOUNT", l.label())
			}
		}
		if _, ok := cards["GCOUNT"]; ok {
			if gcount, err = intCard(cards, "GCOUNT"); err != nil || gcount < 0 {
				return nil, nil, fmt.Errorf("%s: invalid GCOUNT", l.label())
			}
		}
		pix := l.bitpix / 8
		if pix < 0 {
			pix = -pix
		}
		if naxis > 0 {
			if size, err = addCheck(size, pcount); err == nil {
				if size, err = mulCheck(size, gcount); err == nil {
					size, err = mulCheck(size, pix)
				}
			}
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", l.label(), err)
			}
		}
		l.dataLen = size
		if off+size > len(b) {
			return nil, nil, fmt.Errorf("%s: truncated data (header promises %d bytes, %d left in the file)", l.label(), size, len(b)-off)
		}
		padded := (size + blockSize - 1) / blockSize * blockSize
		if off+padded > len(b) {
			// Only the final HDU may lack its padding.
			nb := make([]byte, off+padded)
			copy(nb, b)
			b = nb
		}
		off += padded
		l.end = off
		hdus = append(hdus, l)
	}
	return b, hdus, nil
}

func allBlank(b []byte) bool {
	for _, c := range b {
		if c != 0 && c != ' ' {
			return false
		}
	}
	return true
}

// cardValue returns the value field of a card: a quoted string with its quotes, or the
// token before any comment.
func cardValue(s string) string {
	s = strings.TrimLeft(s, " ")
	if strings.HasPrefix(s, "'") {
		// A string ends at the first quote not doubled.
		for i := 1; i < len(s); i++ {
			if s[i] == '\'' {
				if i+1 < len(s) && s[i+1] == '\'' {
					i++
					continue
				}
				return s[:i+1]
			}
		}
		return s
	}
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

func intCard(cards map[string]string, key string) (int, error) {
	v, ok := cards[key]
	if !ok {
		return 0, fmt.Errorf("missing %s card", key)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n > math.MaxInt32*int64(1<<20) || n < -math.MaxInt32 {
		return 0, fmt.Errorf("invalid %s value %q", key, v)
	}
	return int(n), nil
}

// maxBytes bounds any single HDU; nothing scorelens reads is near it, and it keeps a
// corrupt header from overflowing the size arithmetic.
const maxBytes = 1 << 40

func mulCheck(a, b int) (int, error) {
	if a != 0 && b > maxBytes/a {
		return 0, fmt.Errorf("data size overflows")
	}
	return a * b, nil
}

func addCheck(a, b int) (int, error) {
	if a > maxBytes-b {
		return 0, fmt.Errorf("data size overflows")
	}
	return a + b, nil
}
