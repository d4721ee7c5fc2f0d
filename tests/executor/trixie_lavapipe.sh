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

mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
(
    # Shared with the Mesa 25 tests: one fetch at a time.
    flock 9
    "$fetch" --closure "$cache" mesa-vulkan-drivers vulkan-tools libvulkan1 >"$cache/fetch.log" 2>&1
) 9>"$cache/.lock"
rc=$?
if [ $rc -ne 0 ]; then
    cat "$cache/fetch.log"
    if [ "${CI:-}" = true ]; then
        echo "FAILED: Debian 13's Mesa packages could not be fetched, and CI must run this test"
        exit 1
    fi
    echo "SKIPPED: Debian 13's Mesa packages could not be fetched (status $rc, see above)"
    exit 77
fi

root=$cache/root
lib=$root/usr/lib/x86_64-linux-gnu
ld=$root/usr/lib64/ld-linux-x86-64.so.2
[ -x "$ld" ] || ld=$lib/ld-linux-x86-64.so.2
if [ ! -f "$lib/libvulkan_lvp.so" ] || [ ! -x "$ld" ]; then
    echo "FAILED: $root lacks libvulkan_lvp.so or ld-linux-x86-64.so.2"
    exit 1
fi
# The package's ICD names the library by its installed path: point it at the unpacked one.
icd=$cache/lvp_icd.json
api=$(sed -n 's/.*"api_version": *"\([^"]*\)".*/\1/p' "$root/usr/share/vulkan/icd.d/lvp_icd.json")
cat >"$icd" <<JSON
{
    "ICD": {
        "api_version": "${api:-1.4.0}",
        "library_path": "$lib/libvulkan_lvp.so"
    },
    "file_format_version": "1.0.1"
}
JSON
echo "host driver: $lib/libvulkan_lvp.so (Vulkan ${api:-?})"
exec env VK_ICD_FILENAMES="$icd" VK_DRIVER_FILES="$icd" VK_LOADER_LAYERS_DISABLE=~all~ \
    VN_REQUIRE_HOST_IMAGE_COPY=1 "$ld" --library-path "$lib:$root/lib/x86_64-linux-gnu" "$@"
