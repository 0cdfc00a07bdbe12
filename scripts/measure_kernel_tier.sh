#!/usr/bin/env bash
# Time the kernel-parity tier from scratch: a fresh venv with no pip cache (the project, then the
# kernel packages: triton, fla-core, mamba-ssm built without CUDA), then the smoke subset that CI
# runs and the full tier (`make test-kernels`). Prints one line per step (wall seconds, and CPU
# seconds: user + system of the step and its children, steadier on a shared machine);
# docs/benchmarks/gpu.md quotes them. Usage: scripts/measure_kernel_tier.sh [--no-full]
set -euo pipefail
cd "$(dirname "$0")/.."
full=1
[ "${1:-}" = "--no-full" ] && full=0
tmp=$(mktemp -d /tmp/eegssm-kernel-tier.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export PIP_NO_CACHE_DIR=1
venv="$tmp/venv"
step() {  # step NAME COMMAND...: run, print wall seconds and CPU seconds (user + system)
    local name=$1 t
    shift
    t=$( { TIMEFORMAT='%R %U %S'; time "$@" > "$tmp/$name.log" 2>&1; } 2>&1 ) \
        || { echo "$name FAILED"; tail -30 "$tmp/$name.log"; exit 1; }
    read -r wall user sys <<< "$t"
    printf '%-32s %7.1f s wall %7.1f s CPU\n' "$name" "$wall" "$(echo "$user + $sys" | bc)"
}
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
step "project venv (make)" make VENV="$venv" "$venv/.installed-stamp"
step "kernel packages (make kernels)" make VENV="$venv" kernels
echo "venv size: $(du -sh "$venv" | cut -f1)"
step "smoke subset (CI)" make VENV="$venv" test-kernels-smoke
tail -3 "$tmp/smoke subset (CI).log"
if [ "$full" = 1 ]; then
    step "full tier (make test-kernels)" make VENV="$venv" test-kernels
    grep -A 40 "largest relative RMS error" "$tmp/full tier (make test-kernels).log" || true
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
