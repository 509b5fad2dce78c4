//go:build !(linux || darwin || freebsd)

package ort

import "testing"

func testSignalsRestored(t *testing.T) { t.Skip("no signal dispositions to restore on this platform") }
