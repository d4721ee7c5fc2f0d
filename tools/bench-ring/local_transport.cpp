#include "local_transport.h"

#include <sys/mman.h>
#include <unistd.h>

namespace vn::bench {

using client::Status;

LocalTransport::LocalTransport(decoder::Mode mode)
    : m_context({mode, std::size_t{1} << 30, this, nullptr}) {}

LocalTransport::~LocalTransport() = default;

Status LocalTransport::submit_cmd(std::span<const std::byte> cmd) {
    return m_context.submit(cmd) ? Status::Ok : Status::Lost;
}

Status LocalTransport::create_blob(std::uint64_t blob_id, std::uint64_t size, std::uint32_t,
                                   client::Blob& out) {
    if (blob_id != 0)
        return Status::Refused;
    os::UniqueFd fd(::memfd_create("vn-local-blob", MFD_CLOEXEC));
    if (!fd || ::ftruncate(fd.get(), static_cast<off_t>(size)) != 0)
        return Status::System;
    auto mapping = os::Mapping::map(fd.get(), static_cast<std::size_t>(size));
    if (!mapping)
        return Status::System;
    std::lock_guard lock(m_mutex);
    out.res_id = m_next_res_id++;
    out.fd = std::move(fd);
    out.fd_type = client::FdType::Shm;
    out.size = size;
    m_shm.emplace(out.res_id, std::move(*mapping));
    return Status::Ok;
}

Status LocalTransport::destroy_resource(std::uint32_t res_id) {
    // As the worker does: a resource a ring or reply stream still uses makes the context fatal.
    const bool released = m_context.release_resource(res_id, [&] {
        std::lock_guard lock(m_mutex);
        m_shm.erase(res_id);
    });
    return released ? Status::Ok : Status::Lost;
}

Status LocalTransport::submit_fence(std::uint32_t ring_idx, std::uint32_t& seqno) {
    if (ring_idx != 0)
        return Status::InvalidArgument;
    if (m_context.is_fatal())
        return Status::Lost;
    seqno = ++m_fence_seqno;
    return Status::Ok;
}

Status LocalTransport::wait_fence(std::uint32_t ring_idx, std::uint32_t seqno, int) {
    if (ring_idx != 0 || seqno > m_fence_seqno)
        return Status::InvalidArgument;
    return m_context.is_fatal() ? Status::Lost : Status::Ok;
}

std::optional<decoder::ShmRegion> LocalTransport::shm(std::uint32_t id) {
    std::lock_guard lock(m_mutex);
    const auto it = m_shm.find(id);
    if (it == m_shm.end())
        return std::nullopt;
    return decoder::ShmRegion{static_cast<std::byte*>(it->second.data()), it->second.size()};
}

} // namespace vn::bench
