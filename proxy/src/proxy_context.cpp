#include "proxy_objects.h"
#include "vn/server/protocol/seqpacket.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace vn::proxy {

namespace protocol = server::protocol;

namespace {
constexpr std::uint32_t kMaxSubmitSize = 16u << 20;
constexpr std::size_t kShmemSize = VN_PROXY_RING_COUNT * sizeof(std::uint32_t);
} // namespace

ProxyContext::ProxyContext(std::shared_ptr<ProxyServer> server, std::uint32_t ctx_id,
                           UniqueFd socket, vn_proxy_layout layout, int timeout_ms)
    : m_server(std::move(server)), m_ctx_id(ctx_id), m_socket(std::move(socket)), m_layout(layout),
      m_timeout_ms(timeout_ms) {
    m_next_seqno.fill(1);
}

ProxyContext::~ProxyContext() {
    // Closing our end makes the worker exit even if DESTROY_CONTEXT never reaches the server.
    m_socket.reset();
    if (m_server)
        m_server->destroy_context(m_ctx_id);
}

int ProxyContext::lost(std::string why) {
    if (!m_lost)
        log_error("context %u lost: %s", m_ctx_id, why.c_str());
    m_lost = true;
    ::shutdown(m_socket.get(), SHUT_RDWR);
    return VN_PROXY_ERROR_CONTEXT_LOST;
}

int ProxyContext::send(std::span<const std::byte> data, std::span<const int> fds) {
    if (m_lost)
        return VN_PROXY_ERROR_CONTEXT_LOST;
    if (!protocol::send_message(m_socket.get(), data, fds))
        return lost(std::string("send failed: ") + std::strerror(errno));
    return VN_PROXY_OK;
}

int ProxyContext::receive_reply(std::span<std::byte> buffer, std::vector<UniqueFd>& fds,
                                std::size_t max_fds) {
    pollfd pfd{m_socket.get(), POLLIN, 0};
    int n;
    while ((n = ::poll(&pfd, 1, m_timeout_ms)) < 0 && errno == EINTR) {
    }
    if (n == 0)
        return lost("no reply from the worker");
    // One byte of slack: an oversized reply becomes a size mismatch instead of silent truncation.
    std::vector<std::byte> storage(buffer.size() + 1);
    auto received = protocol::recv_message(m_socket.get(), storage);
    switch (received.status) {
    case protocol::RecvStatus::Ok:
        break;
    case protocol::RecvStatus::Closed:
        return lost("worker closed the context");
    case protocol::RecvStatus::Truncated:
        return lost("truncated reply");
    case protocol::RecvStatus::BadControl:
        return lost("reply with an unexpected control message");
    case protocol::RecvStatus::Error:
        return lost(std::string("receive failed: ") + std::strerror(errno));
    }
    if (received.size != buffer.size())
        return lost("reply of " + std::to_string(received.size) + " bytes, expected " +
                    std::to_string(buffer.size()));
    if (received.fds.size() > max_fds)
        return lost("reply with " + std::to_string(received.fds.size()) + " fds");
    std::memcpy(buffer.data(), storage.data(), buffer.size());
    fds = std::move(received.fds);
    return VN_PROXY_OK;
}

