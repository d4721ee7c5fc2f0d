#include "vtest_transport.h"

#include <fcntl.h>
#include <poll.h>

namespace vn::vtest::client {

using vn::client::Status;

VtestTransport::VtestTransport(const std::string& socket_path, const std::string& name) {
    if (!m_client.connect(socket_path))
        throw vn::client::SetupError("vtest: cannot connect to " + socket_path);
    if (!m_client.handshake(name))
        throw vn::client::SetupError("vtest: start-up sequence failed on " + socket_path);
}

Status VtestTransport::lost(const std::string& what) {
    m_lost = true;
    m_error = what + ": the vtest connection is gone";
    return Status::Lost;
}

std::string VtestTransport::last_error() const {
    std::lock_guard lock(m_mutex);
    return m_error;
}

Status VtestTransport::submit_cmd(std::span<const std::byte> cmd) {
    if (cmd.empty() || cmd.size() % 4 != 0)
        return Status::InvalidArgument;
    std::lock_guard lock(m_mutex);
    if (m_lost)
        return Status::Lost;
    const Batch batch{cmd, {}, 0};
    return m_client.submit_cmd2({&batch, 1}) ? Status::Ok : lost("submit_cmd");
}

Status VtestTransport::create_blob(std::uint64_t blob_id, std::uint64_t size, std::uint32_t flags,
                                   vn::client::Blob& out) {
    std::lock_guard lock(m_mutex);
    if (m_lost)
        return Status::Lost;
    // Mesa creates every blob as HOST3D: shmems with blob_id 0, device memory with its id.
    auto blob = m_client.create_blob(kBlobHost3d, flags, size, blob_id);
    if (!blob)
        return lost("create_blob");
    out.res_id = blob->res_id;
    // vtest does not say what the fd is; a memfd carries seals, a dma-buf does not.
    out.fd_type = ::fcntl(blob->fd.get(), F_GET_SEALS) >= 0 ? vn::client::FdType::Shm
                                                            : vn::client::FdType::Dmabuf;
    out.fd = std::move(blob->fd);
    out.size = size;
    out.map_info = 1; // VIRGL_RENDERER_MAP_CACHE_CACHED, what vtest clients assume
    return Status::Ok;
}

Status VtestTransport::destroy_resource(std::uint32_t res_id) {
    std::lock_guard lock(m_mutex);
    if (m_lost)
        return Status::Lost;
    return m_client.resource_unref(res_id) ? Status::Ok : lost("destroy_resource");
}

Status VtestTransport::submit_fence(std::uint32_t ring_idx, std::uint32_t& seqno) {
    if (ring_idx >= kMaxTimelineCount)
        return Status::InvalidArgument;
    std::lock_guard lock(m_mutex);
    if (m_lost)
        return Status::Lost;
    Timeline& t = m_timelines[ring_idx];
    if (t.sync_id == 0) {
        const auto id = m_client.sync_create(0);
        if (!id)
            return lost("submit_fence");
        t.sync_id = *id;
    }
    ++t.seqno;
    if (t.seqno == 0)
        ++t.seqno;
    // An empty batch whose sync the server signals when the fence retires on that ring.
    const Batch batch{{}, {{t.sync_id, t.seqno}}, ring_idx};
    if (!m_client.submit_cmd2({&batch, 1}))
        return lost("submit_fence");
    seqno = t.seqno;
    return Status::Ok;
}

Status VtestTransport::wait_fence(std::uint32_t ring_idx, std::uint32_t seqno, int timeout_ms) {
    if (ring_idx >= kMaxTimelineCount)
        return Status::InvalidArgument;
    UniqueFd eventfd;
    {
        std::lock_guard lock(m_mutex);
        if (m_lost)
            return Status::Lost;
        const Timeline& t = m_timelines[ring_idx];
        if (t.sync_id == 0 || seqno == 0 || seqno > t.seqno)
            return Status::InvalidArgument;
        const SyncValue wait{t.sync_id, seqno};
        auto fd = m_client.sync_wait(
            0, timeout_ms < 0 ? kSyncWaitInfinite : static_cast<std::uint32_t>(timeout_ms),
            {&wait, 1});
        if (!fd)
            return lost("wait_fence");
        eventfd = std::move(*fd);
    }
    // As Mesa does: poll the eventfd outside the socket lock. The socket is watched for a hang-up
    // only, so that a context the server dropped fails the wait instead of blocking it forever.
    pollfd p[2] = {{eventfd.get(), POLLIN, 0}, {m_client.fd(), POLLRDHUP, 0}};
    const int ready = ::poll(p, 2, timeout_ms);
    if (ready > 0 && (p[0].revents & POLLIN))
        return Status::Ok;
    std::lock_guard lock(m_mutex);
    if (ready > 0)
        return lost("wait_fence");
    if (ready < 0) {
        m_error = "wait_fence: poll failed";
        return Status::System;
    }
    m_error = "wait_fence: timed out";
    return Status::Timeout;
}

bool VtestTransport::is_lost() {
    std::lock_guard lock(m_mutex);
    if (m_lost)
        return true;
    // The server never sends anything unasked: readable or hung up here means it closed on us.
    pollfd p{m_client.fd(), POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 0) == 1 && p.revents != 0)
        (void)lost("is_lost");
    return m_lost;
}

} // namespace vn::vtest::client
