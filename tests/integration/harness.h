#pragma once
// Shared pieces of the integration suite: which servers to run against, raw-socket helpers for
// sending what the proxy never would, and the command streams every test submits.
#include "venus_proxy.h"
#include "vn/os/unique_fd.h"
#include "vn/server/protocol/render_protocol.h"
#include "vn/server/protocol/seqpacket.h"

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace vn::test {

using os::UniqueFd;

struct Backend {
    std::string name;
    std::string path;
    vn_proxy_layout layout;
    std::vector<std::string> extra_args; // for the raw spawner only
};

Backend ours();
// Debian's virgl_render_server (0.10 layout), or nullopt-like empty path when absent.
Backend debian();
bool debian_available();

// ---- Command streams. Kept in one place so that they can become real encoder output. ----
// An empty stream: accepted by every decoder.
std::vector<std::byte> empty_stream();
// `count` vkEnumerateInstanceVersion commands without the reply flag (16 bytes each): a real,
// harmless Venus stream of any length, for split-payload tests.
std::vector<std::byte> trivial_stream(std::size_t count);
// A stream no Venus decoder accepts (an unknown command type).
std::vector<std::byte> invalid_stream();

// ---- Process and fd helpers ----
int count_open_fds();
// Open fds of another process (ours or a child), -1 when unreadable.
int count_process_fds(pid_t pid);
// The same, once it held still for a while: servers close fds just after they reply.
int settled_fd_count(pid_t pid);
std::vector<pid_t> child_pids(pid_t parent);
bool process_alive(pid_t pid);
// Our server's processes for one context: the server's child (the jail's reaper, or the worker
// itself where there is no PID namespace) and the worker. Found by the name the worker gives
// itself (vn-ctx-N), not as "the child that is new": the server keeps a spare worker forked ahead
// of time, so a new child may well be the next spare. {-1, -1} if none shows up in time.
struct WorkerProcess {
    pid_t child = -1;
    pid_t worker = -1;
};
WorkerProcess find_context_worker(pid_t server, std::uint32_t ctx_id, int timeout_ms = 1000);

// RAII wrappers over the C API so that a failing REQUIRE never leaks.
struct ServerDeleter {
    void operator()(vn_proxy_server* s) const { vn_proxy_server_destroy(s); }
};
struct ContextDeleter {
    void operator()(vn_proxy_context* c) const { vn_proxy_context_destroy(c); }
};
using ServerPtr = std::unique_ptr<vn_proxy_server, ServerDeleter>;
using ContextPtr = std::unique_ptr<vn_proxy_context, ContextDeleter>;

ServerPtr spawn(const Backend& backend);
ContextPtr create_context(vn_proxy_server* server, std::uint32_t ctx_id, bool eventfd = true);
// Submits a fence on `ring` and waits for it; the proxy's result code.
int fence_round_trip(vn_proxy_context* ctx, std::uint32_t ring = 0, int timeout_ms = 5000);
// Waits until the context's worker hung up (true) or timeout.
bool wait_lost(vn_proxy_context* ctx, int timeout_ms = 5000);

// A server started on a raw socketpair, for sending malformed client ops.
class RawServer {
  public:
    explicit RawServer(const Backend& backend, std::vector<std::string> extra_args = {});
    ~RawServer();
    int fd() const { return m_fd.get(); }
    pid_t pid() const { return m_pid; }
    bool alive();
    // INIT with Venus flags, as the proxy does.
    void init();
    // CREATE_CONTEXT over the raw socket; returns the context fd or an invalid fd on {ok=0}.
    UniqueFd create_context(std::uint32_t ctx_id, int timeout_ms = 5000);
    void destroy_context(std::uint32_t ctx_id);

  private:
    UniqueFd m_fd;
    pid_t m_pid = -1;
};

// INIT on a raw context socket with a sealed shmem of `rings` slots; keeps the shmem alive.
struct RawContext {
    UniqueFd socket;
    UniqueFd shmem;
};
bool raw_context_init(RawContext& ctx, std::uint32_t rings = 64);

template <typename T>
bool send_raw(int fd, const T& value, std::vector<int> fds = {}) {
    return server::protocol::send_struct(fd, value, fds);
}
bool send_bytes(int fd, const void* data, std::size_t size, std::vector<int> fds = {});

// True when the peer of `fd` hangs up within timeout.
bool wait_hangup(int fd, int timeout_ms = 5000);

UniqueFd sealed_memfd(std::size_t size, unsigned seals);

// Runs `body(backend)` for our server, and again for Debian's when it is installed.
#define PROTOCOL_TEST(name, tags, fn)                                                              \
    TEST_CASE(name " [ours]", tags "[ours]") {                                                     \
        fn(::vn::test::ours());                                                                    \
    }                                                                                              \
    TEST_CASE(name " [virgl-0.10]", tags "[virgl]") {                                              \
        if (!::vn::test::debian_available()) {                                                     \
            WARN("SKIPPED: /usr/libexec/virgl_render_server is not installed");                    \
            return;                                                                                \
        }                                                                                          \
        fn(::vn::test::debian());                                                                  \
    }

} // namespace vn::test
