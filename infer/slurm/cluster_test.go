package slurm

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A single-node SLURM cluster for tests: munged, slurmctld and slurmd from Debian's
// packages, started in the foreground as children of the test process, listening on
// 127.0.0.1 only, with every file (configuration, munge key and socket, state, spool,
// logs) in one temporary directory. stop ends each daemon by its PID and removes the
// directory; startCluster registers it with t.Cleanup, so a failing test stops them too,
// and the daemons get SIGKILL from the kernel (parent-death signal) should the test
// process die without cleaning up.

// packages Debian's slurm-wlm and munge provide, and setpriv (util-linux).
var clusterTools = []string{"munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scancel", "scontrol", "setpriv"}

type cluster struct {
	dir  string
	conf string
	env  []string // os.Environ with SLURM_CONF set, for client commands

	daemons []*daemon
}

type daemon struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when cmd.Wait returned
	err  error
}

// skipUnlessRoot skips when the cluster cannot be started here at all.
func skipUnlessRoot(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skipf("the SLURM test needs Linux, not %s", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		t.Skip("the SLURM test needs root: it installs slurm-wlm and munge with apt-get and runs munged as the munge user")
	}
}

// installSLURM installs slurm-wlm and munge with apt-get when one of the tools is missing,
// running apt-get update first when the packages are not found. It keeps the packages'
// scripts from starting the system's daemons.
func installSLURM(t *testing.T, ctx context.Context) {
	t.Helper()
	var missing []string
	for _, c := range clusterTools {
		if _, err := exec.LookPath(c); err != nil {
			missing = append(missing, c)
		}
	}
	if _, err := user.Lookup("munge"); err != nil {
		missing = append(missing, "user munge")
	}
	if len(missing) == 0 {
		return
	}
	t.Logf("installing slurm-wlm and munge (missing: %s)", strings.Join(missing, ", "))
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Fatalf("%s missing and no apt-get to install slurm-wlm and munge", strings.Join(missing, ", "))
	}
	// Without systemd, the packages' maintainer scripts would start the daemons through
	// invoke-rc.d; a policy-rc.d that answers 101 forbids that. Only one we wrote is removed.
	const policy = "/usr/sbin/policy-rc.d"
	if _, err := os.Lstat(policy); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(policy, []byte("#!/bin/sh\n# written by the scorelens SLURM test while it installs packages\nexit 101\n"), 0o755); err == nil {
			defer os.Remove(policy)
		}
	}
	apt := func(args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, "apt-get", append([]string{"-o", "DPkg::Lock::Timeout=300", "-q"}, args...)...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return cmd.CombinedOutput()
	}
	install := []string{"install", "-y", "--no-install-recommends", "slurm-wlm", "munge"}
	if out, err := apt(install...); err != nil {
		t.Logf("apt-get install failed (%v), running apt-get update: %s", err, lastLines(out, 5))
		if out, err := apt("update"); err != nil {
			t.Fatalf("apt-get update: %v: %s", err, lastLines(out, 5))
		}
		if out, err := apt(install...); err != nil {
			t.Fatalf("apt-get install slurm-wlm munge: %v: %s", err, lastLines(out, 5))
		}
	}
	for _, c := range clusterTools {
		if _, err := exec.LookPath(c); err != nil {
			t.Fatalf("%s still missing after installing slurm-wlm and munge", c)
		}
	}
}

// freePorts returns n distinct TCP ports on 127.0.0.1 that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("could not find a free port: %v", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// nodeLine is slurmd -C's description of this machine (CPUs, sockets, cores, threads,
// memory) for a node named localhost at 127.0.0.1.
func nodeLine(t *testing.T, ctx context.Context) string {
	t.Helper()
	out, err := exec.CommandContext(ctx, "slurmd", "-C").Output()
	if err != nil {
		t.Fatalf("slurmd -C: %v", err)
	}
	line, _, _ := strings.Cut(string(out), "\n")
	f := strings.Fields(line)
	if len(f) < 2 || !strings.HasPrefix(f[0], "NodeName=") {
		t.Fatalf("slurmd -C printed %q", out)
	}
	return "NodeName=localhost NodeAddr=127.0.0.1 " + strings.Join(f[1:], " ") + " State=UNKNOWN"
}

