package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Two runs, the second continuing the first from step 4 (as train --init-from does), draw as
// one curve of 6 steps whose last moving average is the second run's; in the wrong order
// they are refused in one line.
func TestLossCommandJoinsRuns(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, from, to int, ema float64) string {
		var b strings.Builder
		b.WriteString("step,time_s,loss,lr,grad_norm,ema_loss\n")
		for s := from; s <= to; s++ {
			fmt.Fprintf(&b, "%d,%d,%g,0.001,1,%g\n", s, s, 10.0/float64(s), ema)
		}
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "loss.csv"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	a, b := write("base", 1, 5, 7), write("ft", 4, 6, 3)
	code, out, errs := runCLI(t, "loss", a, b, "--out", filepath.Join(dir, "loss.png"))
	if code != 0 || !strings.HasPrefix(out, "6 steps") || !strings.Contains(out, "moving-average loss 3 (first step 10)") {
		t.Errorf("exit %d, %q, %q", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "loss.png")); err != nil {
		t.Error(err)
	}
	code, _, errs = runCLI(t, "loss", b, a, "--out", filepath.Join(dir, "x.png"))
	if code == 0 || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "does not continue") {
		t.Errorf("runs in the wrong order: exit %d, %q", code, errs)
	}
}
