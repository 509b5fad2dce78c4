package infer

// Tests of `scorelens sample` and `scorelens merge` as a user runs them: the binary is built
// once into a temporary directory and run on a 16×16-source lens (white prior, 2000 steps,
// 8 samples in batches of 2; about 0.1 s a batch).

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"scorelens/lens/fitsimg"
)

var (
	cliOnce sync.Once
	cliBin  string
	cliErr  error
	cliDir  string
)

// cliBinary builds scorelens once per test process.
func cliBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the scorelens binary")
	}
	cliOnce.Do(func() {
		cliDir, cliErr = os.MkdirTemp("", "scorelens-cli")
		if cliErr != nil {
			return
		}
		cliBin = filepath.Join(cliDir, "scorelens")
		out, err := exec.Command("go", "build", "-o", cliBin, "scorelens/cmd/scorelens").CombinedOutput()
		if err != nil {
			cliErr = fmt.Errorf("go build scorelens/cmd/scorelens: %v\n%s", err, out)
		}
	})
	if cliErr != nil {
		t.Fatal(cliErr)
	}
	return cliBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if cliDir != "" {
		os.RemoveAll(cliDir)
	}
	os.Exit(code)
}

// cliArgs are the sample flags of the CLI tests' run, writing out.
func cliArgs(lensPath, obsPath, out string, extra ...string) []string {
	a := []string{"sample", "--prior", "white:sigma=0.5", "--lens", lensPath, "--obs", obsPath,
		"--steps", "2000", "--samples", "8", "--batch", "2", "--seed", "7", "--out", out}
	return append(a, extra...)
}

// runCLI runs the binary to completion and returns its stderr and exit code.
func runCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(cliBinary(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stderr.String(), code
}

// nDone returns NDONE of a posterior file, or -1 while it does not exist.
func nDone(t *testing.T, path string) int {
	t.Helper()
	im, err := fitsimg.ReadImage(path, "SAMPLES")
	if os.IsNotExist(err) || (err != nil && strings.Contains(err.Error(), "no such file")) {
		return -1
	}
	if err != nil {
		t.Fatalf("reading %s while it is being written: %v", path, err) // writes are atomic
	}
	v, _ := im.Header.Int("NDONE")
	return int(v)
}

// started is a running binary.
type started struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	exited chan struct{}
	code   int // exit code, or −signal
}

// wait waits for the process and returns its exit code (−signal when killed).
func (s *started) wait() int {
	<-s.exited
	return s.code
}

