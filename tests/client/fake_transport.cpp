#include "fake_transport.h"

#include <sys/mman.h>
#include <unistd.h>

namespace vn::test {

client::Status FakeTransport::submit_cmd(std::span<const std::byte> cmd) {
    if (lost)
        return client::Status::Lost;
    pending.insert(pending.end(), cmd.begin(), cmd.end());
    all_streams.insert(all_streams.end(), cmd.begin(), cmd.end());
    return client::Status::Ok;
}

client::Status FakeTransport::create_blob(std::uint64_t blob_id, std::uint64_t size, std::uint32_t,
                                          client::Blob& out) {
    (void)blob_id;
    client::UniqueFd fd(::memfd_create("fake-blob", MFD_CLOEXEC));
    if (!fd || ::ftruncate(fd.get(), static_cast<off_t>(size)) != 0)
        return client::Status::System;
    out.res_id = m_next_res++;
    resources[out.res_id] = client::Mapping::map(fd.get(), size).value_or(client::Mapping{});
    out.fd = std::move(fd);
    out.fd_type = client::FdType::Shm;
    out.size = size;
    return client::Status::Ok;
}

client::Status FakeTransport::destroy_resource(std::uint32_t res_id) {
    destroyed.push_back(res_id);
    resources.erase(res_id);
    return client::Status::Ok;
}

client::Status FakeTransport::submit_fence(std::uint32_t, std::uint32_t& seqno) {
    if (lost)
        return client::Status::Lost;
    seqno = ++m_seqno;
    if (responder)
        responder(*this, pending);
    pending.clear();
    return client::Status::Ok;
}

client::Status FakeTransport::wait_fence(std::uint32_t, std::uint32_t, int) {
    return lost ? client::Status::Lost : client::Status::Ok;
}

std::span<std::byte> FakeTransport::resource(std::uint32_t res_id) {
    auto it = resources.find(res_id);
    if (it == resources.end())
        return {};
    return it->second.as<std::byte>();
}

} // namespace vn::test
