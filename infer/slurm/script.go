package slurm

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"
)

// Job describes one sharded posterior run: Samples posterior samples of one `scorelens
// sample` invocation split into Shards array tasks, and the merge of their files.
type Job struct {
	Samples int // total number of posterior samples (sample's --samples)
	Shards  int // number of array tasks, one shard each; 1 ≤ Shards ≤ Samples

	GPU         bool   // request one GPU per task (--gres=gpu:1) and run with --device cuda
	Partition   string // --partition, empty for the cluster's default
	Time        string // --time limit of each task and of the merge job, e.g. 04:00:00
	Mem         string // --mem of each task, e.g. 8G
	CPUsPerTask int    // --cpus-per-task of each shard task, 0 for the cluster's default
	Account     string // --account, empty for the user's default
	JobName     string // --job-name; "scorelens" when empty (the merge job adds "-merge")

	Binary  string // absolute path of the scorelens binary on the compute nodes
	OutDir  string // absolute directory of the shard files and logs
	Merged  string // absolute path of the merged posterior file
	WorkDir string // absolute working directory of every job; relative sample arguments resolve here

	SampleArgs []string // arguments of `scorelens sample`, without --samples, --shard, --resume, --out

	// Every task runs sample with --resume: a requeued or resubmitted task continues its
	// shard file (sample starts the file when it is absent).

	Version string // software version, written into the script's header comment
}

// Reserved lists the sample flags the script sets itself, for each shard.
var Reserved = []string{"samples", "shard", "resume", "out"}

var (
	timeRE  = regexp.MustCompile(`^([0-9]+-)?[0-9]+(:[0-9]+){0,2}$|^[0-9]+-[0-9]+$|^(UNLIMITED|INFINITE|unlimited|infinite)$`)
	memRE   = regexp.MustCompile(`^[0-9]+[KMGT]?$`)
	nameRE  = regexp.MustCompile(`^[A-Za-z0-9_.,+:-]+$`)
	flagsRE = regexp.MustCompile(`^--?([A-Za-z0-9][A-Za-z0-9-]*)(=.*)?$`)
)

// Shards are numbered from 1, as `scorelens sample --shard k/n` numbers them (1 ≤ k ≤ n):
// array task k runs shard k/n and writes ShardFile(dir, k).

// ShardFile is the name of shard k's file in dir: dir/shard-NNN.fits (k zero-padded to at
// least three digits, so that the files sort in shard order).
func ShardFile(dir string, k int) string {
	return filepath.Join(dir, fmt.Sprintf("shard-%03d.fits", k))
}

// Check reports the first thing wrong with j: counts, resource values SLURM would refuse,
// relative paths, sample flags the script sets itself, and paths that cannot appear on an
// #SBATCH line.
func (j *Job) Check() error {
	switch {
	case j.Samples < 1:
		return fmt.Errorf("slurm: --samples must be at least 1, not %d", j.Samples)
	case j.Shards < 1:
		return fmt.Errorf("slurm: --shards must be at least 1, not %d", j.Shards)
	case j.Shards > j.Samples:
		return fmt.Errorf("slurm: %d shards for %d samples would leave shards empty", j.Shards, j.Samples)
	case j.CPUsPerTask < 0:
		return fmt.Errorf("slurm: --cpus-per-task must not be negative, not %d", j.CPUsPerTask)
	case j.Time != "" && !timeRE.MatchString(j.Time):
		return fmt.Errorf("slurm: --time %q is not a SLURM time (MM, HH:MM:SS or D-HH:MM:SS)", j.Time)
	case j.Mem != "" && !memRE.MatchString(j.Mem):
		return fmt.Errorf("slurm: --mem %q is not a SLURM memory size (e.g. 8G or 8000M)", j.Mem)
	}
	for _, v := range []struct{ flag, val string }{{"partition", j.Partition}, {"account", j.Account}, {"job-name", j.JobName}} {
		if v.val != "" && !nameRE.MatchString(v.val) {
			return fmt.Errorf("slurm: --%s %q may only hold letters, digits and _.,+:-", v.flag, v.val)
		}
	}
	for _, p := range []struct{ what, path string }{{"binary", j.Binary}, {"out-dir", j.OutDir}, {"merged file", j.Merged}, {"working directory", j.WorkDir}} {
		if !filepath.IsAbs(p.path) {
			return fmt.Errorf("slurm: %s %q is not an absolute path", p.what, p.path)
		}
		if strings.IndexFunc(p.path, unicode.IsControl) >= 0 {
			return fmt.Errorf("slurm: %s %q holds a control character", p.what, p.path)
		}
	}
	// The out-dir and working directory appear on #SBATCH lines, which sbatch reads with
	// its own rules: double quotes group words, % starts a file-name pattern.
	for _, p := range []struct{ what, path string }{{"out-dir", j.OutDir}, {"working directory", j.WorkDir}} {
		if i := strings.IndexFunc(p.path, func(r rune) bool { return r == '"' || r == '\\' || r == '%' || r < ' ' || r == 0x7f }); i >= 0 {
			return fmt.Errorf("slurm: %s %q holds %q, which an #SBATCH line cannot carry", p.what, p.path, p.path[i])
		}
	}
	for _, a := range j.SampleArgs {
		if a == "--" {
			break
		}
		m := flagsRE.FindStringSubmatch(a)
		if m == nil {
			continue
		}
		for _, r := range Reserved {
			if m[1] == r {
				return fmt.Errorf("slurm: sample flag --%s is set by the script for each shard; give it to scorelens slurm or leave it out", r)
			}
		}
		if m[1] == "device" && j.GPU {
			return fmt.Errorf("slurm: sample flag --device conflicts with --gpu, which runs every shard with --device cuda")
		}
	}
	return nil
}

