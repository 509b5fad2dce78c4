package runlock

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// ErrHeld is wrapped by Acquire's error when another process holds the lock.
var ErrHeld = errors.New("output is in use by another process")

// Lock is a held (or, where unsupported, unheld) lock on an output file.
type Lock struct {
	path string   // the lock file, <output>.lock
	f    *os.File // open while held; nil when unheld
}

// Held reports whether the lock is held; false where the file system cannot lock.
func (l *Lock) Held() bool { return l != nil && l.f != nil }

// Acquire locks output for this process. The lock file "<output>.lock" is created beside
// output (its directory must exist) and records the holder's host, pid and start time, which
// the error of a second Acquire quotes.
func Acquire(output string) (*Lock, error) {
	l := &Lock{path: output + ".lock"}
	// The lock file may be removed by the holder's Release between our open and our lock:
	// we then hold a lock on a name nobody else can see, so check and retry.
	for try := 0; try < 10; try++ {
		f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("could not create the lock file %q: %w", l.path, err)
		}
		err = lockFile(f)
		switch {
		case errors.Is(err, errUnsupported):
			f.Close()
			return l, nil
		case errors.Is(err, errWouldBlock):
			holder := readHolder(l.path)
			f.Close()
			return nil, fmt.Errorf("%s: %w (%s); wait for it to finish, or stop it, before running this again", output, ErrHeld, holder)
		case err != nil:
			f.Close()
			return nil, fmt.Errorf("could not lock %q: %w", l.path, err)
		}
		if !sameFile(f, l.path) {
			f.Close()
			continue
		}
		host, _ := os.Hostname()
		rec := fmt.Sprintf("host %s, pid %d, since %s\n", host, os.Getpid(), time.Now().UTC().Format(time.RFC3339))
		if err := f.Truncate(0); err == nil {
			f.WriteAt([]byte(rec), 0) // the record is for people; a failed write does not unlock
		}
		l.f = f
		return l, nil
	}
	return nil, fmt.Errorf("could not lock %q: the lock file keeps being replaced", l.path)
}

// WarnUnheld writes one line to w when the lock is not held (a file system without locks),
// telling the user not to start a second job on output; nothing when held or w is nil.
func (l *Lock) WarnUnheld(w io.Writer, output string) {
	if l != nil && l.f == nil && w != nil {
		fmt.Fprintf(w, "warning: %s cannot be locked on this file system; do not run two jobs on it at once\n", output)
	}
}

// Release removes the lock file and drops the lock. It is safe to call on an unheld or nil
// Lock, and more than once.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	// Remove before unlocking, so that a process waiting on this name never locks a file
	// that is about to vanish (Acquire's sameFile check covers the reverse order).
	err := os.Remove(l.path)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("could not release %q: %w", l.path, err)
	}
	return nil
}

func readHolder(path string) string {
	b, err := os.ReadFile(path)
	s := strings.TrimSpace(string(b))
	if err != nil || s == "" {
		return "holder unknown"
	}
	return s
}

func sameFile(f *os.File, path string) bool {
	a, err1 := f.Stat()
	b, err2 := os.Stat(path)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}