int ProxyContext::init(std::uint32_t ctx_flags, bool fence_eventfd) {
    std::lock_guard lock(m_mutex);
    if (!protocol::is_seqpacket_socket(m_socket.get()))
        return lost("context fd is not a SOCK_SEQPACKET unix socket");
    m_shmem_fd.reset(::memfd_create("vn-proxy-ctx", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!m_shmem_fd || ::ftruncate(m_shmem_fd.get(), kShmemSize) != 0 ||
        ::fcntl(m_shmem_fd.get(), F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW) != 0)
        return VN_PROXY_ERROR_SYSTEM;
    // Read-only here: only the worker retires fences.
    auto mapping = os::Mapping::map(m_shmem_fd.get(), kShmemSize, PROT_READ);
    if (!mapping)
        return VN_PROXY_ERROR_SYSTEM;
    m_shmem = std::move(*mapping);
    if (fence_eventfd) {
        m_eventfd.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        if (!m_eventfd)
            return VN_PROXY_ERROR_SYSTEM;
    }
    protocol::ContextInitRequest req{};
    req.header.op = protocol::ContextOp::Init;
    req.flags = ctx_flags;
    req.shmem_size = kShmemSize;
    const int fds[2] = {m_shmem_fd.get(), m_eventfd.get()};
    return send_struct(req, std::span<const int>(fds, fence_eventfd ? 2 : 1));
}

int ProxyContext::submit_cmd(std::span<const std::byte> cmd) {
    if (cmd.size() > kMaxSubmitSize)
        return VN_PROXY_ERROR_INVALID_ARGUMENT;
    std::lock_guard lock(m_mutex);
    if (m_lost)
        return VN_PROXY_ERROR_CONTEXT_LOST;
    const std::size_t inlined = std::min(cmd.size(), protocol::kSubmitInlineSize);
    int result;
    if (m_layout == VN_PROXY_LAYOUT_V1) {
        protocol::v1::ContextSubmitCmdRequest req{};
        req.header.op = protocol::ContextOp::SubmitCmd;
        req.size = static_cast<std::uint32_t>(cmd.size());
        std::memcpy(req.cmd, cmd.data(), inlined);
        result = send_struct(req);
    } else {
        protocol::v0_10::ContextSubmitCmdRequest req{};
        req.header.op = protocol::ContextOp::SubmitCmd;
        req.size = cmd.size();
        std::memcpy(req.cmd, cmd.data(), inlined);
        result = send_struct(req);
    }
    if (result != VN_PROXY_OK)
        return result;
    if (cmd.size() > inlined) {
        result = send(cmd.subspan(inlined));
        if (result != VN_PROXY_OK)
            return result;
    }
    if (m_layout == VN_PROXY_LAYOUT_V0_10) {
        std::array<std::byte, sizeof(protocol::v0_10::ContextSubmitCmdReply)> reply;
        std::vector<UniqueFd> fds;
        result = receive_reply(reply, fds, 0);
        if (result != VN_PROXY_OK)
            return result;
        const auto ok = static_cast<std::uint8_t>(reply[0]);
        if (ok > 1)
            return lost("SUBMIT_CMD reply is not a bool");
        if (!ok)
            return VN_PROXY_ERROR_REFUSED;
    }
    return VN_PROXY_OK;
}

int ProxyContext::submit_fence(std::uint32_t ring, std::uint32_t& out_seqno) {
    if (ring >= VN_PROXY_RING_COUNT)
        return VN_PROXY_ERROR_INVALID_ARGUMENT;
    std::lock_guard lock(m_mutex);
    protocol::ContextSubmitFenceRequest req{};
    req.header.op = protocol::ContextOp::SubmitFence;
    req.flags = protocol::kFenceFlagMergeable;
    req.ring_index = ring;
    req.seqno = m_next_seqno[ring];
    const int result = send_struct(req);
    if (result == VN_PROXY_OK) {
        out_seqno = req.seqno;
        ++m_next_seqno[ring];
    }
    return result;
}

bool ProxyContext::seqno_retired(std::uint32_t ring, std::uint32_t seqno) const {
    auto* slots = static_cast<std::uint32_t*>(m_shmem.data());
    const std::uint32_t current =
        std::atomic_ref<std::uint32_t>(slots[ring]).load(std::memory_order_acquire);
    // Wrap-aware, as virglrenderer's proxy: seqnos are 32-bit counters.
    return static_cast<std::int32_t>(current - seqno) >= 0;
}

int ProxyContext::retired_seqno(std::uint32_t ring, std::uint32_t& out) {
    if (ring >= VN_PROXY_RING_COUNT || !m_shmem.valid())
        return VN_PROXY_ERROR_INVALID_ARGUMENT;
    auto* slots = static_cast<std::uint32_t*>(m_shmem.data());
    out = std::atomic_ref<std::uint32_t>(slots[ring]).load(std::memory_order_acquire);
    return VN_PROXY_OK;
}

bool ProxyContext::peer_hung_up() {
    pollfd pfd{m_socket.get(), POLLIN, 0};
    if (::poll(&pfd, 1, 0) <= 0)
        return false;
    // With no request outstanding, anything readable is either EOF or a worker speaking out of
    // turn; both end the context.
    return (pfd.revents & (POLLHUP | POLLERR | POLLNVAL | POLLIN)) != 0;
}

int ProxyContext::wait_fence(std::uint32_t ring, std::uint32_t seqno, int timeout_ms) {
    if (ring >= VN_PROXY_RING_COUNT || !m_shmem.valid())
        return VN_PROXY_ERROR_INVALID_ARGUMENT;
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms);
    for (;;) {
        if (seqno_retired(ring, seqno))
            return VN_PROXY_OK;
        {
            std::lock_guard lock(m_mutex);
            if (m_lost || peer_hung_up()) {
                // A fence retired just before the worker died still counts.
                if (seqno_retired(ring, seqno))
                    return VN_PROXY_OK;
                return m_lost ? VN_PROXY_ERROR_CONTEXT_LOST : lost("worker hung up");
            }
        }
        int slice = 50;
        if (timeout_ms >= 0) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left.count() <= 0)
                return VN_PROXY_ERROR_TIMEOUT;
            slice = static_cast<int>(std::min<long long>(slice, left.count()));
        }
        // Sleep on the eventfd and the socket together: a retirement or a dying worker wakes us.
        pollfd pfds[2] = {{m_socket.get(), POLLIN, 0}, {m_eventfd.get(), POLLIN, 0}};
        const nfds_t count = m_eventfd ? 2 : 1;
        if (!m_eventfd)
            slice = std::min(slice, 1);
        ::poll(pfds, count, slice);
        if (m_eventfd && (pfds[1].revents & POLLIN)) {
            std::uint64_t value;
            (void)!::read(m_eventfd.get(), &value, sizeof(value));
        }
    }
}

