package slurm

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// awkward holds arguments that break naive quoting.
var awkward = []string{
	"", " ", "plain", "two words", "it's", `"double"`, "$HOME", "${x:-y}", "`id`", "$(id)",
	"a\\b", "*", "?", "[ab]", "~", "~user", "#hash", "a;b", "a|b", "a&b", "a>b", "<", "!",
	"line\nbreak", "tab\there", "é ünïcode", "--flag=it's", "-", "--", "'", "''", "a'b'c",
}

// words runs script in shell and returns the words it printed NUL-separated.
func words(t *testing.T, shell, script string) []string {
	t.Helper()
	out, err := exec.Command(shell, "-c", script).Output()
	if err != nil {
		t.Fatalf("%s -c %q: %v", shell, script, err)
	}
	w := strings.Split(string(out), "\x00")
	return w[:len(w)-1]
}

func TestQuoteRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := append([]string(nil), awkward...)
	for range 200 {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = byte(1 + rng.IntN(127)) // every ASCII byte but NUL, which no argument holds
		}
		cases = append(cases, string(b))
	}
	for _, shell := range []string{"bash", "sh"} {
		if _, err := exec.LookPath(shell); err != nil {
			t.Logf("%s not found: %v", shell, err)
			continue
		}
		got := words(t, shell, `printf '%s\0' `+QuoteAll(cases))
		if !reflect.DeepEqual(got, cases) {
			for i := range cases {
				if i >= len(got) || got[i] != cases[i] {
					t.Fatalf("%s: argument %d %q came back as %q", shell, i, cases[i], got[i:min(i+1, len(got))])
				}
			}
			t.Fatalf("%s: %d arguments came back as %d", shell, len(cases), len(got))
		}
	}
	for s, want := range map[string]string{"": "''", "a/b-c_d.fits": "a/b-c_d.fits", "white:sigma=0.3": "white:sigma=0.3", "a b": "'a b'", "it's": `'it'\''s'`} {
		if got := Quote(s); got != want {
			t.Errorf("Quote(%q) = %s, want %s", s, got, want)
		}
	}
}

func testJob(dir string) Job {
	return Job{
		Samples: 8, Shards: 4,
		Binary: filepath.Join(dir, "bin", "scorelens"), OutDir: filepath.Join(dir, "out dir"),
		Merged: filepath.Join(dir, "out dir", "post.fits"), WorkDir: dir,
		SampleArgs: []string{"--prior", "white:sigma=0.3", "--lens", "it's a lens.json", "--obs", "$HOME/o*.fits", "--seed", "7"},
	}
}

