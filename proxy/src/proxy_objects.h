#pragma once
// C++ side of libvenus-proxy. The C API in venus_proxy.h wraps these one to one.
#include "venus_proxy.h"
#include "vn/os/unique_fd.h"
#include "vn/server/protocol/fd_checks.h"
#include "vn/server/protocol/render_protocol.h"

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace vn::proxy {

using os::UniqueFd;

// A server we spawned: killed and reaped when dropped, so a VMM never leaks a server process.
class ServerProcess {
  public:
    ServerProcess() = default;
    explicit ServerProcess(pid_t pid);
    ~ServerProcess();
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;
    ServerProcess(ServerProcess&& other) noexcept : m_pid(std::exchange(other.m_pid, -1)) {}
    ServerProcess& operator=(ServerProcess&&) = delete;
    pid_t pid() const { return m_pid; }
    // Waits up to grace_ms for a clean exit (the server leaves when its socket closes), then kills.
    void stop(int grace_ms);

  private:
    pid_t m_pid = -1;
};

class ProxyServer {
  public:
    ProxyServer(UniqueFd socket, vn_proxy_layout layout, ServerProcess process);
    ~ProxyServer();

    // Closes the connection (the server stops its workers and exits) and reaps a spawned server.
    // Contexts may outlive this: they hold the object, and their destroy becomes a no-op.
    void shutdown();

    int init(std::uint32_t init_flags);
    // On success `out` is the context socket.
    int create_context(std::uint32_t ctx_id, const char* name, UniqueFd& out);
    void destroy_context(std::uint32_t ctx_id);

    vn_proxy_layout layout() const { return m_layout; }
    pid_t pid() const { return m_process.pid(); }
    int reply_timeout_ms() const { return m_timeout_ms; }
    void set_reply_timeout(int ms) { m_timeout_ms = ms; }

  private:
    int lost(const char* why);

    std::mutex m_mutex;
    UniqueFd m_socket;
    vn_proxy_layout m_layout;
    ServerProcess m_process;
    bool m_lost = false;
    int m_timeout_ms = 10000;
};

class ProxyContext {
  public:
    // server is null for a context adopted straight from a worker.
    ProxyContext(std::shared_ptr<ProxyServer> server, std::uint32_t ctx_id, UniqueFd socket,
                 vn_proxy_layout layout, int timeout_ms);
    ~ProxyContext();

    int init(std::uint32_t ctx_flags, bool fence_eventfd);
    int submit_cmd(std::span<const std::byte> cmd);
    int submit_fence(std::uint32_t ring, std::uint32_t& out_seqno);
    int retired_seqno(std::uint32_t ring, std::uint32_t& out);
    int wait_fence(std::uint32_t ring, std::uint32_t seqno, int timeout_ms);
    int create_resource(std::uint32_t res_id, std::uint64_t blob_id, std::uint64_t blob_size,
                        std::uint32_t blob_flags, vn_proxy_blob& out);
    int import_resource(std::uint32_t res_id, vn_proxy_fd_type fd_type, int fd, std::uint64_t size);
    int destroy_resource(std::uint32_t res_id);
    int check();

    bool is_lost() const { return m_lost; }
    void set_reply_timeout(int ms) {
        std::lock_guard lock(m_mutex);
        m_timeout_ms = ms;
    }
    int fence_fd() const { return m_eventfd.get(); }
    int socket_fd() const { return m_socket.get(); }

  private:
    int lost(std::string why);
    int send(std::span<const std::byte> data, std::span<const int> fds = {});
    template <typename T>
    int send_struct(const T& value, std::span<const int> fds = {}) {
        return send(std::as_bytes(std::span<const T, 1>(&value, 1)), fds);
    }
    // Receives exactly one reply of `size` bytes with at most `max_fds` fds.
    int receive_reply(std::span<std::byte> buffer, std::vector<UniqueFd>& fds, std::size_t max_fds);
    bool seqno_retired(std::uint32_t ring, std::uint32_t seqno) const;
    bool peer_hung_up();
    int validate_blob(std::uint32_t res_id, std::uint64_t blob_size, vn_proxy_fd_type type,
                      std::uint32_t map_info, int fd);

    std::mutex m_mutex;
    std::shared_ptr<ProxyServer> m_server;
    std::uint32_t m_ctx_id;
    UniqueFd m_socket;
    vn_proxy_layout m_layout;
    int m_timeout_ms;
    bool m_lost = false;
    UniqueFd m_shmem_fd;
    os::Mapping m_shmem;
    UniqueFd m_eventfd;
    std::array<std::uint32_t, VN_PROXY_RING_COUNT> m_next_seqno{};
};

void log_error(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

} // namespace vn::proxy
