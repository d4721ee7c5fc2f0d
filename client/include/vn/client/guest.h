#pragma once
// The guest side of one Venus context, as Mesa's Venus driver drives it: commands encoded with
// the generated driver-side encoder, replies read from a reply stream in a shmem blob, CPU-timeline
// fences to wait for the renderer, and device memory mapped as blobs.
//
// The client distrusts the server as much as the server distrusts it: a reply is decoded with the
// same bounded reader, must answer the command that was sent, and a missing reply (a context that
// died or dropped the command) is detected rather than read as stale bytes.
//
// Not thread-safe: one Guest, one thread (as one Mesa instance serializes its reply stream).
#include "vn/client/mapping.h"
#include "vn/client/transport.h"
#include "vn/protocol/arena.h"
#include "vn/protocol/decoder.h"
#include "vn/protocol/writer.h"
#include "vn_protocol.gen.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace vn::client {

struct GuestOptions {
    // Mesa's driver grows its reply shmem on demand; 1 MiB covers every query we make.
    std::size_t reply_size = 1u << 20;
    // How long a call waits for its fence before it reports Timeout.
    int timeout_ms = 30000;
};

class Guest {
  public:
    // Creates and maps the reply stream's shmem. Throws SetupError when the transport cannot.
    explicit Guest(Transport& transport, GuestOptions options = {});
    Guest(const Guest&) = delete;
    Guest& operator=(const Guest&) = delete;
    // The reply stream stays set in the renderer until the context ends, so its resource goes
    // with the context rather than being destroyed under it.
    ~Guest() { m_reply.release_to_context(); }

    Transport& transport() const { return *m_transport; }
    const GuestOptions& options() const { return m_options; }

    // A fresh object id for this guest (Mesa uses addresses; any unique non-zero u64 will do).
    std::uint64_t new_id() { return m_next_id += 0x40; }

    // Raw stream submission on the context path.
    Status submit(std::span<const std::byte> stream);

    // Fire and forget, like Mesa's vn_async_*: no reply requested.
    template <typename Args>
    Status send(const Args& args) {
        m_stream.clear();
        protocol::Writer w(m_stream);
        gen::encode_args(w, 0, args);
        return submit(m_stream);
    }

    // A synchronous call, like Mesa's vn_call_*: point the reply stream at our shmem, encode the
    // command with GENERATE_REPLY, submit, wait on a CPU-timeline fence, decode the reply into
    // `reply` (a copy of `args` whose output pointers then point into this Guest's reply arena,
    // valid until the next call).
    template <typename Args>
    Status call(const Args& args, Args& reply) {
        m_stream.clear();
        protocol::Writer w(m_stream);
        encode_call(w, args);
        if (const Status s = submit(m_stream); s != Status::Ok)
            return s;
        if (const Status s = sync(); s != Status::Ok)
            return s;
        return read_reply(args, reply);
    }
    template <typename Args>
    std::optional<Args> call(const Args& args) {
        Args reply{};
        if (call(args, reply) != Status::Ok)
            return std::nullopt;
        return reply;
    }

    // A stream as Mesa submits one too large for its ring: copied into a shmem blob (kept and
    // grown across calls) and run with vkExecuteCommandStreamsMESA, so the context path carries
    // a 60-byte command. Waits for the renderer (a ring-0 fence) before returning, as the blob
    // is reused by the next call.
    Status submit_indirect(std::span<const std::byte> stream);

    // A fence on ring 0, submitted and waited for: everything submitted before was decoded.
    Status sync();
    // A fence on queue timeline ring_idx, submitted and waited for.
    Status wait_timeline(std::uint32_t ring_idx, int timeout_ms);

    // A blob (blob_id 0: a shmem; otherwise the VkDeviceMemory with that id), mapped when its
    // fd is SHM or DMABUF. An OPAQUE fd is the driver's to interpret: the blob is created but
    // left unmapped (out.mapped() is false, its span empty).
    Status map_blob(std::uint64_t blob_id, std::uint64_t size, MappedBlob& out,
                    std::uint32_t flags = blob_flag_mappable);

    // Why the last failing operation failed.
    const std::string& last_error() const { return m_error; }

    // ---- Pieces for transports of commands other than the context path (rings). ----
    // vkSetReplyCommandStreamMESA at our reply shmem, then the command with GENERATE_REPLY.
    // Marks the reply stream as unanswered, so a reply that never comes cannot be read as stale.
    template <typename Args>
    void encode_call(protocol::Writer& w, const Args& args) {
        encode_reply_stream(w);
        gen::encode_args(w, VK_COMMAND_GENERATE_REPLY_BIT_EXT, args);
        poison_reply();
    }
    // Decodes the reply to `args` from the reply stream.
    template <typename Args>
    Status read_reply(const Args& args, Args& reply) {
        protocol::FatalState fatal;
        protocol::Reader in(m_reply.mapping().bytes(), m_reply.size(), fatal);
        m_reply_arena.reset();
        protocol::Decoder d{in, m_reply_arena};
        reply = args;
        if (gen::decode_reply(d, reply) != protocol::DecodeResult::Ok)
            return bad_reply(Args::vn_name, fatal.reason());
        return Status::Ok;
    }

  private:
    void encode_reply_stream(protocol::Writer& w);
    void poison_reply();
    Status bad_reply(const char* command, const std::string& reason);
    Status failed(Status s, const std::string& what);

    Transport* m_transport;
    GuestOptions m_options;
    MappedBlob m_reply;
    MappedBlob m_indirect;
    protocol::Arena m_reply_arena;
    std::vector<std::byte> m_stream;
    std::uint64_t m_next_id = 0x10000;
    std::string m_error;
};

} // namespace vn::client