// WriteScript completes j and writes its batch script to w. Empty Binary becomes the
// running executable, empty WorkDir the current directory, empty Merged
// OutDir/posterior.fits; relative paths are made absolute against the current
// directory. It creates OutDir and OutDir/logs, because SLURM opens the log files there
// before a task starts.
func WriteScript(w io.Writer, j Job) error {
	wd, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("slurm: could not find the working directory: %w", err)
	}
	if j.WorkDir == "" {
		j.WorkDir = wd
	}
	if j.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("slurm: could not find the scorelens binary (give --binary): %w", err)
		}
		if exe, err = filepath.EvalSymlinks(exe); err != nil {
			return fmt.Errorf("slurm: could not resolve the scorelens binary (give --binary): %w", err)
		}
		j.Binary = exe
	}
	if j.OutDir == "" {
		return fmt.Errorf("slurm: no output directory (--out-dir)")
	}
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return filepath.Clean(p)
		}
		return filepath.Join(wd, p)
	}
	j.WorkDir, j.Binary, j.OutDir = abs(j.WorkDir), abs(j.Binary), abs(j.OutDir)
	if j.Merged == "" {
		j.Merged = filepath.Join(j.OutDir, "posterior.fits")
	}
	j.Merged = abs(j.Merged)
	b, err := j.Script()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(j.OutDir, "logs"), 0o755); err != nil {
		return fmt.Errorf("slurm: could not create the output directory: %w", err)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("slurm: could not write the script: %w", err)
	}
	return nil
}

// Script renders j's batch script after Check; it touches no file.
func (j *Job) Script() ([]byte, error) {
	if err := j.Check(); err != nil {
		return nil, err
	}
	name := j.JobName
	if name == "" {
		name = "scorelens"
	}
	logs := filepath.Join(j.OutDir, "logs")
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }

	p("#!/bin/bash\n")
	p("# scorelens posterior on SLURM: %d samples in %d shards, then one merge job.\n", j.Samples, j.Shards)
	p("# Written by `scorelens slurm` %s. Submit it with ONE of\n", j.Version)
	p("#     bash %s      submits the shard array and the merge job, prints their IDs\n", "THIS_FILE")
	p("#     sbatch %s    submits the shard array; its first task submits the merge job\n", "THIS_FILE")
	p("# Shards:  %s/shard-NNN.fits, NNN = 001 to %03d = the array task = sample's --shard k\n", j.OutDir, j.Shards)
	p("#          (a requeued or resubmitted shard resumes its file)\n")
	p("# Logs:    %s/\n", logs)
	p("# Result:  %s (after every shard succeeded)\n", j.Merged)
	p("#\n")
	p("#SBATCH --job-name=%s\n", name)
	p("#SBATCH --array=1-%d\n", j.Shards)
	p("#SBATCH --chdir=%s\n", sbatchQuote(j.WorkDir))
	p("#SBATCH --output=%s\n", sbatchQuote(filepath.Join(logs, "shard-%3a.out")))
	p("#SBATCH --open-mode=append\n")
	p("#SBATCH --ntasks=1\n")
	if j.CPUsPerTask > 0 {
		p("#SBATCH --cpus-per-task=%d\n", j.CPUsPerTask)
	}
	if j.GPU {
		p("#SBATCH --gres=gpu:1\n")
	}
	common := j.commonOptions()
	for _, o := range common {
		p("#SBATCH %s\n", o)
	}
	if j.Mem != "" {
		p("#SBATCH --mem=%s\n", j.Mem)
	}
	p("\n")
	// A POSIX sh given this file hands it over to bash.
	p("if [ -z \"${BASH_VERSION:-}\" ]; then exec bash \"$0\" \"$@\"; fi\n")
	p("set -euo pipefail\n\n")

	p("scorelens=%s\n", Quote(j.Binary))
	p("out_dir=%s\n", Quote(j.OutDir))
	p("merged=%s\n", Quote(j.Merged))
	p("samples=%d\n", j.Samples)
	p("shards=%d\n", j.Shards)
	args := append([]string(nil), j.SampleArgs...)
	if j.GPU {
		args = append([]string{"--device", "cuda"}, args...)
	}
	p("sample_args=(%s)\n", QuoteAll(args))
	// The merge job: every shard file by name, so that a missing one is reported by name.
	merge := []string{j.Binary, "merge"}
	for k := 1; k <= j.Shards; k++ {
		merge = append(merge, ShardFile(j.OutDir, k))
	}
	merge = append(merge, "--out", j.Merged)
	mergeOpts := []string{"--parsable", "--job-name=" + name + "-merge", "--ntasks=1",
		"--chdir=" + j.WorkDir, "--output=" + filepath.Join(logs, "merge-%j.out"), "--open-mode=append"}
	mergeOpts = append(mergeOpts, common...)
	if j.Mem != "" {
		mergeOpts = append(mergeOpts, "--mem="+j.Mem)
	}
	p("merge_opts=(%s)\n", QuoteAll(mergeOpts))
	// A quoted here-document keeps the command as it is; Check refused line breaks in paths.
	p("merge_cmd=$(cat <<'SCORELENS_MERGE'\nexec %s\nSCORELENS_MERGE\n)\n\n", QuoteAll(merge))

	p("%s", scriptBody)
	return b.Bytes(), nil
}

