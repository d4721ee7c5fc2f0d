// The extern "C" surface. Nothing may throw across it: every entry point catches everything.
#include "proxy_objects.h"
#include "vn/os/unique_fd.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#ifndef VN_PROXY_DEFAULT_SERVER_PATH
#define VN_PROXY_DEFAULT_SERVER_PATH "/usr/libexec/venus-render-server"
#endif

struct vn_proxy_server {
    std::shared_ptr<vn::proxy::ProxyServer> impl;
};

struct vn_proxy_context {
    std::unique_ptr<vn::proxy::ProxyContext> impl;
};

namespace {

using vn::proxy::UniqueFd;

template <typename F>
int guarded(F&& f) {
    try {
        return f();
    } catch (const std::bad_alloc&) {
        return VN_PROXY_ERROR_SYSTEM;
    } catch (...) {
        return VN_PROXY_ERROR_SYSTEM;
    }
}

bool valid_layout(vn_proxy_layout layout) {
    return layout == VN_PROXY_LAYOUT_V1 || layout == VN_PROXY_LAYOUT_V0_10;
}

int make_server(UniqueFd fd, vn_proxy_layout layout, std::uint32_t init_flags,
                vn::proxy::ServerProcess process, vn_proxy_server** out) {
    auto impl = std::make_shared<vn::proxy::ProxyServer>(std::move(fd), layout, std::move(process));
    const int result = impl->init(init_flags);
    if (result != VN_PROXY_OK)
        return result;
    *out = new vn_proxy_server{std::move(impl)};
    return VN_PROXY_OK;
}

int make_context(std::shared_ptr<vn::proxy::ProxyServer> server, std::uint32_t ctx_id, UniqueFd fd,
                 vn_proxy_layout layout, int timeout_ms, std::uint32_t ctx_flags,
                 bool fence_eventfd, vn_proxy_context** out) {
    auto impl = std::make_unique<vn::proxy::ProxyContext>(std::move(server), ctx_id, std::move(fd),
                                                          layout, timeout_ms);
    const int result = impl->init(ctx_flags, fence_eventfd);
    if (result != VN_PROXY_OK)
        return result;
    *out = new vn_proxy_context{std::move(impl)};
    return VN_PROXY_OK;
}

} // namespace

