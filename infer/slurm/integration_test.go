package slurm

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"scorelens/lens/fitsimg"
)

// terminal are the job states after which SLURM runs nothing more for a job.
var terminal = map[string]bool{"COMPLETED": true, "FAILED": true, "CANCELLED": true, "TIMEOUT": true,
	"NODE_FAIL": true, "OUT_OF_MEMORY": true, "PREEMPTED": true, "BOOT_FAIL": true, "DEADLINE": true}

// waitJobs polls squeue until every job of the cluster whose name starts with prefix is
// in a terminal state, and returns each one's state by name and array task ("name[_k]").
// There is no sacct without slurmdbd; MinJobAge keeps finished jobs in squeue.
func (c *cluster) waitJobs(t *testing.T, ctx context.Context, prefix string, want int) map[string]string {
	t.Helper()
	var last string
	for {
		out, err := c.command(ctx, "squeue", "-h", "-r", "-t", "all", "-o", "%j|%K|%T|%r").Output()
		if err != nil {
			t.Fatalf("squeue: %v%s", err, c.logs())
		}
		last = string(out)
		states := map[string]string{}
		done := true
		for _, l := range strings.Split(strings.TrimSpace(last), "\n") {
			f := strings.Split(l, "|")
			if len(f) != 4 || !strings.HasPrefix(f[0], prefix) {
				continue
			}
			key := f[0]
			if f[1] != "N/A" {
				key += "_" + f[1]
			}
			for states[key] != "" { // a second job of the same name, e.g. a merge job submitted twice
				key += "+"
			}
			states[key] = f[2]
			done = done && terminal[f[2]]
		}
		if done && len(states) >= want {
			return states
		}
		select {
		case <-ctx.Done():
			t.Fatalf("jobs %s* not done in time; squeue -t all:\n%s%s", prefix, last, c.logs())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// requireCompleted fails with the jobs' logs unless every job in states completed.
func requireCompleted(t *testing.T, states map[string]string, logs string) {
	t.Helper()
	for k, s := range states {
		if s != "COMPLETED" {
			var b strings.Builder
			files, _ := filepath.Glob(filepath.Join(logs, "*.out"))
			for _, f := range files {
				out, _ := os.ReadFile(f)
				fmt.Fprintf(&b, "\n--- %s:\n%s", filepath.Base(f), lastLines(out, 10))
			}
			t.Fatalf("job %s ended %s (all: %v)%s", k, s, states, b.String())
		}
	}
}

var submittedRE = regexp.MustCompile(`submitted array job ([0-9]+) \(([0-9]+) shards\) and merge job ([0-9]+)`)

// TestSLURM starts a single-node SLURM cluster and runs scripts of this package through it:
// with a stand-in binary (both ways of submitting, every argument each shard receives, the
// array range, the merge job's dependency on every shard), then with scorelens itself (a
// four-shard posterior, merged, against the unsharded run).
func TestSLURM(t *testing.T) {
	skipUnlessRoot(t)
	begin := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := startCluster(t, ctx)
	t.Logf("cluster up in %.1f s", time.Since(begin).Seconds())
	t.Run("stand-in", func(t *testing.T) { standInRuns(t, ctx, c) })
	t.Run("posterior", func(t *testing.T) { posteriorRun(t, ctx, c) })
	t.Logf("total %.1f s (cluster start, jobs, stop: see the cleanup after this line)", time.Since(begin).Seconds())
}

// standInRuns runs the script with a stand-in for scorelens that records its arguments.
func standInRuns(t *testing.T, ctx context.Context, c *cluster) {
	standIn, err := filepath.Abs(filepath.Join("testdata", "stand-in.sh"))
	if err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(c.dir, "work dir")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	sampleArgs := []string{"--prior", "white:sigma=0.3", "--lens", "it's a lens.json", "--obs", "$HOME/*.fits", "--seed", "11"}

	for _, mode := range []string{"bash", "sbatch"} {
		t.Run(mode, func(t *testing.T) {
			t0 := time.Now()
			j := Job{Samples: 10, Shards: 4, Binary: standIn, OutDir: filepath.Join(work, "out "+mode),
				WorkDir: work, JobName: "standin-" + mode, Time: "5:00", SampleArgs: sampleArgs}
			j.Merged = filepath.Join(j.OutDir, "posterior.txt")
			script := filepath.Join(work, "job-"+mode+".sh")
			f, err := os.Create(script)
			if err != nil {
				t.Fatal(err)
			}
			if err := WriteScript(f, j); err != nil {
				t.Fatal(err)
			}
			f.Close()
			out, err := c.command(ctx, mode, script).CombinedOutput()
			if err != nil {
				t.Fatalf("%s %s: %v: %s", mode, script, err, out)
			}
			if mode == "bash" && !submittedRE.Match(out) {
				t.Fatalf("bash job.sh printed %q", out)
			}
			states := c.waitJobs(t, ctx, j.JobName, 5)
			requireCompleted(t, states, filepath.Join(j.OutDir, "logs"))
			want := map[string]string{j.JobName + "-merge": "COMPLETED"}
			for k := 1; k <= 4; k++ {
				want[fmt.Sprintf("%s_%d", j.JobName, k)] = "COMPLETED"
			}
			if !reflect.DeepEqual(states, want) {
				t.Fatalf("jobs %v, want %v", states, want)
			}
			for k := 1; k <= 4; k++ {
				b, err := os.ReadFile(ShardFile(j.OutDir, k))
				if err != nil {
					t.Fatal(err)
				}
				args, _, _ := strings.Cut(string(b), "\nend\n")
				wantArgs := append(append([]string{"args"}, sampleArgs...), "--samples", "10", "--shard", fmt.Sprintf("%d/4", k), "--resume", "--out", ShardFile(j.OutDir, k))
				if got := strings.Split(args, "\n"); !reflect.DeepEqual(got, wantArgs) {
					t.Errorf("shard %d ran with %q, want %q", k, got, wantArgs)
				}
			}
			merged, err := os.ReadFile(j.Merged)
			if err != nil {
				t.Fatalf("no merged file: %v", err)
			}
			var wantMerged strings.Builder
			for i := range 10 {
				fmt.Fprintf(&wantMerged, "sample %d\n", i)
			}
			if string(merged) != wantMerged.String() {
				t.Errorf("merged %q, want %q", merged, wantMerged.String())
			}
			t.Logf("%s: 4 shards and the merge done in %.1f s", mode, time.Since(t0).Seconds())
		})
	}
}

// goTool is the go command that runs this test.
func goTool(t *testing.T) string {
	t.Helper()
	if g := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(g) {
		return g
	}
	g, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command to build scorelens: %v", err)
	}
	return g
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// posteriorRun builds scorelens, simulates a 16×16 lens, draws 8 samples unsharded and in
// 4 shards through SLURM, and checks every shard's samples, and the merged file, against
// the unsharded run: the same seed and batch size give the same samples bit for bit.
func posteriorRun(t *testing.T, ctx context.Context, c *cluster) {
	t0 := time.Now()
	work := filepath.Join(c.dir, "posterior run")
	bin := filepath.Join(c.dir, "bin", "scorelens")
	build := exec.CommandContext(ctx, goTool(t), "build", "-o", bin, "scorelens/cmd/scorelens")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build scorelens: %v: %s", err, out)
	}
	t.Logf("built scorelens in %.1f s", time.Since(t0).Seconds())
	lensJSON, err := os.ReadFile(filepath.Join("testdata", "lens-tiny.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "lens tiny.json"), lensJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Dir = work
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("scorelens %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	run("simulate", "--lens", "lens tiny.json", "--seed", "3", "--out", "obs.fits")
	// Relative paths: every job runs in the directory the script was written from.
	args := []string{"--prior", "white:sigma=0.3", "--lens", "lens tiny.json", "--obs", "obs.fits",
		"--likelihood", "paper", "--steps", "40", "--batch", "2", "--seed", "5"}
	t1 := time.Now()
	run(append(append([]string{"sample"}, args...), "--samples", "8", "--quiet", "--out", "unsharded.fits")...)
	t.Logf("unsharded run of 8 samples: %.1f s", time.Since(t1).Seconds())
	ref := readImage(t, filepath.Join(work, "unsharded.fits"), "SAMPLES")

	// submit writes the script for job name and runs `bash job.sh`; the jobs must complete.
	submit := func(name string) {
		t.Helper()
		j := Job{Samples: 8, Shards: 4, Binary: bin, OutDir: filepath.Join(work, "shards"), WorkDir: work,
			JobName: name, Time: "5:00", SampleArgs: args, Merged: filepath.Join(work, "posterior.fits")}
		var script strings.Builder
		if err := WriteScript(&script, j); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(work, name+".sh")
		if err := os.WriteFile(path, []byte(script.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		out, err := c.command(ctx, "bash", path).CombinedOutput()
		if err != nil || !submittedRE.Match(out) {
			t.Fatalf("bash %s.sh: %v: %s", name, err, out)
		}
		states := c.waitJobs(t, ctx, name, 5)
		requireCompleted(t, states, filepath.Join(j.OutDir, "logs"))
		if len(states) != 5 {
			t.Fatalf("jobs %v, want 4 shards and one merge", states)
		}
		t.Logf("%s: 4 shards and the merge job done in %.1f s after submission", name, time.Since(t0).Seconds())
	}
	check := func() {
		t.Helper()
		dir := filepath.Join(work, "shards")
		n := ref.Axes[0] * ref.Axes[1]
		seen := map[int]bool{}
		for k := 1; k <= 4; k++ {
			f := ShardFile(dir, k)
			s := readImage(t, f, "SAMPLES")
			idx := readImage(t, f, "INDEX")
			if got, _ := s.Header.String("SHARD"); got != fmt.Sprintf("%d/4", k) {
				t.Errorf("%s: SHARD %q, want %d/4", filepath.Base(f), got, k)
			}
			if len(idx.Data) != 2 {
				t.Fatalf("%s holds %d samples, want 2", filepath.Base(f), len(idx.Data))
			}
			for p, v := range idx.Data {
				i := int(v)
				seen[i] = true
				if i%4 != k-1 {
					t.Errorf("%s holds sample %d, which belongs to shard %d", filepath.Base(f), i, i%4+1)
				}
				if !reflect.DeepEqual(s.Data[p*n:(p+1)*n], ref.Data[i*n:(i+1)*n]) {
					t.Errorf("%s: sample %d differs from the unsharded run", filepath.Base(f), i)
				}
			}
		}
		if len(seen) != 8 {
			t.Errorf("the shards hold samples %v, want 0..7", seen)
		}
		// merge promises the unsharded run's file; at least its samples and their mean.
		merged := filepath.Join(work, "posterior.fits")
		m := readImage(t, merged, "SAMPLES")
		if !reflect.DeepEqual(m.Axes, ref.Axes) || !reflect.DeepEqual(m.Data, ref.Data) {
			t.Errorf("merged SAMPLES (axes %v) differ from the unsharded run's (axes %v)", m.Axes, ref.Axes)
		}
		mm, rm := readImage(t, merged, "MEAN"), readImage(t, filepath.Join(work, "unsharded.fits"), "MEAN")
		if !reflect.DeepEqual(mm.Data, rm.Data) {
			t.Errorf("merged MEAN differs from the unsharded run's")
		}
		a, err1 := os.ReadFile(merged)
		b, err2 := os.ReadFile(filepath.Join(work, "unsharded.fits"))
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Errorf("merged file is not byte-identical to the unsharded run's (%d and %d bytes)", len(a), len(b))
		}
	}
	submit("posterior")
	check()
	// Submitted again, every task resumes a complete shard and the merge repeats.
	submit("again")
	check()
	t.Logf("posterior: %.1f s in all", time.Since(t0).Seconds())
}

func readImage(t *testing.T, path, name string) *fitsimg.Image {
	t.Helper()
	im, err := fitsimg.ReadImage(path, name)
	if err != nil {
		t.Fatal(err)
	}
	return im
}
