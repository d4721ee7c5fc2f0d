#!/usr/bin/env bash
# Fetches Debian 13 (trixie) packages and unpacks them, never installing anything:
#
#   scripts/trixie-packages.sh DIR PACKAGE...          those packages alone
#   scripts/trixie-packages.sh --closure DIR PACKAGE...  and everything they depend on
#
# The packages come from the Debian mirror this machine's apt is already configured with (read
# from /etc/apt/sources.list and /etc/apt/sources.list.d), with suite trixie, through a private apt
# configuration under DIR/apt (its own sources list, lists and cache; the system's apt state is
# never touched) and `apt-get download`; signatures are checked against the system's Debian
# keyring. Each .deb is unpacked with `dpkg -x` into DIR/root. Runs again cheaply: what is
# already downloaded and unpacked is kept. VN_TRIXIE_MIRROR=URL overrides the mirror.
#
# Exit status: 0 done, 2 usage, 3 no Debian mirror configured, 4 download failed (network,
# mirror), 1 anything else.
set -euo pipefail

closure=0
if [[ ${1:-} == --closure ]]; then
    closure=1
    shift
fi
if [[ $# -lt 2 ]]; then
    echo "usage: $0 [--closure] DIR PACKAGE..." >&2
    exit 2
fi
dir=$1
shift
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
apt_dir=$dir/apt
root=$dir/root
debs=$dir/debs
mkdir -p "$apt_dir/empty" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$root" "$debs"

# The first Debian archive in the system's sources (one-line and deb822 formats), and the
# keyring it is signed with.
system_mirror() {
    local f uri
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -r $f ]] || continue
        uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) { print $i; exit } }' "$f" |
            grep -E '/debian/?$' | head -n1 || true)
        if [[ -n $uri ]]; then
            echo "$uri"
            return
        fi
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -r $f ]] || continue
        uri=$(awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' "$f" |
            grep -E '/debian/?$' | head -n1 || true)
        if [[ -n $uri ]]; then
            echo "$uri"
            return
        fi
    done
}

mirror=${VN_TRIXIE_MIRROR:-$(system_mirror)}
if [[ -z $mirror ]]; then
    echo "trixie-packages: no Debian mirror in /etc/apt/sources.list*; set VN_TRIXIE_MIRROR" >&2
    exit 3
fi
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[[ -r $keyring ]] || keyring=/etc/apt/trusted.gpg.d
echo "deb [signed-by=$keyring] ${mirror%/} trixie main" >"$apt_dir/sources.list"
: >"$apt_dir/status"

apt_opts=(
    -o "Dir::Etc::sourcelist=$apt_dir/sources.list"
    -o "Dir::Etc::sourceparts=-"
    -o "Dir::Etc::preferences=/dev/null"
    -o "Dir::Etc::preferencesparts=$apt_dir/empty"
    -o "Dir::State::Lists=$apt_dir/lists"
    -o "Dir::State::status=$apt_dir/status"
    -o "Dir::Cache=$apt_dir/cache"
    -o "Dir::Cache::pkgcache="
    -o "Dir::Cache::srcpkgcache="
    -o "APT::Architecture=amd64"
    -o "APT::Architectures::=amd64"
    -o "APT::Sandbox::User=$(id -un)"
    -o "Debug::NoLocking=true"
    -o "Acquire::Retries=3"
    -q
)

# The lists are refreshed once a day at most.
stamp=$apt_dir/lists/.updated
if [[ ! -f $stamp || -n $(find "$stamp" -mmin +1440 2>/dev/null) ]]; then
    echo "trixie-packages: apt-get update from ${mirror%/} (trixie)"
    if ! apt-get "${apt_opts[@]}" update >"$apt_dir/update.log" 2>&1 ||
        grep -qE '^(W|E): ' "$apt_dir/update.log"; then
        cat "$apt_dir/update.log" >&2
        echo "trixie-packages: cannot read trixie from ${mirror%/}" >&2
        exit 4
    fi
    touch "$stamp"
fi

packages=("$@")
if [[ $closure == 1 ]]; then
    # Hard dependencies only (no recommends or suggests), resolved by apt itself; virtual
    # packages (<name>) are provided by a real one that is listed too.
    mapfile -t packages < <(apt-cache "${apt_opts[@]}" depends --recurse --no-recommends \
        --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances "$@" |
        grep -E '^[a-z0-9][a-z0-9.+-]*$' | sort -u)
fi

cd "$debs"
missing=()
for p in "${packages[@]}"; do
    compgen -G "${p}_*.deb" >/dev/null || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "trixie-packages: downloading ${#missing[@]} packages"
    if ! apt-get "${apt_opts[@]}" download "${missing[@]}" >"$apt_dir/download.log" 2>&1; then
        cat "$apt_dir/download.log" >&2
        echo "trixie-packages: apt-get download failed" >&2
        exit 4
    fi
fi
for p in "${packages[@]}"; do
    for deb in "${p}"_*.deb; do
        [[ -f $root/.unpacked/$deb ]] && continue
        dpkg -x "$deb" "$root"
        mkdir -p "$root/.unpacked"
        touch "$root/.unpacked/$deb"
    done
done
echo "trixie-packages: ${#packages[@]} packages in $root"