int ProxyContext::validate_blob(std::uint32_t res_id, std::uint64_t blob_size,
                                vn_proxy_fd_type type, std::uint32_t map_info, int fd) {
    const std::string what = "resource " + std::to_string(res_id) + ": ";
    if ((map_info & ~protocol::kMapCacheMask) != 0 ||
        (map_info & protocol::kMapCacheMask) > protocol::kMapCacheWc)
        return lost(what + "bad map_info " + std::to_string(map_info));
    struct stat st {};
    if (::fstat(fd, &st) != 0)
        return lost(what + "unusable fd");
    switch (type) {
    case VN_PROXY_FD_SHM: {
        if (!S_ISREG(st.st_mode))
            return lost(what + "SHM fd is not a regular file");
        // Seal it ourselves: the worker must never be able to shrink it under the guest's mapping.
        // A file that is sealed already (F_SEAL_SEAL refuses more seals) is as good when it
        // carries the seals we would add.
        constexpr int kWanted = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW;
        if (::fcntl(fd, F_ADD_SEALS, kWanted) != 0 &&
            (protocol::file_seals(fd) < 0 || (protocol::file_seals(fd) & kWanted) != kWanted))
            return lost(what + "SHM fd cannot be sealed");
        const int seals = protocol::file_seals(fd);
        if (seals < 0 || (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)))
            return lost(what + "SHM fd is write-sealed");
        // The worker rounds memory up to whole pages: the fd may be larger than the blob (the
        // VMM maps blob_size bytes of it), never smaller.
        const auto size = protocol::regular_file_size(fd);
        if (!size || *size < blob_size)
            return lost(what + "SHM fd is smaller than blob_size");
        break;
    }
    case VN_PROXY_FD_DMABUF: {
        if (!protocol::is_dmabuf(fd))
            return lost(what + "DMABUF fd is not a dma-buf");
        const auto size = protocol::seek_size(fd);
        if (!size || *size < blob_size)
            return lost(what + "dma-buf smaller than blob_size");
        break;
    }
    case VN_PROXY_FD_OPAQUE:
        // Only the driver can judge an opaque fd, but it must not be a channel to the worker.
        if (S_ISSOCK(st.st_mode) || S_ISDIR(st.st_mode) || S_ISFIFO(st.st_mode))
            return lost(what + "OPAQUE fd is a socket, pipe or directory");
        break;
    default:
        return lost(what + "unknown fd type " + std::to_string(static_cast<int>(type)));
    }
    return VN_PROXY_OK;
}

