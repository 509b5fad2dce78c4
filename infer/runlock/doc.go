// Package runlock keeps two processes from writing one output file at once.
//
// Long runs (sampling, prior generation) rewrite their output atomically after every
// batch and continue it with --resume. Two such processes on one file — a SLURM array task
// resubmitted while the first still runs, or a --resume typed beside a running job — would
// each rename their own copy over the other's, and whichever wrote last would silently
// drop the other's samples. Acquire takes an exclusive advisory lock on "<output>.lock"
// before the output is read, and fails at once, naming the holder, when another process
// holds it.
//
// The lock is flock(2): the operating system drops it when the process ends, killed or
// not, so a preempted job never leaves a stale lock behind. On file systems that do not
// support it (Lustre mounted without -o flock, some FUSE mounts) and on non-Unix systems
// Acquire returns an unheld Lock and no error, and Held reports false so that callers can
// warn.
package runlock
