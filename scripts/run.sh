#!/usr/bin/env bash
# The main job for a newcomer: install the Debian packages, build, and run the render server in
# the foreground, listening for VMMs on a unix socket. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

socket=${VN_SOCKET:-/tmp/venus-render-server.sock}

scripts/setup.sh
scripts/build.sh

server=build/server/venus-render-server
if [[ ! -x $server ]]; then
    echo "run: $server was not built" >&2
    exit 1
fi

cat <<MSG

Starting venus-render-server, listening on $socket (SOCK_SEQPACKET).
A VMM connects with libvenus-proxy (build/proxy/libvenus-proxy.so, header proxy/include/venus_proxy.h):
connect a SOCK_SEQPACKET unix socket to $socket and pass it to vn_proxy_server_connect().
Without a listening server, vn_proxy_server_spawn() starts one per VMM instead
(\$VN_RENDER_SERVER_EXEC_PATH=$PWD/$server).
Stop with Ctrl-C.

MSG
exec "$server" --listen "$socket"
