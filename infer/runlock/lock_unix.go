//go:build unix

package runlock

import (
	"errors"
	"os"
	"syscall"
)

var (
	errWouldBlock  = syscall.EWOULDBLOCK
	errUnsupported = errors.New("file locks unsupported")
)

func lockFile(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return errWouldBlock
		case errors.Is(err, syscall.ENOSYS), errors.Is(err, syscall.ENOTSUP), errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.ENOLCK):
			return errUnsupported
		default:
			return err
		}
	}
}
