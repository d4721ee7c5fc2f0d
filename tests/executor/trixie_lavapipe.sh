#!/bin/sh
# Runs a program (the executor tests) on Debian 13's lavapipe (Mesa 25, a Vulkan 1.4 driver with
# hostImageCopy) as the host driver, where Debian 12's lavapipe is Vulkan 1.3 without it. The
# packages are fetched and unpacked by scripts/trixie-packages.sh into CACHE (never installed);
# they need glibc 2.38+, so the program runs under the unpacked root's own ld.so with the unpacked
# libraries first (the system's still serve the rest). VN_REQUIRE_HOST_IMAGE_COPY makes the host
# image copy cases fail rather than pass where the driver lacks the feature. Without the packages
# the test is skipped (status 77), except in CI (CI=true), where it fails.
# usage: trixie_lavapipe.sh FETCH CACHE PROGRAM [ARGS...]
set -u
fetch=$1 cache=$2
shift 2

here=$(cd "$(dirname "$0")" && pwd)
. "$here/../support/trixie_mesa_root.sh"
trixie_mesa_root "$fetch" "$cache" libvulkan_lvp.so

trixie_icd lvp
echo "host driver: $lib/libvulkan_lvp.so (Vulkan ${api:-?})"
exec env VK_ICD_FILENAMES="$icd" VK_DRIVER_FILES="$icd" VK_LOADER_LAYERS_DISABLE=~all~ \
    VN_REQUIRE_HOST_IMAGE_COPY=1 "$ld" --library-path "$lib:$root/lib/x86_64-linux-gnu" "$@"
