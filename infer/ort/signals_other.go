//go:build !(linux || darwin || freebsd)

package ort

// withGoSignals runs f; on this platform the runtime's handlers are not at risk.
func withGoSignals(f func() error) (int, error) { return 0, f() }

func clobberSignal(int) {}
