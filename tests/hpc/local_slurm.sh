#!/usr/bin/env bash
# Single-node SLURM "cluster" on this machine, for testing mpsomics under a real
# scheduler (tests/workflow/test_slurm.py, CI).  See tests/hpc/README.md.
#
#   tests/hpc/local_slurm.sh install   # apt packages: munge slurmctld slurmd slurm-client
#   tests/hpc/local_slurm.sh start     # write config, start munged/slurmctld/slurmd, wait for idle node
#   tests/hpc/local_slurm.sh status    # daemons we started + sinfo/squeue
#   tests/hpc/local_slurm.sh stop      # kill ONLY the daemons recorded in our pidfile
#   tests/hpc/local_slurm.sh env       # print `export SLURM_CONF=...` for client commands
#
# Everything lives in $MPSOMICS_SLURM_DIR (default /tmp/mpsomics-slurm):
#   slurm.conf, state/, spool/, log/, pids (one "name pid starttime" per line).
# /etc/slurm/slurm.conf is made a symlink to $MPSOMICS_SLURM_DIR/slurm.conf
# (only if it does not exist; `stop` removes that symlink again). It is needed:
# inside a job the snakemake slurm-jobstep plugin calls `srun` with all SLURM_*
# variables but the job-id ones removed, so SLURM_CONF does not reach it and
# srun reads the default path. Interactive clients may also use `eval "$(... env)"`.
#
# Works without systemd and without cgroups.  Needs root (slurmd runs jobs as
# root, munged is started as user munge) and apt for `install`.
# All subcommands are idempotent.
set -euo pipefail

DIR="${MPSOMICS_SLURM_DIR:-/tmp/mpsomics-slurm}"
CONF="$DIR/slurm.conf"
PIDS="$DIR/pids"
ETC_CONF=/etc/slurm/slurm.conf
PARTITION="${MPSOMICS_SLURM_PARTITION:-main}"    # == default slurm_partition in profiles/slurm
CTLD_PORT="${MPSOMICS_SLURMCTLD_PORT:-6817}"
SLURMD_PORT="${MPSOMICS_SLURMD_PORT:-6818}"
MIN_JOB_AGE="${MPSOMICS_SLURM_MIN_JOB_AGE:-300}" # must be >= 3 x slurm-init-seconds-before-status-checks
START_TIMEOUT="${MPSOMICS_SLURM_START_TIMEOUT:-60}"
PACKAGES=(munge slurmctld slurmd slurm-client)

log() { echo "local_slurm: $*" >&2; }
die() { echo "local_slurm: ERROR: $*" >&2; exit 1; }

require_root() {
    [[ "$(id -u)" == 0 ]] || die "must run as root (slurmd runs jobs as root and munged is started as user munge); current uid $(id -u)"
}

installed() {
    command -v munged >/dev/null 2>&1 || [[ -x /usr/sbin/munged ]] || return 1
    for b in slurmctld slurmd sbatch squeue sinfo scontrol; do
        command -v "$b" >/dev/null 2>&1 || [[ -x "/usr/sbin/$b" ]] || return 1
    done
}

cmd_install() {
    require_root
    if installed; then
        log "packages already installed (slurm $(dpkg-query -W -f '${Version}' slurmctld 2>/dev/null || echo "?"))"
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 || die "apt-get not available: install ${PACKAGES[*]} with your package manager"
    log "installing ${PACKAGES[*]} ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null \
        || die "apt-get install ${PACKAGES[*]} failed"
    installed || die "packages installed but binaries not found on PATH"
    log "installed slurm $(dpkg-query -W -f '${Version}' slurmctld)"
}

# ---------------------------------------------------------------- pid bookkeeping
starttime() { awk '{print $22}' "/proc/$1/stat" 2>/dev/null || true; }
comm() { cat "/proc/$1/comm" 2>/dev/null || true; }

# is the process recorded as "name pid start" still that very process?
alive() {
    local name=$1 pid=$2 start=$3
    [[ -n "$pid" && -d "/proc/$pid" ]] || return 1
    [[ "$(comm "$pid")" == "$name" ]] || return 1
    [[ "$(starttime "$pid")" == "$start" ]] || return 1
}

recorded_pid() {  # name -> pid if recorded and still alive
    local name pid start
    [[ -f "$PIDS" ]] || return 1
    while read -r name pid start; do
        if [[ "$name" == "$1" ]] && alive "$name" "$pid" "$start"; then
            echo "$pid"; return 0
        fi
    done <"$PIDS"
    return 1
}

