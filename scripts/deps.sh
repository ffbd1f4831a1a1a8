#!/usr/bin/env bash
# scripts/deps.sh [--optional] TARGET...: make sure the system tools that the make TARGETs need are there.
# What each target needs, and the Debian package of each tool, is the one list scripts/system-tools.txt.
# - A tool found on PATH is used as it is: nothing is installed, no network.
# - Missing, as root on Debian/Ubuntu: `apt-get update` once, then `apt-get install --no-install-recommends`
#   of the missing packages, printing one line per package.
# - Missing, not root or no apt-get: one message naming every missing tool and the exact command that
#   installs them, and exit 1, before any test runs. With --optional (for a target that has a fallback,
#   like `make run` without nginx) exit 0 instead and let the target say what it falls back to.
# Pure bash, no other commands: it works with any PATH.
set -euo pipefail

optional=''
if [[ ${1:-} == --optional ]]; then
    optional=1
    shift
fi
[[ $# -gt 0 ]] || { echo "usage: scripts/deps.sh [--optional] TARGET... (targets: scripts/system-tools.txt)" >&2; exit 2; }
here=.
[[ $0 == */* ]] && here=${0%/*}
wanted=" $* "

# A command on PATH, or a file given by its absolute path (a library such as libc.a).
present() { if [[ $1 == /* ]]; then [[ -e $1 ]]; else command -v "$1" >/dev/null; fi; }

missing_tools=()
missing_packages=()
declare -A tools_of=() targets_of=()
while read -r tool package targets; do
    [[ -z $tool || $tool == \#* ]] && continue
    needed_by=()
    for target in $targets; do
        [[ $wanted == *" $target "* ]] && needed_by+=("$target")
    done
    [[ ${#needed_by[@]} -gt 0 ]] || continue
    present "$tool" && continue
    missing_tools+=("$tool")
    [[ -n ${tools_of[$package]:-} ]] || missing_packages+=("$package")
    tools_of[$package]+="${tools_of[$package]:+, }$tool"
    targets_of[$package]=${needed_by[*]}
done <"$here/system-tools.txt"

[[ ${#missing_tools[@]} -gt 0 ]] || exit 0

install="apt-get update && apt-get install -y --no-install-recommends ${missing_packages[*]}"
if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null || [[ ! -f /etc/debian_version ]]; then
    [[ -z $optional ]] || exit 0
    tools=${missing_tools[*]}
    echo "deps: make $* needs ${tools// /, } (not on PATH); install them as root on Debian/Ubuntu, then re-run: $install" >&2
    exit 1
fi

# apt-get's own output is shown only when it fails; waiting for the dpkg lock lets concurrent runs queue.
apt_get() {
    local output
    if ! output=$(DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@" 2>&1); then
        printf '%s\n' "$output" >&2
        echo "deps: 'apt-get $*' failed (output above)" >&2
        return 1
    fi
}
echo "deps: apt-get update (to install ${missing_packages[*]})"
for package in "${missing_packages[@]}"; do
    echo "deps: installing $package (provides ${tools_of[$package]} for make ${targets_of[$package]})"
done
if ! { apt_get update && apt_get install -y --no-install-recommends "${missing_packages[@]}"; }; then
    [[ -n $optional ]] && exit 0
    exit 1
fi

still_missing=()
for tool in "${missing_tools[@]}"; do
    present "$tool" || still_missing+=("$tool")
done
if [[ ${#still_missing[@]} -gt 0 ]]; then
    echo "deps: installed ${missing_packages[*]} but ${still_missing[*]} is still not on PATH ($PATH)" >&2
    exit 1
fi
