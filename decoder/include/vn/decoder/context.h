#pragma once
// The decoder's public face: one Context per guest Venus context. It knows nothing of sockets or
// processes; the worker feeds it command streams and asks whether it is still alive.
#include <cstddef>
#include <memory>
#include <span>
#include <string>

namespace vn::decoder {

class ContextImpl;

class Context {
  public:
    // `arena_cap` bounds what one command may make the decoder allocate (Venus: 1 GiB).
    explicit Context(std::size_t arena_cap = std::size_t{1} << 30);
    ~Context();
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;

    // Decodes and dispatches every command of one Venus command stream. Returns false once the
    // context is fatal (now or before); a fatal context never decodes again.
    bool submit(std::span<const std::byte> stream);

    bool is_fatal() const;
    // The first fatal error, one line, empty while the context is healthy.
    const std::string& fatal_reason() const;

  private:
    std::unique_ptr<ContextImpl> m_impl;
};

} // namespace vn::decoder
