#!/usr/bin/env bash
# The main job for a newcomer: install the Debian packages, build, and run venus-vtest in the
# foreground on lavapipe: a vtest server that Mesa's Venus driver (VN_DEBUG=vtest) connects to,
# each client served by a sandboxed venus-render-server worker. Ctrl-C stops it.
#   VN_RUN=server scripts/run.sh   runs the render server alone instead, listening for VMMs.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/build.sh

server=build/server/venus-render-server
vtest=build/tools/vtest/venus-vtest
for binary in "$server" "$vtest"; do
    if [[ ! -x $binary ]]; then
        echo "run: $binary was not built" >&2
        exit 1
    fi
done

if [[ ${VN_RUN:-vtest} == server ]]; then
    socket=${VN_SOCKET:-/tmp/venus-render-server.sock}
    cat <<MSG

Starting venus-render-server, listening on $socket (SOCK_SEQPACKET).
A VMM connects with libvenus-proxy (build/proxy/libvenus-proxy.so, header proxy/include/venus_proxy.h):
connect a SOCK_SEQPACKET unix socket to $socket and pass it to vn_proxy_server_connect().
Without a listening server, vn_proxy_server_spawn() starts one per VMM instead
(\$VN_RENDER_SERVER_EXEC_PATH=$PWD/$server).
Stop with Ctrl-C.

MSG
    exec "$server" --listen "$socket"
fi

# The host side renders on lavapipe unless the caller chose a driver.
lavapipe=/usr/share/vulkan/icd.d/lvp_icd.$(uname -m).json
if [[ -z ${VK_DRIVER_FILES:-} && -f $lavapipe ]]; then
    export VK_DRIVER_FILES=$lavapipe
fi
socket=${VTEST_SOCKET_NAME:-/tmp/.virgl_test}
host_driver=${VK_DRIVER_FILES:-"the default Vulkan driver"}
cat <<MSG

Starting venus-vtest on $socket, rendering with $host_driver.
Point Mesa's Venus driver at it (Mesa built with -Dvulkan-drivers=virtio):
  VN_DEBUG=vtest VK_DRIVER_FILES=<mesa prefix>/share/vulkan/icd.d/virtio_icd.$(uname -m).json \\
  VTEST_SOCKET_NAME=$socket vulkaninfo --summary
Stop with Ctrl-C.

MSG
exec "$vtest" --socket-path "$socket" --server "$server"
