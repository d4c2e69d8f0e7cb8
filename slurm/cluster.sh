#!/usr/bin/env bash
# One-node SLURM cluster on loopback for testing the workflow's SLURM profile.
#   slurm/cluster.sh install   apt-get the Debian packages (slurmctld slurmd slurm-client munge)
#   slurm/cluster.sh up        write /etc/slurm/{slurm,gres}.conf, start munged, slurmctld, slurmd
#   slurm/cluster.sh down      cancel jobs, stop the daemons this script started
#   slurm/cluster.sh status    sinfo + squeue
# Settings (environment): MAPLE_SLURM_RUN (state dir, default /tmp/maple-slurm),
# MAPLE_SLURM_CPUS (default: nproc), MAPLE_SLURM_MEM_MB (default: 80% of RAM), MAPLE_SLURM_GPUS
# (fake GPUs, default 2), MAPLE_SLURM_CTLD_PORT / MAPLE_SLURM_SLURMD_PORT (6817 / 6818).
# Every wait is bounded; `up` fails loudly (with the daemons' log tails) rather than hang.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUN="${MAPLE_SLURM_RUN:-/tmp/maple-slurm}"
NODE="maple-node"
HOST="$(hostname -s)"
CPUS="${MAPLE_SLURM_CPUS:-$(nproc)}"
MEM_MB="${MAPLE_SLURM_MEM_MB:-$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.8}' /proc/meminfo)}"
GPUS="${MAPLE_SLURM_GPUS:-2}"
CTLD_PORT="${MAPLE_SLURM_CTLD_PORT:-6817}"
SLURMD_PORT="${MAPLE_SLURM_SLURMD_PORT:-6818}"
CONF=/etc/slurm/slurm.conf  # where SLURM looks by default: jobs and the plugin get no SLURM_CONF
MARKER="maple-test-cluster"
MUNGE_PID=/run/munge/munged.pid

log() { echo "[slurm/cluster.sh] $*" >&2; }

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: poll until COMMAND succeeds
    local limit=$1 what=$2; shift 2
    local deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            log "timed out after ${limit}s waiting for: $what"
            return 1
        fi
        sleep 1
    done
}

install() {
    local pkgs=(slurmctld slurmd slurm-client munge)
    if dpkg -s "${pkgs[@]}" >/dev/null 2>&1; then
        log "packages already installed: ${pkgs[*]}"
    else
        export DEBIAN_FRONTEND=noninteractive
        # policy-rc.d (if any) keeps the packages' services from starting: we start our own
        apt-get install -y -q --no-install-recommends "${pkgs[@]}" \
            || { apt-get update -q && apt-get install -y -q --no-install-recommends "${pkgs[@]}"; }
    fi
    slurmctld -V
}

render() {  # render TEMPLATE > OUT
    sed -e "s|@HOST@|$HOST|g" -e "s|@NODE@|$NODE|g" -e "s|@RUN@|$RUN|g" -e "s|@CPUS@|$CPUS|g" \
        -e "s|@MEM@|$MEM_MB|g" -e "s|@GPUS@|$GPUS|g" -e "s|@LASTGPU@|$((GPUS - 1))|g" \
        -e "s|@CTLD_PORT@|$CTLD_PORT|g" -e "s|@SLURMD_PORT@|$SLURMD_PORT|g" "$1"
}

