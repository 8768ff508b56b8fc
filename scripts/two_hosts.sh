#!/usr/bin/env bash
# two_hosts.sh — two hosts on this machine, for multi-host tests over real TCP.
#
# Usage: scripts/two_hosts.sh [--hosts A,B] [--hostfile FILE] [--subnet 10.77.0] -- COMMAND [ARGS...]
#
# Each host is a network + UTS + mount namespace held by one `sleep` process:
#   - its own hostname (default ft-a, ft-b) and an /etc/hosts naming both;
#   - one end of a veth pair (eth0, SUBNET.1 and SUBNET.2), and loopback;
#   - its own scratch folder, seen by its processes at the same path on both
#     hosts ($FT_SCRATCH) and holding nothing of the other host: the folders
#     of both hosts are hidden under a private tmpfs, so nothing is shared
#     but the root filesystem (binaries, data);
#   - its own /dev/shm and TMPDIR (Open MPI's session folder).
# COMMAND runs on the first host, as mpirun's node would, with:
#   FT_MPIRUN        a wrapper: mpirun with the hostfile (2 slots each unless
#                    --hostfile), the launch agent (plm_rsh_agent: enters the
#                    host's namespaces, as ssh would reach a node), btl tcp,self,
#                    pml ob1, TCP OOB and BTL on the veth subnet only, --bind-to none,
#                    and mpi_yield_when_idle (each host counts the machine's cores
#                    as its own, so Open MPI would busy-poll on cores the other
#                    host's ranks need: 4K allreduces took 60 ms instead of 0.4)
#   FT_ON_HOST       FT_ON_HOST HOST CMD... runs CMD on that host
#   FT_SCRATCH       the per-host scratch folder (same path, different contents)
# Exit: COMMAND's status; 77 (skip) when namespaces are unavailable (not root,
# no unshare/ip/nsenter, or the kernel refuses); 2 on bad input, one line each.
# Everything created (namespaces, veth pair, processes left in the hosts,
# folders) is removed on exit, on failure and on a signal too. Traffic goes
# only to loopback or between the two namespaces.
set -uo pipefail

me=two_hosts
hosts=(ft-a ft-b)
hostfile=""
subnet=10.77.0
die() { echo "$me: $*" >&2; exit 2; }
skip() { echo "$me: skipped: $*" >&2; exit 77; }

while [ $# -gt 0 ]; do
  case "$1" in
    --hosts) IFS=, read -r -a hosts <<<"${2:-}"; shift 2 ;;
    --hostfile) hostfile=${2:-}; shift 2 ;;
    --subnet) subnet=${2:-}; shift 2 ;;
    --) shift; break ;;
    *) die "unknown option '$1' (usage: two_hosts.sh [--hosts A,B] [--hostfile FILE] [--subnet 10.77.0] -- COMMAND...)" ;;
  esac
