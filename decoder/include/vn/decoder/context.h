#pragma once
// The decoder's public face: one Context per guest Venus context. It knows nothing of sockets or
// processes; the worker feeds it command streams, lends it the context's shared-memory resources,
// and asks it for the memory behind blob resources.
#include "vn/decoder/resources.h"

#include <cstddef>
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
};

// The memfd behind a device-memory object (owned by the caller) and its size.
struct MemoryBlob {
    int fd;
    std::size_t size;
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

    // The guest-mappable memory behind a VkDeviceMemory id (a blob resource), if there is one.
    std::optional<MemoryBlob> export_memory(std::uint64_t memory_id);

  private:
    std::unique_ptr<ContextImpl> m_impl;
};

} // namespace vn::decoder
