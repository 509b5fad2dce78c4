//go:build linux || darwin || freebsd

package ort

import (
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

func testSignalsRestored(t *testing.T) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR2)
	defer signal.Stop(ch)
	restored, err := withGoSignals(func() error {
		clobberSignal(int(syscall.SIGUSR2))
		return nil
	})
	if err != nil || restored != 1 {
		t.Fatalf("restored %d handlers (want 1), err %v", restored, err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("SIGUSR2 did not reach signal.Notify: Go's handler was not restored")
	}
}
