package fitsimg

import "strings"

// Card is one header card. Value is a string, int64, float64 or bool.
type Card struct {
	Key     string
	Value   any
	Comment string
}

// Header holds the non-structural cards of an HDU in order. Structural keys (SIMPLE,
// XTENSION, BITPIX, NAXISn, PCOUNT, GCOUNT, EXTEND, BSCALE, BZERO, EXTNAME and the table
// column keys) are managed by this package and never appear here.
type Header struct {
	Cards []Card
}

// Set sets key to value, replacing an existing card of that key. Keys are upper-cased.
// Integer values of any Go integer type are stored as int64 and float32 as float64.
func (h *Header) Set(key string, value any, comment string) {
	key = strings.ToUpper(key)
	value = normValue(value)
	for i := range h.Cards {
		if h.Cards[i].Key == key {
			h.Cards[i].Value = value
			h.Cards[i].Comment = comment
			return
		}
	}
	h.Cards = append(h.Cards, Card{Key: key, Value: value, Comment: comment})
}

// Add appends a card without replacing one of the same key (for HISTORY and COMMENT).
func (h *Header) Add(key string, value any, comment string) {
	h.Cards = append(h.Cards, Card{Key: strings.ToUpper(key), Value: normValue(value), Comment: comment})
}

// Get returns the value of key.
func (h *Header) Get(key string) (any, bool) {
	key = strings.ToUpper(key)
	for _, c := range h.Cards {
		if c.Key == key {
			return c.Value, true
		}
	}
	return nil, false
}

// String returns the value of key if it is a string.
func (h *Header) String(key string) (string, bool) {
	v, ok := h.Get(key)
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	return s, ok
}

// Float returns the value of key if it is a number; integers are promoted.
func (h *Header) Float(key string) (float64, bool) {
	v, ok := h.Get(key)
	if !ok {
		return 0, false
	}
	switch v := v.(type) {
	case float64:
		return v, true
	case int64:
		return float64(v), true
	}
	return 0, false
}

// Int returns the value of key if it is an integer.
func (h *Header) Int(key string) (int64, bool) {
	v, ok := h.Get(key)
	if !ok {
		return 0, false
	}
	i, ok := v.(int64)
	return i, ok
}

// Bool returns the value of key if it is a logical.
func (h *Header) Bool(key string) (bool, bool) {
	v, ok := h.Get(key)
	if !ok {
		return false, false
	}
	b, ok := v.(bool)
	return b, ok
}

func normValue(v any) any {
	switch v := v.(type) {
	case int:
		return int64(v)
	case int8:
		return int64(v)
	case int16:
		return int64(v)
	case int32:
		return int64(v)
	case uint8:
		return int64(v)
	case uint16:
		return int64(v)
	case uint32:
		return int64(v)
	case uint64:
		return int64(v)
	case float32:
		return float64(v)
	}
	return v
}

// structural reports whether key is managed by this package rather than kept in a Header.
func structural(key string) bool {
	switch key {
	case "SIMPLE", "XTENSION", "BITPIX", "NAXIS", "PCOUNT", "GCOUNT", "EXTEND", "BSCALE",
		"BZERO", "EXTNAME", "END", "TFIELDS", "THEAP", "":
		return true
	}
	if strings.HasPrefix(key, "NAXIS") && isDigits(key[5:]) {
		return true
	}
	for _, p := range []string{"TTYPE", "TFORM", "TUNIT", "TDIM", "TSCAL", "TZERO", "TNULL", "TDISP", "TBCOL"} {
		if strings.HasPrefix(key, p) && isDigits(key[len(p):]) {
			return true
		}
	}
	return false
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
