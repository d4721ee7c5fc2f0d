#!/bin/sh
# Runs vn_sandbox_vulkan_probe on lavapipe in kill mode; exit 77 (skipped) without lavapipe.
probe="$1"
icd=""
for f in /usr/share/vulkan/icd.d/lvp_icd.*.json; do
    [ -f "$f" ] && icd="$f"
done
if [ -z "$icd" ]; then
    echo "SKIP: lavapipe (mesa-vulkan-drivers) is not installed"
    exit 77
fi
VK_DRIVER_FILES="$icd" VK_ICD_FILENAMES="$icd" "$probe"
