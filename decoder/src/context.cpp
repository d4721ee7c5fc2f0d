#include "vn/decoder/context.h"

#include "validating_handler.h"
#include "vn/decoder/object_table.h"
#include "vn/protocol/arena.h"
#include "vn/protocol/decoder.h"
#include "vn_dispatch.gen.h"

namespace vn::decoder {

class ContextImpl {
  public:
    explicit ContextImpl(std::size_t arena_cap) : arena(arena_cap) {}

    protocol::FatalState fatal;
    protocol::Arena arena;
    ObjectTables objects{fatal};
    ValidatingHandler handler{objects};
};

Context::Context(std::size_t arena_cap) : m_impl(std::make_unique<ContextImpl>(arena_cap)) {}
Context::~Context() = default;

bool Context::submit(std::span<const std::byte> stream) {
    ContextImpl& c = *m_impl;
    if (c.fatal.is_fatal())
        return false;
    protocol::Reader in(stream.data(), stream.size(), c.fatal);
    protocol::Decoder d{in, c.arena, &c.objects};
    while (!in.empty()) {
        const protocol::DecodeResult r = gen::dispatch_command(c.handler, d);
        // Temporaries live for one command only, whatever its outcome.
        c.arena.reset();
        if (r != protocol::DecodeResult::Ok)
            return false;
    }
    return true;
}

bool Context::is_fatal() const {
    return m_impl->fatal.is_fatal();
}

const std::string& Context::fatal_reason() const {
    return m_impl->fatal.reason();
}

} // namespace vn::decoder
