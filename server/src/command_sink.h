#pragma once
// Where a context's SUBMIT_CMD streams go. The decoder validates (and, once the executor lands,
// executes) Venus commands; the worker only needs to know whether the stream was accepted.
#include "vn/decoder/context.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

namespace vn::server {

class CommandSink {
  public:
    virtual ~CommandSink() = default;
    // For a process about to exit: ends the threads and the driver's objects, leaving memory to
    // the exit (decoder::Context::shut_down). Nothing else may be called afterwards.
    virtual void shut_down() {}
    // False makes the context fatal; fatal_reason() then says why in one line.
    virtual bool submit(std::span<const std::byte> stream) = 0;
    virtual std::string fatal_reason() const = 0;
    // Makes the context fatal for a reason found outside the command stream (rings then show
    // FATAL to the guest at once).
    virtual void make_fatal(const std::string&) {}

    // A context resource's shared memory, for reply streams and executed command streams;
    // nullopt when the id is unknown or not shm.
    using ShmLookup = std::function<std::optional<std::span<std::byte>>(std::uint32_t)>;
    virtual void set_shm_lookup(ShmLookup) {}
    // Any resource of the context, for memory imports: its kind, fd (borrowed), size and, for
    // shm, its mapping.
    enum class ResourceKind { Shm, DmaBuf, Opaque };
    struct ResourceView {
        ResourceKind kind;
        int fd;
        std::uint64_t size;
        std::span<std::byte> mapping;
    };
    using ResourceLookup = std::function<std::optional<ResourceView>(std::uint32_t)>;
    virtual void set_resource_lookup(ResourceLookup) {}

    // The memfd (caller-owned) and size behind a device-memory id, for a blob resource.
    struct MemoryBlob {
        int fd = -1;
        std::size_t size = 0;
        bool repeated = false; // exported before: refused, fd is -1
    };
    virtual std::optional<MemoryBlob> export_memory(std::uint64_t) { return std::nullopt; }

    // Runs `destroy` unless a ring or a reply stream uses the resource; false then (fatal).
    virtual bool release_resource(std::uint32_t, const std::function<void()>& destroy) {
        destroy();
        return true;
    }
    // A fence on queue timeline ring_idx (> 0): `retire` runs, possibly on another thread, once
    // the work submitted before it has completed. False, with a reason, when ring_idx is bound
    // to no queue. Without an executor a stream is done once accepted, so it retires at once.
    virtual bool submit_fence(std::uint32_t, std::function<void()> retire, std::string&) {
        retire();
        return true;
    }
};

// The decoder when the build has one (target vn_decoder), else a sink that accepts every stream.
// `ctx_id` (read when the sink logs; a spare worker's is 0 until it is assigned) and `counters`
// (may be null) must outlive the sink; `on_ring_fatal` hears the reason when a ring makes the
// context fatal (no submit reports that).
std::unique_ptr<CommandSink>
make_command_sink(const std::uint32_t& ctx_id, decoder::ContextCounters* counters = nullptr,
                  const decoder::ContextQuotas& quotas = {},
                  std::function<void(const std::string&)> on_ring_fatal = nullptr);

// Whether make_command_sink() validates streams; tests of rejected streams depend on it.
bool command_sink_validates();

} // namespace vn::server
