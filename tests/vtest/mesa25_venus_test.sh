#!/bin/sh
# Runs a Vulkan program on Debian 13's Mesa 25 Venus driver (mesa-vulkan-drivers, with its own
# Vulkan loader and vulkaninfo) through venus-vtest and our render server on the host's driver.
# The packages are fetched and unpacked by scripts/trixie-packages.sh into CACHE (never installed);
# they need glibc 2.38+, so every program runs under the unpacked root's own ld.so with the
# unpacked libraries first. Our own programs, built against the system's older glibc, run there
# as well. Without the packages (no network, no Debian mirror) the test is skipped (status 77),
# except in CI (CI=true), where it fails.
# usage: mesa25_venus_test.sh FETCH CACHE VTEST SERVER OUT PATTERN... -- PROGRAM [ARGS...]
#   PROGRAM "vulkaninfo" is Debian 13's; anything else is a path.
set -u
fetch=$1 cache=$2 vtest=$3 server=$4 out=$5
shift 5
here=$(cd "$(dirname "$0")" && pwd)

. "$here/../support/trixie_mesa_root.sh"
trixie_mesa_root "$fetch" "$cache" libvulkan_virtio.so

trixie_icd virtio

patterns_end=0
for a in "$@"; do
    [ "$a" = "--" ] && patterns_end=1
done
[ $patterns_end -eq 1 ] || { echo "usage: no -- PROGRAM"; exit 2; }
# Rebuild the argument list: PATTERN... -- LD --library-path LIBS PROGRAM ARGS...
n=$#
i=0
program_next=0
for a in "$@"; do
    i=$((i + 1))
    if [ $program_next -eq 1 ]; then
        program_next=0
        [ "$a" = vulkaninfo ] && a=$root/usr/bin/vulkaninfo
        # Only the unpacked driver: no layers of the host's (Debian 12) libraries.
        set -- "$@" env VK_LOADER_LAYERS_DISABLE=~all~ "$ld" \
            --library-path "$lib:$root/lib/x86_64-linux-gnu" "$a"
    else
        set -- "$@" "$a"
        [ "$a" = "--" ] && program_next=1
    fi
done
shift $n
exec "$here/mesa_venus_test.sh" "$vtest" "$server" "$icd" "$out" "$@"