int ProxyContext::create_resource(std::uint32_t res_id, std::uint64_t blob_id,
                                  std::uint64_t blob_size, std::uint32_t blob_flags,
                                  vn_proxy_blob& out) {
    std::lock_guard lock(m_mutex);
    protocol::ContextCreateResourceRequest req{};
    req.header.op = protocol::ContextOp::CreateResource;
    req.res_id = res_id;
    req.blob_id = blob_id;
    req.blob_size = blob_size;
    req.blob_flags = blob_flags;
    int result = send_struct(req);
    if (result != VN_PROXY_OK)
        return result;

    protocol::v1::ContextCreateResourceReply reply{};
    std::vector<UniqueFd> fds;
    if (m_layout == VN_PROXY_LAYOUT_V1) {
        std::array<std::byte, sizeof(protocol::v1::ContextCreateResourceReply)> buffer;
        result = receive_reply(buffer, fds, 1);
        if (result != VN_PROXY_OK)
            return result;
        std::memcpy(&reply, buffer.data(), sizeof(reply));
    } else {
        std::array<std::byte, sizeof(protocol::v0_10::ContextCreateResourceReply)> buffer;
        result = receive_reply(buffer, fds, 1);
        if (result != VN_PROXY_OK)
            return result;
        protocol::v0_10::ContextCreateResourceReply old{};
        std::memcpy(&old, buffer.data(), sizeof(old));
        reply.fd_type = old.fd_type;
        reply.map_info = old.map_info;
    }
    if (reply.fd_type == protocol::FdType::Invalid) {
        if (!fds.empty())
            return lost("resource " + std::to_string(res_id) + ": INVALID reply with an fd");
        return VN_PROXY_ERROR_REFUSED;
    }
    if (fds.size() != 1)
        return lost("resource " + std::to_string(res_id) + ": reply without its fd");
    const auto type = static_cast<vn_proxy_fd_type>(reply.fd_type);
    result = validate_blob(res_id, blob_size, type, reply.map_info, fds[0].get());
    if (result != VN_PROXY_OK)
        return result;
    out.fd = fds[0].release();
    out.fd_type = type;
    out.map_info = reply.map_info;
    std::memcpy(out.vulkan_info.device_uuid, reply.vulkan_info.device_uuid, 16);
    std::memcpy(out.vulkan_info.driver_uuid, reply.vulkan_info.driver_uuid, 16);
    out.vulkan_info.allocation_size = reply.vulkan_info.allocation_size;
    out.vulkan_info.memory_type_index = reply.vulkan_info.memory_type_index;
    return VN_PROXY_OK;
}

int ProxyContext::import_resource(std::uint32_t res_id, vn_proxy_fd_type fd_type, int fd,
                                  std::uint64_t size) {
    if (res_id == 0 || size == 0 || fd < 0)
        return VN_PROXY_ERROR_INVALID_ARGUMENT;
    // Catch the caller's mistakes here, where they cost an error code and not the context.
    if (fd_type == VN_PROXY_FD_SHM) {
        const auto file_size = protocol::regular_file_size(fd);
        const int seals = protocol::file_seals(fd);
        if (!file_size || *file_size < size || seals < 0 || !(seals & F_SEAL_SHRINK))
            return VN_PROXY_ERROR_INVALID_ARGUMENT;
    } else if (fd_type == VN_PROXY_FD_DMABUF) {
        const auto dmabuf_size = protocol::is_dmabuf(fd) ? protocol::seek_size(fd) : std::nullopt;
        if (!dmabuf_size || *dmabuf_size < size)
            return VN_PROXY_ERROR_INVALID_ARGUMENT;
    } else {
        return VN_PROXY_ERROR_INVALID_ARGUMENT;
    }
    std::lock_guard lock(m_mutex);
    protocol::ContextImportResourceRequest req{};
    req.header.op = protocol::ContextOp::ImportResource;
    req.res_id = res_id;
    req.fd_type = static_cast<protocol::FdType>(fd_type);
    req.size = size;
    return send_struct(req, std::span<const int>(&fd, 1));
}

int ProxyContext::destroy_resource(std::uint32_t res_id) {
    std::lock_guard lock(m_mutex);
    protocol::ContextDestroyResourceRequest req{};
    req.header.op = protocol::ContextOp::DestroyResource;
    req.res_id = res_id;
    return send_struct(req);
}

int ProxyContext::check() {
    std::lock_guard lock(m_mutex);
    if (m_lost)
        return VN_PROXY_ERROR_CONTEXT_LOST;
    if (peer_hung_up())
        return lost("worker hung up");
    return VN_PROXY_OK;
}

} // namespace vn::proxy
