//go:build !unix

package runlock

import (
	"errors"
	"os"
)

var (
	errWouldBlock  = errors.New("would block")
	errUnsupported = errors.New("file locks unsupported")
)

// lockFile does not lock outside Unix: Acquire returns an unheld Lock.
func lockFile(*os.File) error { return errUnsupported }