func directives(script []byte) []string {
	var d []string
	for _, l := range strings.Split(string(script), "\n") {
		if s, ok := strings.CutPrefix(l, "#SBATCH "); ok {
			d = append(d, s)
		}
	}
	return d
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestScriptDirectives(t *testing.T) {
	for _, tc := range []struct {
		name      string
		edit      func(*Job)
		want, not []string
	}{
		{"cpu", func(j *Job) {}, []string{"--array=1-4", "--job-name=scorelens", "--ntasks=1", "--open-mode=append"},
			[]string{"--gres=gpu:1", "--partition=", "--time=", "--mem=", "--account=", "--cpus-per-task="}},
		{"paper", func(j *Job) {
			j.Samples, j.Shards, j.GPU = 320, 80, true
			j.Partition, j.Time, j.Mem, j.Account, j.CPUsPerTask, j.JobName = "gpu,gpu-long", "04:00:00", "16G", "astro_1", 4, "lens42"
		}, []string{"--array=1-80", "--gres=gpu:1", "--partition=gpu,gpu-long", "--time=04:00:00", "--mem=16G",
			"--account=astro_1", "--cpus-per-task=4", "--job-name=lens42"}, nil},
		{"one shard", func(j *Job) { j.Shards = 1 }, []string{"--array=1-1"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := testJob("/data/run")
			tc.edit(&j)
			s, err := j.Script()
			if err != nil {
				t.Fatal(err)
			}
			d := directives(s)
			for _, w := range tc.want {
				if !has(d, w) {
					t.Errorf("no #SBATCH %s in %q", w, d)
				}
			}
			for _, w := range tc.not {
				for _, x := range d {
					if strings.HasPrefix(x, w) {
						t.Errorf("unexpected #SBATCH %s", x)
					}
				}
			}
			if !has(d, `--output="/data/run/out dir/logs/shard-%3a.out"`) || !has(d, "--chdir=/data/run") {
				t.Errorf("log or working directory directive missing or unquoted: %q", d)
			}
			if gpu := strings.Contains(string(s), "sample_args=(--device cuda "); gpu != j.GPU {
				t.Errorf("--device cuda in the sample arguments: %v, want %v", gpu, j.GPU)
			}
			// Directives must come before the first command, or sbatch ignores them.
			if i, k := strings.LastIndex(string(s), "#SBATCH"), strings.Index(string(s), "\nif "); i > k {
				t.Errorf("an #SBATCH line follows the first command")
			}
			if out, err := exec.Command("bash", "-n", "-c", string(s)).CombinedOutput(); err != nil {
				t.Errorf("bash -n: %v: %s", err, out)
			}
		})
	}
}

func TestCheckRefuses(t *testing.T) {
	for _, tc := range []struct {
		edit func(*Job)
		want string
	}{
		{func(j *Job) { j.Samples = 0 }, "--samples must be at least 1"},
		{func(j *Job) { j.Shards = 0 }, "--shards must be at least 1"},
		{func(j *Job) { j.Shards = 9 }, "9 shards for 8 samples"},
		{func(j *Job) { j.CPUsPerTask = -1 }, "--cpus-per-task must not be negative"},
		{func(j *Job) { j.Time = "4h" }, `--time "4h" is not a SLURM time`},
		{func(j *Job) { j.Mem = "8 GB" }, `--mem "8 GB"`},
		{func(j *Job) { j.Partition = "gpu\n#SBATCH --x" }, "--partition"},
		{func(j *Job) { j.Account = "a b" }, "--account"},
		{func(j *Job) { j.Binary = "bin/scorelens" }, `binary "bin/scorelens" is not an absolute path`},
		{func(j *Job) { j.OutDir = "/data/100%" }, `holds '%'`},
		{func(j *Job) { j.WorkDir = `/data/"q"` }, `holds '"'`},
		{func(j *Job) { j.Merged = "/data/a\nb.fits" }, "control character"},
		{func(j *Job) { j.SampleArgs = append(j.SampleArgs, "--shard", "1/2") }, "sample flag --shard is set by the script"},
		{func(j *Job) { j.SampleArgs = append(j.SampleArgs, "--out=x.fits") }, "sample flag --out"},
		{func(j *Job) { j.SampleArgs = append(j.SampleArgs, "-samples", "3") }, "sample flag --samples"},
		{func(j *Job) { j.SampleArgs = append(j.SampleArgs, "--resume") }, "sample flag --resume"},
		{func(j *Job) { j.GPU = true; j.SampleArgs = append(j.SampleArgs, "--device", "cpu") }, "--device conflicts with --gpu"},
	} {
		j := testJob("/data")
		tc.edit(&j)
		_, err := j.Script()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want one containing %q", err, tc.want)
			continue
		}
		if strings.ContainsAny(err.Error(), "\n") {
			t.Errorf("error %q is not one line", err)
		}
	}
	// Values that only look like reserved flags are arguments of other flags: allowed.
	j := testJob("/data")
	j.SampleArgs = append(j.SampleArgs, "--likelihood", "paper", "--output-name", "score", "--device", "cpu")
	if _, err := j.Script(); err != nil {
		t.Errorf("valid sample flags refused: %v", err)
	}
}

