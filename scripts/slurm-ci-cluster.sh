#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for CI and for developers (Debian 12, root).
#
#   bash scripts/slurm-ci-cluster.sh start    # install (once), configure, start, wait until idle
#   bash scripts/slurm-ci-cluster.sh stop     # stop the daemons, remove stale pid files
#   bash scripts/slurm-ci-cluster.sh status
#
# Partitions "cpu" (default) and "gpu" (one fake GPU: Gres=gpu:1, File=/dev/null) on one node
# named after `hostname -s`, so that profiles/slurm works unchanged. No cgroups
# (proctrack/linuxproc, task/none), no slurmdbd (the profile uses squeue for job status; MinJobAge
# stays above 3 x the plugin's first status-check delay).
set -euo pipefail

HOST=$(hostname -s)
CONF=/etc/slurm

install() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
        && command -v sinfo >/dev/null; then
        return
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
}

configure() {
    local cpus mem
    cpus=$(nproc)
    mem=$(( $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) * 8 / 10 ))
    mkdir -p "$CONF" /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge \
        /var/lib/munge /var/log/munge /etc/munge
    cat > "$CONF/slurm.conf" <<EOF
ClusterName=mofgen-ci
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmdSpoolDir=/var/spool/slurmd
StateSaveLocation=/var/spool/slurmctld
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
GresTypes=gpu
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=$HOST CPUs=$cpus RealMemory=$mem Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$HOST MaxTime=INFINITE State=UP
EOF
    echo "NodeName=$HOST Name=gpu File=/dev/null" > "$CONF/gres.conf"
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
    fi
    chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge
    chmod 700 /etc/munge /var/lib/munge /var/log/munge
    chmod 755 /run/munge
    chmod 400 /etc/munge/munge.key
}

stop() {
    pkill -x slurmd 2>/dev/null || true
    pkill -x slurmctld 2>/dev/null || true
    pkill -x munged 2>/dev/null || true
    sleep 1
    rm -f /run/slurmctld.pid /run/slurmd.pid
}

start() {
    install
    stop
    # a throwaway cluster: jobs recovered from an earlier run that was killed (a CI run cut off)
    # would hold the node, which then never becomes idle
    rm -rf /var/spool/slurmctld /var/spool/slurmd
    configure
    runuser -u munge -- /usr/sbin/munged
    /usr/sbin/slurmctld
    /usr/sbin/slurmd
    for _ in $(seq 1 60); do
        state=$(sinfo -h -n "$HOST" -o %t 2>/dev/null | head -n 1 || true)
        case "$state" in
            idle*) echo "[slurm] node $HOST idle: partitions $(sinfo -h -o %P | tr '\n' ' ')"; return 0 ;;
            down*|drain*) scontrol update nodename="$HOST" state=resume 2>/dev/null || true ;;
        esac
        sleep 1
    done
    echo "[slurm] node did not become idle; slurmctld log:" >&2
    tail -n 20 /var/log/slurm/slurmctld.log >&2 || true
    return 1
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) sinfo && squeue ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