record() {  # name pid
    local start; start="$(starttime "$2")"
    [[ -n "$start" ]] || die "$1 (pid $2) died right after start; see $DIR/log/"
    # drop stale lines for this name, then append
    if [[ -f "$PIDS" ]]; then
        grep -v "^$1 " "$PIDS" >"$PIDS.tmp" || true
        mv "$PIDS.tmp" "$PIDS"
    fi
    echo "$1 $2 $start" >>"$PIDS"
}

wait_pidfile() {  # file name -> pid
    local f=$1 name=$2 i pid
    for ((i = 0; i < 100; i++)); do
        if [[ -s "$f" ]]; then
            pid="$(tr -dc '0-9' <"$f")"
            if [[ -n "$pid" && "$(comm "$pid")" == "$name" ]]; then echo "$pid"; return 0; fi
        fi
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------- config
write_conf() {
    local cpus mem_total mem
    cpus="$(nproc)"
    mem_total="$(awk '/^MemTotal:/ {print int($2/1024)}' /proc/meminfo)"
    mem=$((mem_total - 2048))
    ((mem >= 1024)) || mem=1024
    mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
    cat >"$CONF.tmp" <<EOF
# Written by tests/hpc/local_slurm.sh -- single-node test cluster, no cgroups,
# no slurmdbd. Regenerated on every 'start'.
ClusterName=mpsomics
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
SwitchType=switch/none
# no cgroups in containers/CI: track processes via /proc, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# a node that registers after being down is taken back automatically
ReturnToService=2
# no slurmdbd: no accounting; sacct does not work -> snakemake uses squeue
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# finished jobs stay visible to squeue/scontrol this long (seconds). The
# snakemake slurm plugin only trusts squeue if MinJobAge >= 3 x
# slurm-init-seconds-before-status-checks, else it silently falls back to sacct.
MinJobAge=$MIN_JOB_AGE
InactiveLimit=0
KillWait=5
SlurmdTimeout=300
SlurmctldTimeout=120
DefMemPerCPU=1000
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=$PARTITION Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
    mv "$CONF.tmp" "$CONF"
}

link_etc_conf() {
    if [[ -L "$ETC_CONF" && "$(readlink "$ETC_CONF")" == "$CONF" ]]; then
        return 0
    fi
    if [[ -e "$ETC_CONF" || -L "$ETC_CONF" ]]; then
        die "$ETC_CONF exists and is not our symlink to $CONF. Jobs' srun reads that file, so this
  test cluster cannot run next to another SLURM config on this machine. Move it away, or use that cluster."
    fi
    mkdir -p "$(dirname "$ETC_CONF")"
    ln -s "$CONF" "$ETC_CONF"
    log "linked $ETC_CONF -> $CONF"
}

unlink_etc_conf() {
    if [[ -L "$ETC_CONF" && "$(readlink "$ETC_CONF")" == "$CONF" ]]; then
        rm -f "$ETC_CONF"
        log "removed symlink $ETC_CONF"
    fi
}

# ---------------------------------------------------------------- munge
munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
    if munge_works; then
        log "munged already answering (pid $(recorded_pid munged || echo 'not ours'))"
        return 0
    fi
    if [[ ! -s /etc/munge/munge.key ]]; then
        log "creating /etc/munge/munge.key"
        mkdir -p /etc/munge
        if command -v mungekey >/dev/null 2>&1 || [[ -x /usr/sbin/mungekey ]]; then
            /usr/sbin/mungekey --create --keyfile=/etc/munge/munge.key --force
        else
            dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
        fi
    fi
    chown -R munge:munge /etc/munge
    chmod 0700 /etc/munge
    chmod 0400 /etc/munge/munge.key
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown munge:munge /run/munge /var/lib/munge /var/log/munge
    chmod 0755 /run/munge
    rm -f /run/munge/munged.pid
    runuser -u munge -- /usr/sbin/munged --force
    local pid
    pid="$(wait_pidfile /run/munge/munged.pid munged)" || die "munged did not start; see /var/log/munge/munged.log"
    record munged "$pid"
    local i
    for ((i = 0; i < 50; i++)); do munge_works && break; sleep 0.1; done
    munge_works || die "munged started (pid $pid) but munge -n | unmunge fails"
    log "munged started (pid $pid)"
}

