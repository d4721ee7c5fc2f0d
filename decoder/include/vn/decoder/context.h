#pragma once
// The decoder's public face: one Context per guest Venus context. It knows nothing of sockets or
// processes; the worker feeds it command streams, lends it the context's shared-memory resources,
// and asks it for the memory behind blob resources.
#include "vn/decoder/resources.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

namespace vn::decoder {

class ContextImpl;

enum class Mode {
    // Decode, check and track every object id, call nothing (fuzzing, benchmarks, debugging).
    Validate,
    // Run the commands on the host Vulkan driver.
    Execute,
};

struct ContextOptions {
    Mode mode = Mode::Execute;
    // What one command may make the decoder allocate (Venus: 1 GiB).
    std::size_t arena_cap = std::size_t{1} << 30;
    // The context's shared memory (reply streams, executed streams); may be null.
    ResourceProvider* resources = nullptr;
    // Told the reason when a ring thread makes the context fatal (no submit reports that).
    std::function<void(const std::string&)> on_ring_fatal = nullptr;
};

// The memfd behind a device-memory object (owned by the caller) and its size.
struct MemoryBlob {
    int fd = -1;
    std::size_t size = 0;
    bool repeated = false; // exported before: refused, fd is -1
};

class Context {
  public:
    explicit Context(ContextOptions options = {});
    ~Context();
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;

    // Decodes and dispatches every command of one Venus command stream. Returns false once the
    // context is fatal (now or before); a fatal context never decodes again.
    bool submit(std::span<const std::byte> stream);

    bool is_fatal() const;
    // The first fatal error, one line, empty while the context is healthy.
    const std::string& fatal_reason() const;

    // Runs `destroy` unless a ring or a reply stream uses the resource (then false: destroying it
    // is fatal for the context). No command runs meanwhile, so none can start using it.
    bool release_resource(std::uint32_t resource_id, const std::function<void()>& destroy);

    // A context fence on a queue timeline (ring_idx > 0): `retire` runs, on another thread, once
    // the GPU work submitted so far on the queue bound to ring_idx has completed. False (with
    // the reason in `error`) when no queue is bound to it.
    bool submit_fence(std::uint32_t ring_idx, std::function<void()> retire, std::string& error);

    // The guest-mappable memory behind a VkDeviceMemory id (a blob resource), if there is one.
    std::optional<MemoryBlob> export_memory(std::uint64_t memory_id);

  private:
    std::unique_ptr<ContextImpl> m_impl;
};

} // namespace vn::decoder
