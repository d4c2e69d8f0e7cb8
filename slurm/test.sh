#!/usr/bin/env bash
# make test-slurm: install SLURM (Debian packages) and the SLURM executor plugin, bring up a
# one-node cluster on loopback, run tests/slurm against it through profiles/slurm, tear it down
# (also on failure or Ctrl-C). Extra arguments go to pytest (e.g. -k test_c).
# MAPLE_SLURM_SCOPE=merge limits the workflow runs to training and merging.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
started=$SECONDS
log() { echo "[make test-slurm] $*" >&2; }

# one test cluster per machine at a time (it owns /etc/slurm/slurm.conf and the SLURM ports)
exec 9>/tmp/maple-slurm.lock
flock -w 900 9 || { log "another make test-slurm holds /tmp/maple-slurm.lock"; exit 1; }

[[ -x .venv/bin/python ]] || { log ".venv missing: run 'make venv' first"; exit 1; }
slurm/cluster.sh install

# slurm/.venv: the plugin on top of .venv, whose packages it sees through a .pth file, so SLURM
# jobs (which run `sys.executable -m snakemake`) have the plugin and the workflow's stack, and
# .venv itself is left untouched (see requirements-slurm.txt for why --no-deps).
OVERLAY=slurm/.venv
STAMP="$OVERLAY/.installed"
if [[ ! -f "$STAMP" || requirements-slurm.txt -nt "$STAMP" || .venv/.maple-installed -nt "$STAMP" ]]; then
    rm -rf "$OVERLAY"
    .venv/bin/python -m venv --without-pip "$OVERLAY"
    overlay_site=$("$OVERLAY/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    base_site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --target "$overlay_site" \
        -r requirements-slurm.txt
    echo "import site; site.addsitedir('$base_site')" >"$overlay_site/zz-maple-base-venv.pth"
    touch "$STAMP"
fi
"$OVERLAY/bin/python" - <<'EOF'
import importlib.metadata as md
import numpy, snakemake, snakemake_executor_plugin_slurm, snakemake_executor_plugin_slurm_jobstep, maple
print("[make test-slurm] plugin", md.version("snakemake-executor-plugin-slurm"),
      "jobstep", md.version("snakemake-executor-plugin-slurm-jobstep"),
      "snakemake", snakemake.__version__, "numpy", numpy.__version__)
EOF

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if ((rc != 0)); then
        log "failed (exit $rc); cluster state:"
        slurm/cluster.sh status >&2 || true
        tail -n 20 "${MAPLE_SLURM_RUN:-/tmp/maple-slurm}"/log/slurmctld.log >&2 || true
    fi
    slurm/cluster.sh down || true
    log "wall time $((SECONDS - started)) s"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

slurm/cluster.sh up
basetemp=/tmp/maple-slurm-tests
rm -rf "$basetemp"
log "scenario working directories (kept): $basetemp"
MAPLE_SLURM_TESTS=1 MAPLE_SLURM_PYTHON="$ROOT/$OVERLAY/bin/python" \
    timeout 2400 .venv/bin/python -m pytest -v -rA -p no:cacheprovider --basetemp="$basetemp" \
    tests/slurm "$@"
