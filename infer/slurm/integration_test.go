package slurm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
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

// TestSLURMStandIn runs the generated script through a real SLURM with a stand-in for the
// scorelens binary that records its arguments: both ways of submitting, the arguments each
// shard receives, the array range, the dependency of the merge job on every shard.
func TestSLURMStandIn(t *testing.T) {
	skipUnlessRoot(t)
	begin := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := startCluster(t, ctx)
	t.Logf("cluster up in %.1f s", time.Since(begin).Seconds())

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
				wantArgs := append(append([]string{"args"}, sampleArgs...), "--samples", "10", "--shard", fmt.Sprintf("%d/4", k), "--out", ShardFile(j.OutDir, k))
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
	t.Logf("total %.1f s", time.Since(begin).Seconds())
}
