#include "vn/decoder/context.h"

#include "executor.h"
#include "validating_handler.h"
#include "vn/decoder/object_table.h"
#include "vn/protocol/arena.h"
#include "vn/protocol/decoder.h"
#include "vn_dispatch.gen.h"

namespace vn::decoder {

class ContextImpl {
  public:
    explicit ContextImpl(const ContextOptions& options) : arena(options.arena_cap) {
        if (options.mode == Mode::Execute) {
            executor = std::make_unique<Executor>(objects);
            executor->set_resources(options.resources);
            handler = executor.get();
        } else {
            validator = std::make_unique<ValidatingHandler>(objects);
            handler = validator.get();
        }
    }

    protocol::FatalState fatal;
    protocol::Arena arena;
    ObjectTables objects{fatal};
    std::unique_ptr<Executor> executor;
    std::unique_ptr<ValidatingHandler> validator;
    gen::CommandHandler* handler = nullptr;
};

Context::Context(ContextOptions options) : m_impl(std::make_unique<ContextImpl>(options)) {}
Context::~Context() = default;

bool Context::submit(std::span<const std::byte> stream) {
    ContextImpl& c = *m_impl;
    if (c.fatal.is_fatal())
        return false;
    protocol::Reader in(stream.data(), stream.size(), c.fatal);
    protocol::Decoder d{in, c.arena, &c.objects};
    while (!in.empty()) {
        const protocol::DecodeResult r = gen::dispatch_command(*c.handler, d);
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

std::optional<MemoryBlob> Context::export_memory(std::uint64_t memory_id) {
    if (!m_impl->executor)
        return std::nullopt;
    const auto blob = m_impl->executor->export_memory(memory_id);
    if (!blob)
        return std::nullopt;
    return MemoryBlob{blob->fd, blob->size};
}

} // namespace vn::decoder
