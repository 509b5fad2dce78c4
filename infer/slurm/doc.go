// Package slurm writes the SLURM batch script that spreads one posterior run of
// `scorelens sample` over many jobs: a job array with one shard per task (task k runs
// `--shard k/n`, k = 1…n, as sample numbers its shards) writing OUT_DIR/shard-00k.fits, and a merge job (`scorelens merge`) that runs once
// every shard has succeeded (`--dependency=afterok`).
//
// The script is submitted with one command, either
//
//	bash job.sh     submits the array and the merge job and prints both job IDs, or
//	sbatch job.sh   submits the array; the first task to start submits the merge job.
//
// Every argument is shell-quoted, so paths and flag values with spaces or quotes arrive at
// `scorelens sample` exactly as they were given. A task that is requeued, or a shard that
// is submitted again, continues its file with `--resume` instead of starting over.
//
// The integration test starts a single-node SLURM cluster (Debian's slurm-wlm and munge,
// installed with apt-get when missing) on 127.0.0.1, runs a four-shard array written by
// this package through it, and compares the merged posterior with an unsharded run.
package slurm
