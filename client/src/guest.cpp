#include "vn/client/guest.h"

#include <atomic>
#include <cstring>

namespace vn::client {

const char* status_string(Status s) {
    switch (s) {
    case Status::Ok:
        return "ok";
    case Status::Lost:
        return "context lost";
    case Status::Refused:
        return "refused";
    case Status::Timeout:
        return "timeout";
    case Status::InvalidArgument:
        return "invalid argument";
    case Status::System:
        return "system error";
    case Status::BadReply:
        return "bad reply";
    }
    return "unknown status";
}

namespace {
// A command type no Venus command has: a reply stream that still starts with it was not answered.
constexpr std::uint32_t unanswered = 0xffffffffu;
} // namespace

Guest::Guest(Transport& transport, GuestOptions options)
    : m_transport(&transport), m_options(options) {
    if (const Status s = map_blob(0, m_options.reply_size, m_reply); s != Status::Ok)
        throw SetupError("reply stream shmem: " + m_error);
    if (!m_reply.mapped())
        throw SetupError("reply stream shmem: the transport gave an unmappable fd");
}

Status Guest::failed(Status s, const std::string& what) {
    m_error = what + ": " + status_string(s);
    if (const std::string why = m_transport->last_error(); !why.empty())
        m_error += " (" + why + ")";
    return s;
}

Status Guest::submit(std::span<const std::byte> stream) {
    const Status s = m_transport->submit_cmd(stream);
    return s == Status::Ok ? s : failed(s, "submit");
}

Status Guest::submit_indirect(std::span<const std::byte> stream) {
    if (stream.empty())
        return Status::Ok;
    if (m_indirect.size() < stream.size()) {
        const std::size_t size = (stream.size() + 0xffff) & ~std::size_t{0xffff};
        m_indirect.reset();
        if (const Status s = map_blob(0, size, m_indirect); s != Status::Ok)
            return s;
        if (!m_indirect.mapped())
            return failed(Status::System, "indirect stream shmem");
    }
    std::memcpy(m_indirect.data(), stream.data(), stream.size());
    VkCommandStreamDescriptionMESA desc{m_indirect.res_id(), 0, stream.size()};
    gen::ExecuteCommandStreamsMESAArgs exec;
    exec.streamCount = 1;
    exec.pStreams = &desc;
    if (const Status s = send(exec); s != Status::Ok)
        return s;
    return sync();
}

Status Guest::sync() {
    return wait_timeline(0, m_options.timeout_ms);
}

Status Guest::wait_timeline(std::uint32_t ring_idx, int timeout_ms) {
    std::uint32_t seqno = 0;
    if (const Status s = m_transport->submit_fence(ring_idx, seqno); s != Status::Ok)
        return failed(s, "submit_fence");
    if (const Status s = m_transport->wait_fence(ring_idx, seqno, timeout_ms); s != Status::Ok)
        return failed(s, "wait_fence");
    return Status::Ok;
}

Status Guest::map_blob(std::uint64_t blob_id, std::uint64_t size, MappedBlob& out,
                       std::uint32_t flags) {
    Blob blob;
    if (const Status s = m_transport->create_blob(blob_id, size, flags, blob); s != Status::Ok)
        return failed(s, "create_blob");
    if (blob.fd_type == FdType::Opaque) {
        // Only the driver that exported an OPAQUE fd knows its layout (lavapipe's memfds start
        // with a private header), so a VMM imports it into Vulkan to map it; mmap would show
        // the wrong bytes, and writing them corrupts the driver's allocation.
        out = MappedBlob(*m_transport, std::move(blob), Mapping{});
        return Status::Ok;
    }
    Mapping mapping =
        Mapping::map(blob.fd.get(), static_cast<std::size_t>(size)).value_or(Mapping{});
    const bool mapped = mapping.valid();
    out = MappedBlob(*m_transport, std::move(blob), std::move(mapping));
    if (!mapped) {
        out.reset();
        m_error = "mmap of blob " + std::to_string(blob_id) + " failed";
        return Status::System;
    }
    return Status::Ok;
}

void Guest::encode_reply_stream(protocol::Writer& w) {
    VkCommandStreamDescriptionMESA desc{m_reply.res_id(), 0, m_reply.size()};
    gen::SetReplyCommandStreamMESAArgs set;
    set.pStream = &desc;
    gen::encode_args(w, 0, set);
}

void Guest::poison_reply() {
    std::atomic_ref<std::uint32_t>(*static_cast<std::uint32_t*>(m_reply.data()))
        .store(unanswered, std::memory_order_relaxed);
}

Status Guest::bad_reply(const char* command, const std::string& reason) {
    if (m_transport->is_lost())
        return failed(Status::Lost, std::string(command) + " got no reply");
    m_error = std::string(command) + ": bad reply: " + reason;
    return Status::BadReply;
}

} // namespace vn::client
