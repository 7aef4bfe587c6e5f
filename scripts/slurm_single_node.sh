#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for testing the job-array recipe
# (examples/slurm/, docs/slurm.md): slurmctld and slurmd on localhost, this machine's CPU count,
# no GPUs (GresTypes empty: submit the recipe with GPUS_PER_SHARD=0, which drops --gres).
#
#   scripts/slurm_single_node.sh [start]   install (once), configure, start, wait until the node is idle
#   scripts/slurm_single_node.sh stop      stop the daemons this script started (by their pid files)
#   scripts/slurm_single_node.sh status    sinfo of the cluster
#
# Needs root and Debian's packages (apt-get): installs slurm-wlm and munge quietly, once. Every
# file is under $SLURM_TEST_DIR (default /tmp/codec-conformance-slurm) except the munge key
# (/etc/munge/munge.key, made by the package) and munged's socket (/run/munge). Commands that
# talk to this cluster need SLURM_CONF=$SLURM_TEST_DIR/slurm.conf; `start` prints that line last.
# Idempotent: a cluster this script already started is reused. Exit 0: the node is idle; any
# other status: Slurm could not be started here (the reason is on stderr).
set -euo pipefail

STATE="${SLURM_TEST_DIR:-/tmp/codec-conformance-slurm}"
CONF="$STATE/slurm.conf"
# ports apart from Slurm's defaults (6817/6818), so a real Slurm on the machine is not disturbed
CTLD_PORT="${SLURM_TEST_CTLD_PORT:-16817}"
SLURMD_PORT="${SLURM_TEST_SLURMD_PORT:-16818}"
WAIT_S="${SLURM_TEST_WAIT_S:-60}"

die() { echo "slurm_single_node: $*" >&2; exit 1; }

alive() {  # the process of pid file $1 is running
    [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

stop() {
    if alive "$STATE/slurmctld.pid" && alive "$STATE/slurmd.pid"; then
        # the jobs first (slurmd ends their processes), so no job outlives the cluster
        SLURM_CONF="$CONF" scancel --quiet --partition=debug 2>/dev/null || true
        for _ in $(seq 60); do
            [ -z "$(SLURM_CONF="$CONF" squeue -h -o %i 2>/dev/null)" ] && break
            sleep 0.5
        done
    fi
    for name in slurmd slurmctld munged; do
        pidf="$STATE/$name.pid"
        if alive "$pidf"; then
            pid=$(cat "$pidf")
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
        fi
        rm -f "$pidf"
    done
}

install() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
            && command -v munged >/dev/null; then
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "not root: cannot install slurm-wlm and munge (apt-get needs root)"
    command -v apt-get >/dev/null || die "no apt-get: install slurm-wlm and munge by hand"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq --no-install-recommends slurm-wlm munge >"$STATE/apt.log" 2>&1; then
        apt-get update -qq >>"$STATE/apt.log" 2>&1 || true
        apt-get install -y -qq --no-install-recommends slurm-wlm munge >>"$STATE/apt.log" 2>&1 \
            || die "apt-get install slurm-wlm munge failed (see $STATE/apt.log)"
    fi
}

start_munge() {
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        return 0  # a munged is already serving (ours from an earlier start, or the machine's)
    fi
    if [ ! -s /etc/munge/munge.key ]; then
        mkdir -p /etc/munge
        if command -v mungekey >/dev/null; then mungekey --create --keyfile=/etc/munge/munge.key >/dev/null 2>&1 || true; fi
        [ -s /etc/munge/munge.key ] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    fi
    local user=root
    id munge >/dev/null 2>&1 && user=munge
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown "$user" /run/munge /var/lib/munge /var/log/munge /etc/munge /etc/munge/munge.key
    chmod 0700 /etc/munge && chmod 0400 /etc/munge/munge.key && chmod 0755 /run/munge
    # munged writes its pid and log files as its user: in its own folders, not in $STATE (which
    # may be private to root); its pid is copied to $STATE/munged.pid for `stop`
    local log=/var/log/munge/munged.log pid=/run/munge/munged.pid
    rm -f "$pid"
    if [ "$user" = root ]; then
        munged --force --pid-file="$pid" --log-file="$log" || die "munged did not start (see $log)"
    else
        runuser -u munge -- munged --pid-file="$pid" --log-file="$log" || die "munged did not start (see $log)"
    fi
    for _ in $(seq 50); do
        if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
            [ -s "$pid" ] && cp "$pid" "$STATE/munged.pid"
            return 0
        fi
        sleep 0.1
    done
    die "munged does not answer (see $log)"
}

write_conf() {
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc)
    mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
    mkdir -p "$STATE/ctld" "$STATE/slurmd"
    cat >"$CONF" <<EOF
# written by scripts/slurm_single_node.sh: a single-node test cluster, no GPUs
ClusterName=codecconf
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=600
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
}

node_state() {
    SLURM_CONF="$CONF" sinfo -h -N -o '%T' 2>/dev/null | head -n1
}

start() {
    mkdir -p "$STATE"
    if alive "$STATE/slurmctld.pid" && alive "$STATE/slurmd.pid" && [ "$(node_state)" = idle ]; then
        echo "SLURM_CONF=$CONF"
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "not root: the test cluster's daemons run as root"
    install
    stop  # what is left of an earlier start
    start_munge
    write_conf
    export SLURM_CONF="$CONF"
    rm -rf "$STATE/ctld"/* "$STATE/slurmd"/*  # a fresh cluster: no jobs of an earlier one
    slurmctld -i || die "slurmctld did not start (see $STATE/slurmctld.log)"
    slurmd || die "slurmd did not start (see $STATE/slurmd.log)"
    local st=""
    for _ in $(seq $((WAIT_S * 2))); do
        st=$(node_state)
        case "$st" in
            idle) echo "SLURM_CONF=$CONF"; return 0 ;;
            drain*|down*|fail*) scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true ;;
        esac
        sleep 0.5
    done
    tail -n 5 "$STATE/slurmctld.log" "$STATE/slurmd.log" >&2 2>/dev/null || true
    die "the node is not idle after ${WAIT_S}s (state: ${st:-none}); logs in $STATE"
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    status) SLURM_CONF="$CONF" sinfo ;;
    *) die "usage: $0 [start|stop|status]" ;;
esac
