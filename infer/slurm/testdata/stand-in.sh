#!/bin/sh
# A stand-in for the scorelens binary in the SLURM test, for the job mechanics alone.
#   stand-in.sh sample ARGS... --samples S --shard k/n [--resume] --out FILE
#     writes FILE: its arguments, one per line between "args" and "end", then one line
#     "sample i" for each index i of shard k, as sample slices: i mod n = k-1 (1 <= k <= n).
#   stand-in.sh merge FILE... --out OUT
#     writes OUT: the "sample" lines of every FILE, sorted by index.
set -eu
cmd=$1
shift
case $cmd in
sample)
  samples=0 shard=0/1 out=
  {
    echo args
    for a in "$@"; do printf '%s\n' "$a"; done
    echo end
  } > "${TMPDIR:-/tmp}/stand-in.$$"
  while [ $# -gt 0 ]; do
    case $1 in
    --samples) samples=$2; shift ;;
    --shard) shard=$2; shift ;;
    --out) out=$2; shift ;;
    esac
    shift
  done
  k=${shard%/*} n=${shard#*/}
  [ "$k" -ge 1 ] && [ "$k" -le "$n" ] || { echo "stand-in: bad --shard $shard" >&2; exit 2; }
  i=$((k - 1))
  while [ "$i" -lt "$samples" ]; do
    echo "sample $i" >> "${TMPDIR:-/tmp}/stand-in.$$"
    i=$((i + n))
  done
  mv "${TMPDIR:-/tmp}/stand-in.$$" "$out"
  ;;
merge)
  out= files=
  tmp="${TMPDIR:-/tmp}/stand-in-merge.$$"
  : > "$tmp"
  while [ $# -gt 0 ]; do
    case $1 in
    --out) out=$2; shift ;;
    *) grep '^sample ' "$1" >> "$tmp" ;;
    esac
    shift
  done
  sort -n -k 2 "$tmp" > "$out"
  rm -f "$tmp"
  ;;
*)
  echo "stand-in: unknown command $cmd" >&2
  exit 2
  ;;
esac