// fakeCluster puts stand-ins for sbatch and scorelens in dir: each call of either writes
// its arguments, NUL-separated, to dir/calls/NNN-NAME; sbatch prints job IDs 100, 101, ...
func fakeCluster(t *testing.T, dir string) (env []string, calls func() [][]string) {
	t.Helper()
	bin := filepath.Join(dir, "bin")
	log := filepath.Join(dir, "calls")
	for _, d := range []string{bin, log} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	record := `n=$(ls "$FAKE_LOG" | wc -l); f=$(printf '%s/%03d-%s' "$FAKE_LOG" "$n" "$(basename "$0")"); printf '%s\0' "$@" > "$f"` + "\n"
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+record+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("sbatch", `echo "$((100 + n))"`+"\n")
	write("scorelens", "")
	env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "FAKE_LOG="+log)
	env = clean(env)
	return env, func() [][]string {
		ents, err := os.ReadDir(log)
		if err != nil {
			t.Fatal(err)
		}
		var c [][]string
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(log, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			w := strings.Split(string(b), "\x00")
			c = append(c, append([]string{strings.SplitN(e.Name(), "-", 2)[1]}, w[:len(w)-1]...))
			os.Remove(filepath.Join(log, e.Name()))
		}
		return c
	}
}

// clean drops SLURM_* and SCORELENS_* variables, in case the tests run inside a job.
func clean(env []string) []string {
	var e []string
	for _, v := range env {
		if !strings.HasPrefix(v, "SLURM_") && !strings.HasPrefix(v, "SCORELENS_") {
			e = append(e, v)
		}
	}
	return e
}

func runScript(t *testing.T, path string, env []string, extra ...string) string {
	t.Helper()
	cmd := exec.Command("bash", path)
	cmd.Env = append(append([]string(nil), env...), extra...)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash %s %q: %v\n%s", path, extra, err, out)
	}
	return string(out)
}

