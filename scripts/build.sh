#!/usr/bin/env bash
# Configures and builds everything into build/ with Ninja. Extra arguments go to CMake's configure
# step (e.g. -DCMAKE_BUILD_TYPE=Debug, -DVN_VK_XML=/path/to/newer/vk.xml).
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${VN_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja "$@"
cmake --build "$build_dir" -j "$(nproc)"
