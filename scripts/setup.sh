#!/usr/bin/env bash
# Installs the Debian 12 packages needed to build, test and fuzz venus-render-server.
# Idempotent; uses sudo only when not already root.
set -euo pipefail

packages=(
    build-essential cmake ninja-build pkg-config git
    clang libclang-rt-14-dev          # ASan/UBSan and libFuzzer runtimes for clang
    clang-format clang-tidy
    libvulkan-dev                     # headers, loader and /usr/share/vulkan/registry/vk.xml
    mesa-vulkan-drivers vulkan-tools glslang-tools
    libdrm-dev libseccomp-dev libcap-dev libspdlog-dev
    libjemalloc-dev                   # the server's malloc (server/src/allocator.cpp)
    catch2                            # Catch2 v2
    python3 python3-jinja2 python3-pytest
    virgl-server                      # virglrenderer's render server, for comparison runs
    nlohmann-json3-dev                # venus-bench --json
    python3-matplotlib                # venus-bench --png (run by /usr/bin/python3)
)

sudo=()
if [[ $(id -u) -ne 0 ]]; then
    sudo=(sudo)
fi

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
    echo "setup: all ${#packages[@]} packages already installed"
    exit 0
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update
"${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