// commonOptions are the sbatch options of both the shard tasks and the merge job.
func (j *Job) commonOptions() []string {
	var o []string
	if j.Partition != "" {
		o = append(o, "--partition="+j.Partition)
	}
	if j.Account != "" {
		o = append(o, "--account="+j.Account)
	}
	if j.Time != "" {
		o = append(o, "--time="+j.Time)
	}
	return o
}

// scriptBody dispatches on how the script was started: as an array task, or by bash on a
// login node. Empty arrays are expanded as ${a[@]+"${a[@]}"} for bash < 4.4 under set -u.
const scriptBody = `# submit_merge ARRAY_JOB_ID submits the merge job, which runs once every task of the
# array has succeeded, and prints its job ID.
submit_merge() {
  sbatch "${merge_opts[@]}" --dependency="afterok:$1" --kill-on-invalid-dep=yes --wrap="$merge_cmd"
}

if [[ -n ${SLURM_ARRAY_TASK_ID:-} ]]; then
  # One array task: one shard.
  k=$SLURM_ARRAY_TASK_ID
  if [[ ${SCORELENS_MERGE_SUBMITTED:-} != 1 ]] && mkdir "$out_dir/logs/.merge-$SLURM_ARRAY_JOB_ID" 2>/dev/null; then
    # Started with sbatch: the first task to get here submits the merge job.
    if id=$(submit_merge "$SLURM_ARRAY_JOB_ID"); then
      echo "scorelens: submitted merge job $id (after array job $SLURM_ARRAY_JOB_ID)"
    else
      echo "scorelens: could not submit the merge job; run it after the array: $merge_cmd" >&2
    fi
  fi
  out=$(printf '%s/shard-%03d.fits' "$out_dir" "$k")
  echo "scorelens: shard $k/$shards on $(hostname) -> $out"
  # --resume continues the file of a requeued or resubmitted task, and starts it when absent.
  exec "$scorelens" sample ${sample_args[@]+"${sample_args[@]}"} --samples "$samples" \
    --shard "$k/$shards" --resume --out "$out"
elif [[ -n ${SLURM_JOB_ID:-} ]]; then
  echo "scorelens: this job is not an array task; submit the script with sbatch or run it with bash" >&2
  exit 2
else
  # On a login node: submit the array, then the merge job that waits for it.
  if [[ ! -f $0 ]]; then
    echo "scorelens: save the script to a file and run: bash FILE" >&2
    exit 2
  fi
  command -v sbatch >/dev/null || { echo "scorelens: sbatch not found; run this on a SLURM login node" >&2; exit 2; }
  mkdir -p "$out_dir/logs"
  array=$(sbatch --parsable --export=ALL,SCORELENS_MERGE_SUBMITTED=1 "$0")
  array=${array%%;*}
  merge=$(submit_merge "$array")
  merge=${merge%%;*}
  echo "scorelens: submitted array job $array ($shards shards) and merge job $merge"
  echo "scorelens: follow them with: squeue -j $array,$merge"
  echo "scorelens: the merged posterior will be $merged"
fi
`

// sbatchQuote writes v for an #SBATCH line: in double quotes when it holds white space.
// Check has refused the characters sbatch would misread.
func sbatchQuote(v string) string {
	if strings.ContainsAny(v, " \t") {
		return `"` + v + `"`
	}
	return v
}

// Quote returns s quoted for the POSIX shell so that it is read back as exactly one word
// equal to s: unchanged when it holds only characters no shell treats specially, otherwise
// in single quotes, each ' written as '\”.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_@%+=:,./-", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// QuoteAll quotes each of args and joins them with spaces.
func QuoteAll(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = Quote(a)
	}
	return strings.Join(q, " ")
}
