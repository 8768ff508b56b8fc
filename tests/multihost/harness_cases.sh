#!/usr/bin/env bash
# harness_cases.sh — scripts/two_hosts.sh itself: two hosts, separate scratch, bad input.
#   hosts:    np 4 lands 2 ranks on each host, each rank sees its host's name, and a
#             file written to $FT_SCRATCH on one host is absent on the other;
#   bad:      an unknown host in the hostfile, and a host that cannot be created
#             (a name the kernel refuses): one line each, non-zero, nothing left behind.
# Exit 77 (skip) where the harness cannot create namespaces.
set -uo pipefail
H=scripts/two_hosts.sh
CASE=$1
leftovers() {  # namespaces' holders, veth ends, harness folders
  { pgrep -f 'sleep 2147483647' || true; ip -o link show 2>/dev/null | grep -o 'ftv[0-9]*[ab]' || true
    ls -d "${TMPDIR:-/tmp}"/ft-two-hosts.* 2>/dev/null || true; } | wc -l
}
before=$(leftovers)
case "$CASE" in
  hosts)
    out=$(bash $H -- sh -c '
      $FT_MPIRUN -np 4 sh -c "echo rank \$OMPI_COMM_WORLD_RANK on \$(hostname) local \$OMPI_COMM_WORLD_LOCAL_RANK; \
                              echo \$OMPI_COMM_WORLD_RANK > \$FT_SCRATCH/rank\$OMPI_COMM_WORLD_RANK" || exit 1
      echo "ft-a holds: $(cd $FT_SCRATCH && ls rank* | paste -sd" ")"
      echo "ft-b holds: $($FT_ON_HOST ft-b sh -c "cd $FT_SCRATCH && ls rank*" | paste -sd" ")"' 2>&1)
    rc=$?
    echo "$out"
    [ $rc -ne 77 ] || exit 77
    [ $rc -eq 0 ] || { echo "FAIL: exit $rc"; exit 1; }
    for want in "rank 0 on ft-a local 0" "rank 1 on ft-a local 1" "rank 2 on ft-b local 0" "rank 3 on ft-b local 1" \
                "ft-a holds: rank0 rank1" "ft-b holds: rank2 rank3"; do
      echo "$out" | grep -qx "$want" || { echo "FAIL: no line '$want'"; exit 1; }
    done
    echo "ok: 2 ranks on each host, separate scratch folders" ;;
  bad)
    printf 'ft-a slots=2\nft-c slots=2\n' >"${TMPDIR:-/tmp}/ft-hostfile.$$"
    err=$(bash $H --hostfile "${TMPDIR:-/tmp}/ft-hostfile.$$" -- true 2>&1)
    rc=$?
    rm -f "${TMPDIR:-/tmp}/ft-hostfile.$$"
    echo "$err"
    [ $rc -eq 2 ] && [ "$(echo "$err" | wc -l)" -eq 1 ] && echo "$err" | grep -q "ft-hostfile.$$:2: unknown host 'ft-c'" \
      || { echo "FAIL: unknown host not reported in one line (exit $rc)"; exit 1; }
    long=$(printf 'x%.0s' $(seq 1 70))
    err=$(bash $H --hosts "ft-a,$long" -- true 2>&1)
    rc=$?
    echo "$err"
    [ $rc -ne 77 ] || exit 77
    [ $rc -ne 0 ] && [ "$(echo "$err" | wc -l)" -eq 1 ] && echo "$err" | grep -q "cannot create host '$long'" \
      || { echo "FAIL: failed host not reported in one line (exit $rc)"; exit 1; }
    echo "ok: bad input reported in one line" ;;
esac
after=$(leftovers)
[ "$after" -le "$before" ] || { echo "FAIL: the harness left $((after - before)) things behind"; exit 1; }
echo "ok: nothing left behind"