// TestScriptRuns executes the script the way SLURM and a user would, with stand-ins for
// sbatch and scorelens, and checks every argument each receives.
func TestScriptRuns(t *testing.T) {
	dir := t.TempDir()
	env, calls := fakeCluster(t, dir)
	j := testJob(dir)
	j.SampleArgs = append(j.SampleArgs, awkward...)
	j.Time, j.Partition, j.Mem = "10", "debug", "1G"
	s, err := j.Script()
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "job dir", "job's.sh")
	if err := os.MkdirAll(filepath.Dir(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, s, 0o644); err != nil {
		t.Fatal(err)
	}
	shard := func(k int) []string {
		c := append([]string{"scorelens", "sample"}, j.SampleArgs...)
		return append(c, "--samples", "8", "--shard", fmt.Sprintf("%d/4", k), "--resume", "--out", ShardFile(j.OutDir, k))
	}
	merge := func(array string) []string {
		return []string{"sbatch", "--parsable", "--job-name=scorelens-merge", "--ntasks=1", "--chdir=" + dir,
			"--output=" + filepath.Join(j.OutDir, "logs", "merge-%j.out"), "--open-mode=append",
			"--partition=debug", "--time=10", "--mem=1G", "--dependency=afterok:" + array, "--kill-on-invalid-dep=yes"}
	}

	// bash job.sh: the array with the merge marked as submitted, then the merge job.
	out := runScript(t, script, env)
	c := calls()
	if want := []string{"sbatch", "--parsable", "--export=ALL,SCORELENS_MERGE_SUBMITTED=1", script}; len(c) != 2 || !reflect.DeepEqual(c[0], want) {
		t.Fatalf("bash job.sh: calls %q, want first %q", c, want)
	}
	wrap := c[1][len(c[1])-1]
	if !reflect.DeepEqual(c[1][:len(c[1])-1], merge("100")) || !strings.HasPrefix(wrap, "--wrap=") {
		t.Fatalf("merge submission %q, want %q --wrap=...", c[1], merge("100"))
	}
	if !strings.Contains(out, "array job 100 (4 shards) and merge job 101") {
		t.Errorf("bash job.sh printed %q", out)
	}
	// The wrapped merge command runs under /bin/sh.
	cmd := exec.Command("sh", "-c", strings.TrimPrefix(wrap, "--wrap="))
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("merge command: %v: %s", err, out)
	}
	wantMerge := []string{"scorelens", "merge"}
	for k := 1; k <= 4; k++ {
		wantMerge = append(wantMerge, ShardFile(j.OutDir, k))
	}
	if c := calls(); len(c) != 1 || !reflect.DeepEqual(c[0], append(wantMerge, "--out", j.Merged)) {
		t.Fatalf("merge ran %q, want %q", c, append(wantMerge, "--out", j.Merged))
	}

	// A task of that array runs its shard and submits nothing.
	task := []string{"SLURM_JOB_ID=102", "SLURM_ARRAY_JOB_ID=100", "SCORELENS_MERGE_SUBMITTED=1"}
	runScript(t, script, env, append(task, "SLURM_ARRAY_TASK_ID=2")...)
	if c := calls(); len(c) != 1 || !reflect.DeepEqual(c[0], shard(2)) {
		t.Fatalf("task 2 ran %q, want %q", c, shard(2))
	}

	// sbatch job.sh: the first task submits the merge job, the others do not.
	if err := os.MkdirAll(filepath.Join(j.OutDir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	task = []string{"SLURM_JOB_ID=300", "SLURM_ARRAY_JOB_ID=300"}
	runScript(t, script, env, append(task, "SLURM_ARRAY_TASK_ID=3")...)
	c = calls()
	if len(c) != 2 || !reflect.DeepEqual(c[0][:len(c[0])-1], merge("300")) || !reflect.DeepEqual(c[1], shard(3)) {
		t.Fatalf("first task of sbatch job.sh ran %q", c)
	}
	runScript(t, script, env, append(task, "SLURM_ARRAY_TASK_ID=1")...)
	if c := calls(); len(c) != 1 || !reflect.DeepEqual(c[0], shard(1)) {
		t.Fatalf("second task of sbatch job.sh ran %q, want only its shard", c)
	}

	// sh job.sh hands over to bash; a job that is no array task refuses.
	cmd = exec.Command("sh", script)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "array job") {
		t.Errorf("sh job.sh: %v: %s", err, out)
	}
	calls()
	cmd = exec.Command("bash", script)
	cmd.Env = append(env, "SLURM_JOB_ID=5")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "not an array task") {
		t.Errorf("plain job: %v: %s", err, out)
	}
}

func TestWriteScriptDefaults(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	var b bytes.Buffer
	if err := WriteScript(&b, Job{Samples: 4, Shards: 2, OutDir: "run/out", SampleArgs: []string{"--lens", "l.json"}}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "run", "out", "logs")); err != nil || !fi.IsDir() {
		t.Errorf("logs directory not created: %v", err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe, _ = filepath.EvalSymlinks(exe)
	real, _ := filepath.EvalSymlinks(dir)
	s := b.String()
	for _, want := range []string{
		"scorelens=" + Quote(exe) + "\n",
		"out_dir=" + Quote(filepath.Join(dir, "run", "out")) + "\n",
		"merged=" + Quote(filepath.Join(dir, "run", "out", "posterior.fits")) + "\n",
		"#SBATCH --array=1-2\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q", want)
		}
	}
	if !strings.Contains(s, "#SBATCH --chdir="+dir+"\n") && !strings.Contains(s, "#SBATCH --chdir="+real+"\n") {
		t.Errorf("script does not run in %s", dir)
	}
	if err := WriteScript(&b, Job{Samples: 4, Shards: 2}); err == nil || !strings.Contains(err.Error(), "--out-dir") {
		t.Errorf("no out-dir: error %v", err)
	}
}
