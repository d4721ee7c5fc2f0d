# Sourced by the tests that run Debian 13's Mesa (mesa-vulkan-drivers, vulkan-tools and the
# Vulkan loader): fetches and unpacks the packages with scripts/trixie-packages.sh into a cache
# directory (never installing them), and finds the unpacked root's own ld.so, which its
# libraries need (glibc 2.38+).
#
#   trixie_mesa_root FETCH CACHE LIBRARY
#
# sets cache (made absolute), root, lib (its library directory) and ld, and checks that LIBRARY
# (libvulkan_virtio.so, libvulkan_lvp.so) is there. Without the packages (no network, no Debian
# mirror) it exits 77 (skipped), except in CI (CI=true), where it exits 1; a root without LIBRARY
# or ld.so exits 1.
trixie_mesa_root() {
    mkdir -p "$2"
    cache=$(cd "$2" && pwd)
    (
        # Tests run in parallel: one fetch at a time.
        flock 9
        "$1" --closure "$cache" mesa-vulkan-drivers vulkan-tools libvulkan1 >"$cache/fetch.log" 2>&1
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
    if [ ! -f "$lib/$3" ] || [ ! -x "$ld" ]; then
        echo "FAILED: $root lacks $3 or ld-linux-x86-64.so.2"
        exit 1
    fi
}

#   trixie_icd DRIVER     (virtio, lvp)
#
# The package's ICD manifest names the driver by its installed path: writes one naming the
# unpacked library into CACHE/DRIVER_icd.json, and sets icd to it and api to its Vulkan version.
trixie_icd() {
    icd=$cache/$1_icd.json
    api=$(sed -n 's/.*"api_version": *"\([^"]*\)".*/\1/p' "$root/usr/share/vulkan/icd.d/$1_icd.json")
    cat >"$icd" <<JSON
{
    "ICD": {
        "api_version": "${api:-1.4.0}",
        "library_path": "$lib/libvulkan_$1.so"
    },
    "file_format_version": "1.0.1"
}
JSON
}
