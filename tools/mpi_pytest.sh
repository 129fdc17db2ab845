#!/usr/bin/env bash
# Run the tests marked `mpi` on N ranks (default 2): rank 0 prints, the other
# ranks log to files that are shown when a rank fails.
set -u
cd "$(dirname "$0")/.."
N=${BDA_HPC_TEST_RANKS:-2}
PY=${PY:-.venv/bin/python}
LOGDIR=$(mktemp -d)
$($PY -m bda_hpc.launch -n "$N") bash -c '
  rank=${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-0}}
  if [ "$rank" = 0 ]; then exec '"$PY"' -m pytest -p no:cacheprovider --color=no -m mpi "$@"
  else exec '"$PY"' -m pytest -p no:cacheprovider -q -m mpi "$@" >'"$LOGDIR"'/rank$rank.log 2>&1; fi' _ "$@"
rc=$?
if [ $rc -ne 0 ]; then
  for f in "$LOGDIR"/rank*.log; do [ -f "$f" ] && { echo "---- $f"; tail -50 "$f"; }; done
fi
rm -rf "$LOGDIR"
# pytest's 5 means no test carried the mark: not a failure of the suite.
[ $rc -eq 5 ] && exit 0
exit $rc