// startAndWait starts the binary and waits until path holds at least one batch; it fails
// if the run ends first. It returns the process and NDONE at that moment.
func startAndWait(t *testing.T, path string, args []string) (*started, int) {
	t.Helper()
	s := &started{cmd: exec.Command(cliBinary(t), args...), exited: make(chan struct{})}
	s.cmd.Stderr = &s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := s.cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			s.code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				s.code = -int(ws.Signal())
			}
		} else if err != nil {
			s.code = -1000
		}
		close(s.exited)
	}()
	cmd, exited, stderr := s.cmd, s.exited, &s.stderr
	deadline := time.Now().Add(60 * time.Second)
	for {
		if k := nDone(t, path); k >= 2 {
			if k >= 8 {
				t.Fatalf("run finished before it could be interrupted (NDONE %d); raise --steps", k)
			}
			return s, k
		}
		select {
		case <-exited:
			t.Fatalf("run ended before its first batch: %s", stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no batch written within 60 s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func sameBytes(t *testing.T, got, want string) {
	t.Helper()
	a, err1 := os.ReadFile(got)
	b, err2 := os.ReadFile(want)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("%s (%d bytes) differs from %s (%d bytes)", filepath.Base(got), len(a), filepath.Base(want), len(b))
	}
}

// TestCLIKillResumeMerge: an unbroken run; the same run killed by SIGKILL after its first
// batch and resumed; the same run stopped by SIGTERM (after the batch in flight) and
// resumed; three shards merged. All four files must be byte-identical.
func TestCLIKillResumeMerge(t *testing.T) {
	dir := t.TempDir()
	lensPath, obsPath := simulated(t, dir, 20)
	full := filepath.Join(dir, "full.fits")
	if msg, code := runCLI(t, cliArgs(lensPath, obsPath, full, "--quiet")...); code != 0 || msg != "" {
		t.Fatalf("unbroken run: exit %d, %q", code, msg)
	}

	// SIGKILL once a batch is on disk, then --resume.
	killed := filepath.Join(dir, "killed.fits")
	p, _ := startAndWait(t, killed, cliArgs(lensPath, obsPath, killed, "--quiet"))
	p.cmd.Process.Signal(syscall.SIGKILL)
	if code := p.wait(); code != -int(syscall.SIGKILL) {
		t.Fatalf("SIGKILL: exit %d", code)
	}
	k := nDone(t, killed)
	if k < 2 || k >= 8 {
		t.Fatalf("killed run left NDONE %d, want 2…6", k)
	}
	// Without --resume the partial file is protected.
	msg, code := runCLI(t, cliArgs(lensPath, obsPath, killed)...)
	if code == 0 || !strings.Contains(msg, "--resume") || strings.Count(msg, "\n") != 1 {
		t.Errorf("rerun without --resume: exit %d, %q", code, msg)
	}
	msg, code = runCLI(t, cliArgs(lensPath, obsPath, killed, "--resume")...)
	if code != 0 {
		t.Fatalf("resume: exit %d: %s", code, msg)
	}
	if !strings.Contains(msg, fmt.Sprintf("resuming %s: %d of 8 samples on disk", killed, k)) {
		t.Errorf("resume log lacks the resumed count:\n%s", msg)
	}
	sameBytes(t, killed, full)
	t.Logf("SIGKILL at NDONE %d, resumed: identical to the unbroken run", k)

	// SIGTERM: the batch in flight is finished and written, the exit is non-zero and the
	// one-line message says how many samples are on disk.
	stopped := filepath.Join(dir, "stopped.fits")
	p, k0 := startAndWait(t, stopped, cliArgs(lensPath, obsPath, stopped))
	p.cmd.Process.Signal(syscall.SIGTERM)
	code = p.wait()
	k = nDone(t, stopped)
	stderr := &p.stderr
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	last := lines[len(lines)-1]
	want := fmt.Sprintf("scorelens: stopped: %d of 8 samples are in %s; continue with the same command and --resume", k, stopped)
	if code != 1 || last != want {
		t.Errorf("SIGTERM: exit %d, last line %q, want %q", code, last, want)
	}
	if k < k0 {
		t.Errorf("SIGTERM: NDONE went from %d to %d", k0, k)
	}
	if !strings.Contains(stderr.String(), "stopping after the batch in flight") {
		t.Errorf("no notice of the stop:\n%s", stderr.String())
	}
	if k < 8 {
		if msg, code := runCLI(t, cliArgs(lensPath, obsPath, stopped, "--resume", "--quiet")...); code != 0 {
			t.Fatalf("resume after SIGTERM: exit %d: %s", code, msg)
		}
	}
	sameBytes(t, stopped, full)
	t.Logf("SIGTERM at NDONE %d, stopped at %d, resumed: identical", k0, k)

	// Shards through the CLI, merged (flags after the file names, as the SLURM job does).
	var shards []string
	for s := 1; s <= 3; s++ {
		out := filepath.Join(dir, fmt.Sprintf("shard-%d.fits", s))
		if msg, code := runCLI(t, cliArgs(lensPath, obsPath, out, "--quiet", "--shard", fmt.Sprintf("%d/3", s))...); code != 0 {
			t.Fatalf("shard %d: exit %d: %s", s, code, msg)
		}
		shards = append(shards, out)
	}
	merged := filepath.Join(dir, "merged.fits")
	if msg, code := runCLI(t, append(append([]string{"merge"}, shards...), "--out", merged)...); code != 0 {
		t.Fatalf("merge: exit %d: %s", code, msg)
	}
	sameBytes(t, merged, full)
	msg, code = runCLI(t, "merge", shards[0], shards[2], "--out", filepath.Join(dir, "m2.fits"))
	if code == 0 || msg != "scorelens: merge: missing shard 2/3 of the run of "+shards[0]+" (got 2 of 3 files)\n" {
		t.Errorf("merge with a missing shard: exit %d, %q", code, msg)
	}
}

// TestCLISecondSignalAborts: a second SIGINT abandons the batch in flight.
func TestCLISecondSignalAborts(t *testing.T) {
	dir := t.TempDir()
	lensPath, obsPath := simulated(t, dir, 20)
	out := filepath.Join(dir, "post.fits")
	args := cliArgs(lensPath, obsPath, out, "--quiet")
	for i, a := range args {
		if a == "--steps" {
			args[i+1] = "15000" // a batch of about half a second
		}
	}
	p, _ := startAndWait(t, out, args)
	time.Sleep(100 * time.Millisecond) // into the second batch
	p.cmd.Process.Signal(syscall.SIGINT)
	time.Sleep(20 * time.Millisecond)
	p.cmd.Process.Signal(syscall.SIGINT)
	code := p.wait()
	stderr := &p.stderr
	re := regexp.MustCompile(`^scorelens: aborted \(the batch in flight is lost\): (\d) of 8 samples are in .*post.fits; continue with the same command and --resume\n$`)
	m := re.FindStringSubmatch(stderr.String())
	if code != 1 || m == nil {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	if k := nDone(t, out); fmt.Sprint(k) != m[1] {
		t.Errorf("message says %s samples, file holds %d", m[1], k)
	}
}

// TestCLIBadInputs: each bad input is one line on stderr and a non-zero exit, and no
// existing file is overwritten.
func TestCLIBadInputs(t *testing.T) {
	dir := t.TempDir()
	lensPath, obsPath := simulated(t, dir, 20)
	otherLens, _ := simulated(t, dir, 24)
	good := filepath.Join(dir, "good.fits")
	if msg, code := runCLI(t, "sample", "--prior", "white:sigma=0.5", "--lens", lensPath, "--obs", obsPath,
		"--steps", "20", "--samples", "2", "--out", good, "--quiet"); code != 0 {
		t.Fatalf("exit %d: %s", code, msg)
	}
	goodBytes, _ := os.ReadFile(good)
	foreign := filepath.Join(dir, "notes.txt")
	os.WriteFile(foreign, []byte("keep me"), 0o644)
	base := func(out string, extra ...string) []string {
		a := []string{"sample", "--prior", "white:sigma=0.5", "--lens", lensPath, "--obs", obsPath,
			"--steps", "20", "--samples", "2", "--out", out}
		return append(a, extra...)
	}
	fresh := filepath.Join(dir, "fresh.fits")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"missing lens file", append(base(fresh), "--lens", filepath.Join(dir, "none.json")), "none.json"},
		{"missing observation", append(base(fresh), "--obs", filepath.Join(dir, "none.fits")), "none.fits"},
		{"observation size", append(base(fresh), "--lens", otherLens), "observation is 20×20 pixels but lens24.json says image.pixels = 24"},
		{"unknown likelihood", base(fresh, "--likelihood", "exact"), "exact"},
		{"bad shard", base(fresh, "--shard", "4/3"), "--shard"},
		{"other run, no --force", base(good, "--seed", "9"), "holds another run (seed 1 vs 9"},
		{"other run, --resume", base(good, "--seed", "9", "--resume"), "seed 1 vs 9"},
		{"other settings, --resume", base(good, "--steps", "21", "--resume"), "steps 20 vs 21"},
		{"same run complete", base(good), "already holds all 2 samples"},
		{"not a posterior", base(foreign), "not a posterior file"},
	} {
		msg, code := runCLI(t, c.args...)
		if code == 0 {
			t.Errorf("%s: exit 0", c.name)
			continue
		}
		if strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "scorelens: ") {
			t.Errorf("%s: not one line: %q", c.name, msg)
		}
		if !strings.Contains(msg, c.want) {
			t.Errorf("%s: %q does not say %q", c.name, msg, c.want)
		}
		if strings.Contains(msg, "goroutine") || strings.Contains(msg, "panic") {
			t.Errorf("%s: %q", c.name, msg)
		}
	}
	if _, err := os.Stat(fresh); err == nil {
		t.Errorf("a refused run wrote %s", fresh)
	}
	if b, _ := os.ReadFile(good); !bytes.Equal(b, goodBytes) {
		t.Errorf("a refused run changed %s", good)
	}
	if b, _ := os.ReadFile(foreign); string(b) != "keep me" {
		t.Errorf("a refused run changed %s", foreign)
	}
	// --resume of a complete file: nothing to do, exit 0, file unchanged; --force redoes it.
	if msg, code := runCLI(t, base(good, "--resume")...); code != 0 || !strings.Contains(msg, "nothing to do") {
		t.Errorf("resume of a complete run: exit %d, %q", code, msg)
	}
	if msg, code := runCLI(t, base(good, "--seed", "9", "--force", "--quiet")...); code != 0 {
		t.Errorf("--force: exit %d, %q", code, msg)
	}
	if msg, code := runCLI(t, base(foreign, "--force", "--quiet")...); code != 0 {
		t.Errorf("--force over a foreign file: exit %d, %q", code, msg)
	}
}