pid_alive() { [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

show_logs() {
    for f in "$RUN"/log/*.log; do
        [[ -f "$f" ]] || continue
        log "---- tail $f"
        tail -n 30 "$f" >&2 || true
    done
}

start_munge() {
    if pid_alive "$MUNGE_PID"; then
        log "munged already running (pid $(cat "$MUNGE_PID"))"
        return
    fi
    if [[ ! -s /etc/munge/munge.key ]]; then
        mungekey --create --keyfile=/etc/munge/munge.key
    fi
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown munge:munge /etc/munge /etc/munge/munge.key /run/munge /var/lib/munge /var/log/munge
    chmod 0700 /etc/munge && chmod 0600 /etc/munge/munge.key && chmod 0755 /run/munge
    runuser -u munge -- /usr/sbin/munged --pid-file="$MUNGE_PID"
    touch "$RUN/started-munged"  # `down` stops munged only if we started it
    wait_for 20 "munge credential round trip" bash -c 'munge -n | unmunge'
}

up() {
    if [[ -f "$CONF" ]] && ! grep -q "$MARKER" "$CONF"; then
        log "$CONF exists and is not ours: refusing to overwrite a real SLURM configuration"
        exit 1
    fi
    if pid_alive "$RUN/slurmctld.pid" || pid_alive "$RUN/slurmd.pid"; then
        log "a test cluster is already running from $RUN; run 'slurm/cluster.sh down' first"
        exit 1
    fi
    rm -rf "$RUN"
    mkdir -p "$RUN"/{ctld,slurmd,log,dev}
    # slurmd wants character devices in gres.conf: clones of /dev/null (1:3) stand in for GPUs
    for ((i = 0; i < GPUS; i++)); do mknod -m 0666 "$RUN/dev/fakegpu$i" c 1 3; done
    mkdir -p /etc/slurm
    render "$HERE/slurm.conf.in" >"$CONF"
    render "$HERE/gres.conf.in" >/etc/slurm/gres.conf
    log "node $NODE: $CPUS CPUs, $MEM_MB MB, $GPUS fake GPUs; state in $RUN"
    start_munge
    /usr/sbin/slurmctld -i
    wait_for 30 "slurmctld to answer" scontrol ping || { show_logs; exit 1; }
    /usr/sbin/slurmd -N "$NODE"
    if ! wait_for 60 "node $NODE idle" bash -c "sinfo -h -n $NODE -o %T | grep -qx idle"; then
        sinfo -N -l >&2 || true
        show_logs
        exit 1
    fi
    # a job through the whole chain (sbatch -> slurmd -> srun step), GPU partition and GRES included
    local jid
    jid=$(sbatch --parsable -p gpu --gpus=1 --mem=100 -t 1 -o "$RUN/log/smoke-%j.out" \
        --wrap 'srun -n1 true && echo "gpu=$CUDA_VISIBLE_DEVICES"')
    if ! wait_for 60 "smoke job $jid" bash -c "squeue -h -j $jid -t all -o %T | grep -qx COMPLETED"; then
        squeue -t all -o '%i %T %r' >&2 || true
        cat "$RUN"/log/smoke-*.out >&2 || true
        show_logs
        exit 1
    fi
    log "cluster up: $(cat "$RUN"/log/smoke-"$jid".out)"
    sinfo
}

stop_pidfile() {  # stop_pidfile FILE NAME: SIGTERM the pid recorded by a daemon we started
    local file=$1 name=$2
    pid_alive "$file" || return 0
    local pid
    pid=$(cat "$file")
    kill "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 20))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name (pid $pid) ignored SIGTERM for 20s: SIGKILL"
        kill -9 "$pid" 2>/dev/null || true
    fi
}

down() {
    if [[ -f "$CONF" ]] && grep -q "$MARKER" "$CONF" && pid_alive "$RUN/slurmctld.pid"; then
        scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
        local deadline=$((SECONDS + 30))
        while [[ -n "$(squeue -h -t running,pending,completing,suspended -o %i 2>/dev/null)" ]] &&
            ((SECONDS < deadline)); do
            sleep 1
        done
    fi
    stop_pidfile "$RUN/slurmd.pid" slurmd
    stop_pidfile "$RUN/slurmctld.pid" slurmctld
    if [[ -f "$RUN/started-munged" ]]; then
        stop_pidfile "$MUNGE_PID" munged
        rm -f "$RUN/started-munged"
    fi
    log "cluster down (state and logs kept in $RUN)"
}

status() {
    sinfo
    squeue -t all -o '%.8i %.10P %.22k %.12T %.8m %.10b %.10M %r'
}

case "${1:-}" in
    install) install ;;
    up) up ;;
    down) down ;;
    status) status ;;
    *)
        echo "usage: $0 install|up|down|status" >&2
        exit 2
        ;;
esac
