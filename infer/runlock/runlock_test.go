package runlock

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// A child process started with this variable set locks the named output, says "locked"
// and waits to be killed.
const childEnv = "RUNLOCK_TEST_HOLD"

func TestMain(m *testing.M) {
	if out := os.Getenv(childEnv); out != "" {
		if _, err := Acquire(out); err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
		fmt.Println("locked")
		select {}
	}
	os.Exit(m.Run())
}

func skipUnlessUnix(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("no flock on", runtime.GOOS)
	}
}

func TestAcquireRelease(t *testing.T) {
	skipUnlessUnix(t)
	out := filepath.Join(t.TempDir(), "prior.fits")
	l, err := Acquire(out)
	if err != nil {
		t.Fatal(err)
	}
	if !l.Held() {
		t.Skip("the test directory's file system does not support flock")
	}
	// flock locks belong to open files, so a second open in this process conflicts like
	// another process would.
	_, err = Acquire(out)
	if !errors.Is(err, ErrHeld) {
		t.Fatalf("second Acquire: got %v, want ErrHeld", err)
	}
	if want := fmt.Sprintf("pid %d", os.Getpid()); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name the holder (%s)", err, want)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(out + ".lock"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file left after Release: %v", err)
	}
	if err := l.Release(); err != nil {
		t.Errorf("second Release: %v", err)
	}
	l2, err := Acquire(out)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l2.Release()
	var nilLock *Lock
	if nilLock.Held() || nilLock.Release() != nil {
		t.Error("nil Lock: want unheld and a no-op Release")
	}
}

func TestKilledHolderFreesLock(t *testing.T) {
	skipUnlessUnix(t)
	out := filepath.Join(t.TempDir(), "prior.fits")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+out)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "locked" {
		t.Fatalf("child: %q", line)
	}
	_, err = Acquire(out)
	if !errors.Is(err, ErrHeld) {
		t.Fatalf("Acquire while the child holds it: got %v, want ErrHeld", err)
	}
	if want := fmt.Sprintf("pid %d", cmd.Process.Pid); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name the child (%s)", err, want)
	}
	// SIGKILL, as a batch system's preemption: no Release runs, the kernel drops the lock.
	cmd.Process.Kill()
	cmd.Wait()
	l, err := Acquire(out)
	if err != nil {
		t.Fatalf("Acquire after the holder was killed: %v", err)
	}
	l.Release()
}

func TestAcquireMissingDirectory(t *testing.T) {
	out := filepath.Join(t.TempDir(), "no", "such", "prior.fits")
	if _, err := Acquire(out); err == nil || !strings.Contains(err.Error(), "lock file") {
		t.Errorf("got %v, want an error about the lock file", err)
	}
}

func TestWarnUnheld(t *testing.T) {
	var sb strings.Builder
	(&Lock{path: "x.lock"}).WarnUnheld(&sb, "x.fits")
	if got := sb.String(); got != "warning: x.fits cannot be locked on this file system; do not run two jobs on it at once\n" {
		t.Errorf("unheld: %q", got)
	}
	sb.Reset()
	out := filepath.Join(t.TempDir(), "y.fits")
	l, err := Acquire(out)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if l.Held() {
		l.WarnUnheld(&sb, out)
		if sb.Len() != 0 {
			t.Errorf("held lock warned: %q", sb.String())
		}
	}
	l.WarnUnheld(nil, out) // no writer: no panic
}