const slurmConf = `# single-node test cluster of scorelens/infer/slurm, on 127.0.0.1 only
ClusterName=scorelenstest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={{ctldport}}
SlurmdPort={{dport}}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={{dir}}/munge/munge.socket
CredType=cred/munge
StateSaveLocation={{dir}}/state
SlurmdSpoolDir={{dir}}/spool
SlurmctldPidFile={{dir}}/run/slurmctld.pid
SlurmdPidFile={{dir}}/run/slurmd.pid
SlurmctldLogFile={{dir}}/log/slurmctld.log
SlurmdLogFile={{dir}}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MinJobAge=600
KillWait=5
{{node}}
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
`

// startCluster starts the cluster and waits until its node is idle.
func startCluster(t *testing.T, ctx context.Context) *cluster {
	t.Helper()
	skipUnlessRoot(t)
	installSLURM(t, ctx)
	mungeUser, err := user.Lookup("munge")
	if err != nil {
		t.Fatalf("no munge user: %v", err)
	}
	muid, _ := strconv.Atoi(mungeUser.Uid)
	mgid, _ := strconv.Atoi(mungeUser.Gid)

	// Orphans of the daemons (slurmstepd detaches from slurmd) become children of this
	// process, so that stop can find and reap every one of them.
	if err := setChildSubreaper(); err != nil {
		t.Logf("could not become a child subreaper: %v", err)
	}

	dir, err := os.MkdirTemp("", "scorelens-slurm-")
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{dir: dir, conf: filepath.Join(dir, "slurm.conf")}
	t.Cleanup(func() { c.stop(t) })
	// munged, running as munge, must reach its socket: every directory on the way has to be
	// searchable by others, and the key's directory writable by nobody else.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"munge", "state", "spool", "run", "log"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	key := make([]byte, 1024)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "munge", "munge.key")
	if err := os.WriteFile(keyFile, key, 0o400); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(dir, "munge"), keyFile} {
		if err := os.Chown(p, muid, mgid); err != nil {
			t.Fatal(err)
		}
	}

	ports := freePorts(t, 2)
	conf := strings.NewReplacer("{{dir}}", dir, "{{ctldport}}", strconv.Itoa(ports[0]),
		"{{dport}}", strconv.Itoa(ports[1]), "{{node}}", nodeLine(t, ctx)).Replace(slurmConf)
	if err := os.WriteFile(c.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	c.env = append(clean(os.Environ()), "SLURM_CONF="+c.conf)

	socket := filepath.Join(dir, "munge", "munge.socket")
	c.start(t, "munged", "setpriv", "--reuid="+mungeUser.Uid, "--regid="+mungeUser.Gid, "--clear-groups",
		"--pdeathsig=KILL", "--", "munged", "-F", "--socket="+socket, "--key-file="+keyFile,
		"--log-file="+filepath.Join(dir, "munge", "munged.log"), "--pid-file="+filepath.Join(dir, "munge", "munged.pid"),
		"--seed-file="+filepath.Join(dir, "munge", "munged.seed"))
	c.waitFor(t, ctx, 20*time.Second, "munged's socket", func() bool {
		_, err := os.Stat(socket)
		return err == nil
	})
	c.start(t, "slurmctld", "slurmctld", "-D", "-f", c.conf)
	c.start(t, "slurmd", "slurmd", "-D", "-N", "localhost", "-f", c.conf)
	c.waitFor(t, ctx, 60*time.Second, "the node to be idle", func() bool {
		out, err := c.command(ctx, "sinfo", "-h", "-n", "localhost", "-o", "%t").Output()
		return err == nil && strings.TrimSpace(string(out)) == "idle"
	})
	return c
}

// start runs a daemon in the foreground with its output in dir/log/NAME.out; the kernel
// sends it SIGKILL if this process dies.
func (c *cluster) start(t *testing.T, name string, args ...string) {
	t.Helper()
	d := &daemon{name: name, log: filepath.Join(c.dir, "log", name+".out"), done: make(chan struct{})}
	f, err := os.Create(d.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d.cmd = exec.Command(args[0], args[1:]...)
	d.cmd.Env = c.env
	d.cmd.Dir = c.dir
	d.cmd.Stdout, d.cmd.Stderr = f, f
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("could not start %s: %v", name, err)
	}
	c.daemons = append(c.daemons, d)
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
}