extern "C" {

const char* vn_proxy_result_string(int result) {
    switch (result) {
    case VN_PROXY_OK:
        return "ok";
    case VN_PROXY_ERROR_INVALID_ARGUMENT:
        return "invalid argument";
    case VN_PROXY_ERROR_CONTEXT_LOST:
        return "context lost";
    case VN_PROXY_ERROR_SERVER_LOST:
        return "render server lost";
    case VN_PROXY_ERROR_REFUSED:
        return "refused";
    case VN_PROXY_ERROR_TIMEOUT:
        return "timed out";
    case VN_PROXY_ERROR_SYSTEM:
        return "system error";
    default:
        return "unknown result";
    }
}

int vn_proxy_server_spawn(const char* path, vn_proxy_layout layout, uint32_t init_flags,
                          vn_proxy_server** out) {
    if (!out || !valid_layout(layout))
        return VN_PROXY_ERROR_INVALID_ARGUMENT;
    return guarded([&]() -> int {
        std::string exec_path;
        if (path) {
            exec_path = path;
        } else if (const char* env = std::getenv(VN_PROXY_SERVER_PATH_ENV); env && *env) {
            exec_path = env;
        } else {
            exec_path = VN_PROXY_DEFAULT_SERVER_PATH;
        }
        int pair[2];
        if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
            return VN_PROXY_ERROR_SYSTEM;
        UniqueFd ours(pair[0]);
        UniqueFd theirs(pair[1]);
        // Reports exec failure: the write end closes on a successful exec.
        int status_pipe[2];
        if (::pipe2(status_pipe, O_CLOEXEC) != 0)
            return VN_PROXY_ERROR_SYSTEM;
        UniqueFd status_read(status_pipe[0]);
        UniqueFd status_write(status_pipe[1]);

        // Everything the child needs is prepared before fork: after it, only async-signal-safe
        // calls, because the VMM may be multithreaded.
        // In the child the socket becomes fd 3 and the status pipe fd 4; everything above closes.
        constexpr int kServerFd = 3;
        constexpr int kStatusFd = 4;
        const std::string fd_arg = std::to_string(kServerFd);
        char* const argv[] = {exec_path.data(), const_cast<char*>("--socket-fd"),
                              const_cast<char*>(fd_arg.c_str()), nullptr};
        const pid_t pid = ::fork();
        if (pid < 0)
            return VN_PROXY_ERROR_SYSTEM;
        if (pid == 0) {
            // Own process group: a ^C aimed at the VMM must not kill the server underneath it.
            ::setpgid(0, 0);
            // The server gets its socket and stdio only, never fds the VMM forgot to mark
            // close-on-exec. Both fds go above the targets first so that neither clobbers the
            // other.
            const int socket_tmp = ::fcntl(theirs.get(), F_DUPFD, kStatusFd + 1);
            const int status_tmp = ::fcntl(status_write.get(), F_DUPFD_CLOEXEC, kStatusFd + 1);
            if (socket_tmp < 0 || status_tmp < 0 || ::dup2(socket_tmp, kServerFd) < 0 ||
                ::dup3(status_tmp, kStatusFd, O_CLOEXEC) < 0)
                ::_exit(127);
            ::syscall(SYS_close_range, kStatusFd + 1, ~0u, 0);
            ::execv(argv[0], argv);
            const int err = errno;
            (void)!::write(kStatusFd, &err, sizeof(err));
            ::_exit(127);
        }
        vn::proxy::ServerProcess process(pid);
        theirs.reset();
        status_write.reset();
        int child_errno = 0;
        ssize_t n;
        while ((n = ::read(status_read.get(), &child_errno, sizeof(child_errno))) < 0 &&
               errno == EINTR) {
        }
        if (n > 0) {
            vn::proxy::log_error("cannot exec %s: %s", exec_path.c_str(),
                                 std::strerror(child_errno));
            return VN_PROXY_ERROR_SERVER_LOST;
        }
        return make_server(std::move(ours), layout, init_flags, std::move(process), out);
    });
}

int vn_proxy_server_connect(int fd, vn_proxy_layout layout, uint32_t init_flags,
                            vn_proxy_server** out) {
    UniqueFd owned(fd);
    if (fd < 0 || !out || !valid_layout(layout))
        return VN_PROXY_ERROR_INVALID_ARGUMENT;
    return guarded([&]() -> int {
        ::fcntl(owned.get(), F_SETFD, FD_CLOEXEC);
        return make_server(std::move(owned), layout, init_flags, vn::proxy::ServerProcess(), out);
    });
}

void vn_proxy_server_destroy(vn_proxy_server* server) {
    if (!server)
        return;
    server->impl->shutdown();
    delete server;
}

int vn_proxy_server_pid(const vn_proxy_server* server) {
    return server ? static_cast<int>(server->impl->pid()) : -1;
}

void vn_proxy_server_set_reply_timeout(vn_proxy_server* server, int timeout_ms) {
    if (server && timeout_ms > 0)
        server->impl->set_reply_timeout(timeout_ms);
}

int vn_proxy_context_create(vn_proxy_server* server, uint32_t ctx_id, const char* name,
                            uint32_t ctx_flags, bool fence_eventfd, vn_proxy_context** out) {
    if (!server || !out || ctx_id == 0)
        return VN_PROXY_ERROR_INVALID_ARGUMENT;
    return guarded([&]() -> int {
        UniqueFd fd;
        const int result = server->impl->create_context(ctx_id, name, fd);
        if (result != VN_PROXY_OK)
            return result;
        return make_context(server->impl, ctx_id, std::move(fd), server->impl->layout(),
                            server->impl->reply_timeout_ms(), ctx_flags, fence_eventfd, out);
    });
}

int vn_proxy_context_adopt(int fd, vn_proxy_layout layout, uint32_t ctx_flags, bool fence_eventfd,
                           vn_proxy_context** out) {
    UniqueFd owned(fd);
    if (fd < 0 || !out || !valid_layout(layout))
        return VN_PROXY_ERROR_INVALID_ARGUMENT;
    return guarded([&]() -> int {
        ::fcntl(owned.get(), F_SETFD, FD_CLOEXEC);
        return make_context(nullptr, 0, std::move(owned), layout, 10000, ctx_flags, fence_eventfd,
                            out);
    });
}

void vn_proxy_context_destroy(vn_proxy_context* ctx) {
    delete ctx;
}

int vn_proxy_context_submit_cmd(vn_proxy_context* ctx, const void* cmd, size_t size) {
    if (!ctx || (!cmd && size))
        return VN_PROXY_ERROR_INVALID_ARGUMENT;
    return guarded([&]() -> int {
        return ctx->impl->submit_cmd(std::span(static_cast<const std::byte*>(cmd), size));
    });
}

int vn_proxy_context_submit_fence(vn_proxy_context* ctx, uint32_t ring, uint32_t* out_seqno) {
    if (!ctx || !out_seqno)
        return VN_PROXY_ERROR_INVALID_ARGUMENT;
    return guarded([&]() -> int { return ctx->impl->submit_fence(ring, *out_seqno); });
}

int vn_proxy_context_retired_seqno(vn_proxy_context* ctx, uint32_t ring, uint32_t* out_seqno) {
    if (!ctx || !out_seqno)
        return VN_PROXY_ERROR_INVALID_ARGUMENT;
    return ctx->impl->retired_seqno(ring, *out_seqno);
}

int vn_proxy_context_wait_fence(vn_proxy_context* ctx, uint32_t ring, uint32_t seqno,
                                int timeout_ms) {
    if (!ctx)
        return VN_PROXY_ERROR_INVALID_ARGUMENT;
    return guarded([&]() -> int { return ctx->impl->wait_fence(ring, seqno, timeout_ms); });
}

int vn_proxy_context_fence_fd(const vn_proxy_context* ctx) {
    return ctx ? ctx->impl->fence_fd() : -1;
}

int vn_proxy_context_create_resource(vn_proxy_context* ctx, uint32_t res_id, uint64_t blob_id,
                                     uint64_t blob_size, uint32_t blob_flags, vn_proxy_blob* out) {
    if (!ctx || !out || res_id == 0 || blob_size == 0)
        return VN_PROXY_ERROR_INVALID_ARGUMENT;
    return guarded([&]() -> int {
        return ctx->impl->create_resource(res_id, blob_id, blob_size, blob_flags, *out);
    });
}

int vn_proxy_context_import_resource(vn_proxy_context* ctx, uint32_t res_id,
                                     vn_proxy_fd_type fd_type, int fd, uint64_t size) {
    if (!ctx)
        return VN_PROXY_ERROR_INVALID_ARGUMENT;
    return guarded([&]() -> int { return ctx->impl->import_resource(res_id, fd_type, fd, size); });
}

int vn_proxy_context_destroy_resource(vn_proxy_context* ctx, uint32_t res_id) {
    if (!ctx)
        return VN_PROXY_ERROR_INVALID_ARGUMENT;
    return guarded([&]() -> int { return ctx->impl->destroy_resource(res_id); });
}

void vn_proxy_context_set_reply_timeout(vn_proxy_context* ctx, int timeout_ms) {
    if (ctx && timeout_ms > 0)
        ctx->impl->set_reply_timeout(timeout_ms);
}

int vn_proxy_context_check(vn_proxy_context* ctx) {
    if (!ctx)
        return VN_PROXY_ERROR_INVALID_ARGUMENT;
    return guarded([&]() -> int { return ctx->impl->check(); });
}

bool vn_proxy_context_is_lost(const vn_proxy_context* ctx) {
    return !ctx || ctx->impl->is_lost();
}

int vn_proxy_context_socket_fd(const vn_proxy_context* ctx) {
    return ctx ? ctx->impl->socket_fd() : -1;
}

} // extern "C"