# ---------------------------------------------------------------- slurm daemons
start_daemon() {  # name args...
    local name=$1; shift
    local pid
    if pid="$(recorded_pid "$name")"; then
        log "$name already running (pid $pid)"
        return 0
    fi
    local pidfile="$DIR/$name.pid"
    rm -f "$pidfile"
    SLURM_CONF="$CONF" "$name" -f "$CONF" "$@" >>"$DIR/log/$name.stdout" 2>&1 \
        || die "$name failed to start; see $DIR/log/$name.log and $DIR/log/$name.stdout"
    pid="$(wait_pidfile "$pidfile" "$name")" \
        || die "$name did not write $pidfile; see $DIR/log/$name.log"
    record "$name" "$pid"
    log "$name started (pid $pid)"
}

node_state() { SLURM_CONF="$CONF" sinfo -h -n localhost -o '%T' 2>/dev/null | head -1 || true; }

wait_idle() {
    local i state=""
    for ((i = 0; i < START_TIMEOUT * 2; i++)); do
        state="$(node_state)"
        case "$state" in
            idle | mixed | allocated | completing) log "node localhost is $state"; return 0 ;;
            down* | drain* | fail*)
                SLURM_CONF="$CONF" scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true ;;
        esac
        sleep 0.5
    done
    SLURM_CONF="$CONF" sinfo -R >&2 || true
    tail -n 20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 2>/dev/null || true
    die "node localhost not idle after ${START_TIMEOUT}s (state: '${state:-unknown}')"
}

cmd_start() {
    require_root
    installed || die "SLURM/munge not installed: run '$0 install' first"
    mkdir -p "$DIR"
    if recorded_pid slurmctld >/dev/null && recorded_pid slurmd >/dev/null && munge_works; then
        log "cluster already running in $DIR"
        link_etc_conf
        wait_idle
        echo "export SLURM_CONF=$CONF"
        return 0
    fi
    # (re)write the config only while our slurm daemons are down
    if ! recorded_pid slurmctld >/dev/null && ! recorded_pid slurmd >/dev/null; then
        write_conf
    fi
    link_etc_conf
    start_munge
    # -c: clear previous job state (a fresh test cluster each start)
    start_daemon slurmctld -c
    start_daemon slurmd -N localhost
    wait_idle
    echo "export SLURM_CONF=$CONF"
}

cmd_stop() {
    require_root
    if [[ ! -f "$PIDS" ]]; then
        unlink_etc_conf
        log "nothing to stop (no $PIDS)"
        return 0
    fi
    local name pid start order
    # stop in reverse order of dependency: slurmd, slurmctld, munged
    for order in slurmd slurmctld munged; do
        while read -r name pid start; do
            [[ "$name" == "$order" ]] || continue
            if alive "$name" "$pid" "$start"; then
                log "stopping $name (pid $pid)"
                kill -TERM "$pid" 2>/dev/null || true
                local i
                for ((i = 0; i < 100; i++)); do alive "$name" "$pid" "$start" || break; sleep 0.1; done
                if alive "$name" "$pid" "$start"; then
                    log "$name (pid $pid) ignored SIGTERM; sending SIGKILL"
                    kill -KILL "$pid" 2>/dev/null || true
                fi
            else
                log "$name (pid $pid) not running any more"
            fi
        done <"$PIDS"
    done
    rm -f "$PIDS"
    unlink_etc_conf
    log "stopped"
}

cmd_status() {
    local rc=0 name
    echo "dir:        $DIR"
    echo "SLURM_CONF: $CONF $([[ -f $CONF ]] || echo '(not written yet)')"
    for name in munged slurmctld slurmd; do
        if pid="$(recorded_pid "$name")"; then
            echo "$name: running (pid $pid, started by this script)"
        else
            echo "$name: not running (or not started by this script)"
            [[ "$name" == munged ]] && munge_works && echo "  (a munged not started by this script answers)"
            [[ "$name" == munged ]] || rc=1
        fi
    done
    if [[ $rc == 0 ]]; then
        SLURM_CONF="$CONF" sinfo || rc=1
        SLURM_CONF="$CONF" squeue || rc=1
    fi
    return $rc
}

case "${1:-}" in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    restart) cmd_stop; cmd_start ;;
    status) cmd_status ;;
    env) echo "export SLURM_CONF=$CONF" ;;
    *)
        echo "usage: $0 {install|start|stop|restart|status|env}" >&2
        echo "  state dir: \$MPSOMICS_SLURM_DIR (default /tmp/mpsomics-slurm)" >&2
        exit 2 ;;
esac