done
[ $# -gt 0 ] || die "no command given (usage: two_hosts.sh [options] -- COMMAND...)"
[ ${#hosts[@]} -eq 2 ] || die "--hosts takes two names, got '${hosts[*]}'"
[[ "$subnet" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "--subnet takes three octets like 10.77.0, got '$subnet'"
if [ -n "$hostfile" ]; then
  [ -r "$hostfile" ] || die "hostfile $hostfile: cannot be read"
  n=0
  while read -r name _; do
    n=$((n + 1))
    case "$name" in ''|'#'*) continue ;; esac
    [ "$name" = "${hosts[0]}" ] || [ "$name" = "${hosts[1]}" ] \
      || die "hostfile $hostfile:$n: unknown host '$name' (the hosts are ${hosts[0]} and ${hosts[1]})"
  done <"$hostfile"
fi

[ "$(id -u)" -eq 0 ] || skip "network namespaces need root"
for tool in unshare nsenter ip mpirun; do command -v "$tool" >/dev/null || skip "$tool not found"; done
probe=$(unshare --net --uts --mount true 2>&1) || skip "the kernel refuses new namespaces (${probe:-unshare failed})"

state=$(mktemp -d "${TMPDIR:-/tmp}/ft-two-hosts.XXXXXX") || die "cannot create a folder under ${TMPDIR:-/tmp}"
veth=ftv$$
pids=()
cleanup() {
  local rc=$? p h ns
  trap - EXIT INT TERM
  # Whatever still runs in the hosts (orted, ranks of a failed job), then the holders.
  if [ ${#pids[@]} -gt 0 ]; then
    ns=$(printf '/proc/%s/ns/net\n' "${pids[@]}" | xargs stat -L -c '%i' 2>/dev/null | tr '\n' ' ')
    for p in $(stat -L -c '%n %i' /proc/[0-9]*/ns/net 2>/dev/null |
               awk -v ns="$ns" 'BEGIN { n = split(ns, a, " "); for (i = 1; i <= n; i++) k[a[i]] = 1 }
                                        ($2 in k) { split($1, f, "/"); print f[3] }'); do
      kill -9 "$p" 2>/dev/null
    done
    for h in "${pids[@]}"; do wait "$h" 2>/dev/null; done
  fi
  ip link del "${veth}a" 2>/dev/null   # only if set-up failed before it moved into a host
  rm -rf "$state"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$state/scratch" "$state/hosts/1/tmp" "$state/hosts/2/tmp" "$state/hosts-hidden"
printf '127.0.0.1 localhost\n%s.1 %s\n%s.2 %s\n' "$subnet" "${hosts[0]}" "$subnet" "${hosts[1]}" >"$state/etc-hosts"
fail() { echo "$me: $*" >&2; exit 1; }

for i in 1 2; do
  h=${hosts[$((i - 1))]}
  # The holder: enters new namespaces, names the host, mounts its folders, sleeps.
  unshare --net --uts --mount --propagation private -- /bin/sh -c '
    set -e
    hostname "$1"
    mount -t tmpfs ft-shm /dev/shm
    mount --bind "$2/etc-hosts" /etc/hosts
    mount --bind "$2/hosts/$3" "$2/scratch"
    mount -t tmpfs ft-hidden "$2/hosts"
    : >"$2/ready-$3"
    exec sleep 2147483647' holder "$h" "$state" "$i" 2>"$state/holder-$i.err" &
  pids+=($!)
  for _ in $(seq 1 100); do
    [ -e "$state/ready-$i" ] && break
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.05
  done
  [ -e "$state/ready-$i" ] || fail "cannot create host '$h': $(paste -sd' ' "$state/holder-$i.err")"
done

on() { nsenter -t "${pids[$1]}" -n -u -m --wd="$PWD" -- "${@:2}"; }
err=$(ip link add "${veth}a" type veth peer name "${veth}b" 2>&1) || fail "cannot create the veth pair: $err"
for i in 1 2; do
  end=${veth}$([ $i -eq 1 ] && echo a || echo b)
  err=$( { ip link set "$end" netns "${pids[$((i - 1))]}" &&
           on $((i - 1)) ip link set "$end" name eth0 &&
           on $((i - 1)) ip addr add "$subnet.$i/24" dev eth0 &&
           on $((i - 1)) ip link set eth0 up &&
           on $((i - 1)) ip link set lo up; } 2>&1) || fail "cannot connect host '${hosts[$((i - 1))]}': $err"
done

# The launch agent, as ssh: "agent [options] HOST COMMAND..." runs COMMAND on HOST.
cat >"$state/agent" <<EOF
#!/bin/sh
while [ \$# -gt 0 ] && [ "\${1#-}" != "\$1" ]; do shift; done
host=\$1; shift
case "\$host" in
  ${hosts[0]}|$subnet.1) pid=${pids[0]} ;;
  ${hosts[1]}|$subnet.2) pid=${pids[1]} ;;
  *) echo "$me: unknown host '\$host' (the hosts are ${hosts[0]} and ${hosts[1]})" >&2; exit 255 ;;
esac
exec nsenter -t "\$pid" -n -u -m --wd="\$PWD" -- /bin/sh -c "\$*"
EOF
cat >"$state/on-host" <<EOF
#!/bin/sh
host=\$1; shift
case "\$host" in
  ${hosts[0]}) pid=${pids[0]} ;;
  ${hosts[1]}) pid=${pids[1]} ;;
  *) echo "$me: unknown host '\$host' (the hosts are ${hosts[0]} and ${hosts[1]})" >&2; exit 2 ;;
esac
exec nsenter -t "\$pid" -n -u -m --wd="\$PWD" -- "\$@"
EOF
[ -n "$hostfile" ] || { hostfile=$state/hostfile; printf '%s slots=2\n%s slots=2\n' "${hosts[0]}" "${hosts[1]}" >"$hostfile"; }
cat >"$state/mpirun" <<EOF
#!/bin/sh
exec mpirun --hostfile "$hostfile" --mca plm_rsh_agent "$state/agent" \\
  --mca btl tcp,self --mca pml ob1 --mca osc sm,pt2pt \\
  --mca oob_tcp_if_include $subnet.0/24 --mca btl_tcp_if_include $subnet.0/24 \\
  --mca mpi_yield_when_idle 1 --oversubscribe --bind-to none -x TMPDIR "\$@"
EOF
chmod +x "$state/agent" "$state/on-host" "$state/mpirun"

export FT_MPIRUN=$state/mpirun FT_ON_HOST=$state/on-host FT_SCRATCH=$state/scratch
export FT_HOSTS="${hosts[*]}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export TMPDIR=$state/scratch/tmp
# In the background, so that a signal reaches the trap at once rather than after COMMAND.
on 0 "$@" &
wait $!