// waitFor polls ok until it holds, a daemon exits or the timeout passes.
func (c *cluster) waitFor(t *testing.T, ctx context.Context, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		for _, d := range c.daemons {
			select {
			case <-d.done:
				t.Fatalf("%s exited (%v) while waiting for %s: %s", d.name, d.err, what, c.logs())
			default:
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("gave up waiting %v for %s: %s", timeout, what, c.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// command is a SLURM client command against this cluster.
func (c *cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = c.env
	return cmd
}

// logs is the end of every daemon's log, for failure messages.
func (c *cluster) logs() string {
	var b strings.Builder
	for _, f := range []string{"munged.out", "slurmctld.out", "slurmd.out", "slurmctld.log", "slurmd.log"} {
		out, err := os.ReadFile(filepath.Join(c.dir, "log", f))
		if err == nil && len(out) > 0 {
			fmt.Fprintf(&b, "\n--- %s:\n%s", f, lastLines(out, 8))
		}
	}
	return b.String()
}

// stop cancels every job, ends the daemons by PID (SIGTERM, SIGKILL after 10 s), ends and
// reaps any process they left behind, checks that none is left and removes the directory.
func (c *cluster) stop(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if len(c.daemons) == 3 { // the controller is up: cancel the jobs, let slurmd end its steps
		if out, err := c.command(ctx, "scancel", "--full", "--user=root").CombinedOutput(); err != nil {
			t.Logf("scancel: %v: %s", err, out)
		}
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			out, err := c.command(ctx, "squeue", "-h", "-o", "%i").Output()
			if err != nil || len(bytes.TrimSpace(out)) == 0 {
				break
			}
		}
	}
	var pids []int
	for i := len(c.daemons) - 1; i >= 0; i-- {
		d := c.daemons[i]
		pids = append(pids, d.cmd.Process.Pid)
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(10 * time.Second):
			t.Logf("%s (pid %d) ignored SIGTERM for 10 s; killing it", d.name, d.cmd.Process.Pid)
			d.cmd.Process.Kill()
			<-d.done
		}
	}
	// Whatever the daemons left behind was adopted by this process (subreaper).
	// Exited ones (zombies) are only reaped; running ones are killed first.
	for _, o := range orphans() {
		if o.state != "Z" {
			t.Logf("killing pid %d (%s, state %s) left behind by the cluster", o.pid, comm(o.pid), o.state)
			syscall.Kill(o.pid, syscall.SIGKILL)
		}
		pids = append(pids, o.pid)
		var ws syscall.WaitStatus
		syscall.Wait4(o.pid, &ws, 0, nil)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("pid %d (%s) still exists after stopping the cluster", pid, comm(pid))
		}
	}
	if t.Failed() {
		t.Logf("cluster logs:%s", c.logs())
	}
	if err := os.RemoveAll(c.dir); err != nil {
		t.Errorf("could not remove %s: %v", c.dir, err)
	}
}

// orphans lists the children of this process that no exec.Cmd of ours waits for: with
// the subreaper flag set, everything the daemons forked and left behind.
func orphans() []struct {
	pid   int
	state string
} {
	ents, _ := os.ReadDir("/proc")
	me := os.Getpid()
	var o []struct {
		pid   int
		state string
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 1 {
			if ppid, _ := strconv.Atoi(f[1]); ppid == me {
				o = append(o, struct {
					pid   int
					state string
				}{pid, f[0]})
			}
		}
	}
	return o
}

func comm(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return "gone"
	}
	return strings.TrimSpace(string(b))
}

// setChildSubreaper makes this process adopt its orphaned descendants (prctl
// PR_SET_CHILD_SUBREAPER).
func setChildSubreaper() error {
	const prSetChildSubreaper = 36
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); e != 0 {
		return e
	}
	return nil
}

func lastLines(b []byte, n int) string {
	l := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
