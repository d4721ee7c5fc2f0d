#include "proxy_objects.h"
#include "vn/server/protocol/seqpacket.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace vn::proxy {

namespace protocol = server::protocol;

void log_error(const char* fmt, ...) {
    std::va_list args;
    va_start(args, fmt);
    std::fputs("venus-proxy: ", stderr);
    std::vfprintf(stderr, fmt, args);
    std::fputc('\n', stderr);
    va_end(args);
}

ServerProcess::ServerProcess(pid_t pid) : m_pid(pid) {}

ServerProcess::~ServerProcess() {
    stop(0);
}

void ServerProcess::stop(int grace_ms) {
    if (m_pid <= 0)
        return;
    siginfo_t info{};
    if (grace_ms > 0) {
        UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, m_pid, 0)));
        if (pidfd) {
            pollfd pfd{pidfd.get(), POLLIN, 0};
            while (::poll(&pfd, 1, grace_ms) < 0 && errno == EINTR) {
            }
        }
    }
    if (::waitid(P_PID, static_cast<id_t>(m_pid), &info, WEXITED | WNOHANG) != 0 ||
        info.si_pid == 0) {
        ::kill(m_pid, SIGKILL);
        while (::waitid(P_PID, static_cast<id_t>(m_pid), &info, WEXITED) < 0 && errno == EINTR) {
        }
    }
    m_pid = -1;
}

ProxyServer::ProxyServer(UniqueFd socket, vn_proxy_layout layout, ServerProcess process)
    : m_socket(std::move(socket)), m_layout(layout), m_process(std::move(process)) {}

ProxyServer::~ProxyServer() {
    shutdown();
}

void ProxyServer::shutdown() {
    std::lock_guard lock(m_mutex);
    m_lost = true;
    // Closing the socket is the server's signal to stop its workers and exit.
    m_socket.reset();
    m_process.stop(2000);
}

int ProxyServer::lost(const char* why) {
    if (!m_lost)
        log_error("render server lost: %s", why);
    m_lost = true;
    // Shut the socket down so a late or desynchronized reply can never be taken for a new one.
    ::shutdown(m_socket.get(), SHUT_RDWR);
    return VN_PROXY_ERROR_SERVER_LOST;
}

int ProxyServer::init(std::uint32_t init_flags) {
    std::lock_guard lock(m_mutex);
    if (m_lost)
        return VN_PROXY_ERROR_SERVER_LOST;
    if (!protocol::is_seqpacket_socket(m_socket.get()))
        return lost("server fd is not a SOCK_SEQPACKET unix socket");
    protocol::ClientInitRequest req{};
    req.header.op = protocol::ClientOp::Init;
    req.flags = init_flags | protocol::kRendererVenus | protocol::kRendererNoVirgl;
    if (!protocol::send_struct(m_socket.get(), req))
        return lost("cannot send INIT");
    return VN_PROXY_OK;
}

int ProxyServer::create_context(std::uint32_t ctx_id, const char* name, UniqueFd& out) {
    std::lock_guard lock(m_mutex);
    if (m_lost)
        return VN_PROXY_ERROR_SERVER_LOST;
    protocol::ClientCreateContextRequest req{};
    req.header.op = protocol::ClientOp::CreateContext;
    req.ctx_id = ctx_id;
    if (name)
        std::strncpy(req.ctx_name, name, sizeof(req.ctx_name) - 1);
    if (!protocol::send_struct(m_socket.get(), req))
        return lost("cannot send CREATE_CONTEXT");

    pollfd pfd{m_socket.get(), POLLIN, 0};
    int n;
    while ((n = ::poll(&pfd, 1, m_timeout_ms)) < 0 && errno == EINTR) {
    }
    // virglrenderer 0.10 sends no reply at all when creation fails.
    if (n == 0)
        return lost("no CREATE_CONTEXT reply");
    // One byte more than the reply, so that an oversized reply shows as a size mismatch.
    std::array<std::byte, sizeof(protocol::ClientCreateContextReply) + 1> buffer;
    auto received = protocol::recv_message(m_socket.get(), buffer);
    if (received.status == protocol::RecvStatus::Closed)
        return lost("server closed the connection");
    if (received.status != protocol::RecvStatus::Ok)
        return lost("bad CREATE_CONTEXT reply message");
    if (received.size != sizeof(protocol::ClientCreateContextReply))
        return lost("CREATE_CONTEXT reply of the wrong size");
    const auto ok = static_cast<std::uint8_t>(buffer[0]);
    if (ok > 1 || ok != received.fds.size())
        return lost("CREATE_CONTEXT reply disagrees with its fd count");
    if (!ok)
        return VN_PROXY_ERROR_REFUSED;
    if (!protocol::is_seqpacket_socket(received.fds[0].get())) {
        // The context may exist on the server side: ask for it to go before reporting.
        protocol::ClientDestroyContextRequest destroy{};
        destroy.header.op = protocol::ClientOp::DestroyContext;
        destroy.ctx_id = ctx_id;
        (void)protocol::send_struct(m_socket.get(), destroy);
        return lost("context fd is not a SOCK_SEQPACKET unix socket");
    }
    out = std::move(received.fds[0]);
    return VN_PROXY_OK;
}

void ProxyServer::destroy_context(std::uint32_t ctx_id) {
    std::lock_guard lock(m_mutex);
    if (m_lost)
        return;
    protocol::ClientDestroyContextRequest req{};
    req.header.op = protocol::ClientOp::DestroyContext;
    req.ctx_id = ctx_id;
    if (!protocol::send_struct(m_socket.get(), req))
        (void)lost("cannot send DESTROY_CONTEXT");
}

} // namespace vn::proxy
