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
    explicit ContextImpl(const ContextOptions& options)
        : counters(options.counters ? options.counters : &own_counters), arena(options.arena_cap) {
        if (options.mode == Mode::Execute) {
            executor = std::make_unique<Executor>(objects);
            executor->set_resources(options.resources);
            executor->set_async_fatal_listener(options.on_ring_fatal);
            executor->set_accounting(counters, options.quotas, options.on_quota_refusal);
            handler = executor.get();
        } else {
            validator = std::make_unique<ValidatingHandler>(objects);
            handler = validator.get();
        }
    }

    ContextCounters own_counters;
    ContextCounters* counters;
    protocol::FatalState fatal;
    protocol::Arena arena;
    ObjectTables objects{fatal};
    std::unique_ptr<Executor> executor;
    std::unique_ptr<ValidatingHandler> validator;
    gen::CommandHandler* handler = nullptr;
};

Context::Context(ContextOptions options) : m_impl(std::make_unique<ContextImpl>(options)) {}

Context::~Context() {
    ContextCounters* counters =
        m_impl->counters == &m_impl->own_counters ? nullptr : m_impl->counters;
    m_impl.reset();
    if (!counters)
        return;
    // Everything the context held went with it (memory charges give themselves back).
    counters->objects.store(0, std::memory_order_relaxed);
    counters->rings.store(0, std::memory_order_relaxed);
}

void Context::shut_down() {
    if (m_impl->executor)
        m_impl->executor->shut_down();
}

bool Context::submit(std::span<const std::byte> stream) {
    ContextImpl& c = *m_impl;
    c.counters->submits.fetch_add(1, std::memory_order_relaxed);
    c.counters->bytes.fetch_add(stream.size(), std::memory_order_relaxed);
    if (!c.executor) {
        if (c.fatal.is_fatal())
            return false;
        protocol::Reader in(stream.data(), stream.size(), c.fatal);
        protocol::Decoder d{in, c.arena, &c.objects};
        while (!in.empty()) {
            const protocol::DecodeResult r = gen::dispatch_command(*c.handler, d);
            c.counters->commands.fetch_add(1, std::memory_order_relaxed);
            c.counters->objects.store(c.objects.size(), std::memory_order_relaxed);
            raise_peak(c.counters->objects_peak, c.objects.size());
            c.arena.reset();
            if (r != protocol::DecodeResult::Ok)
                return false;
        }
        return true;
    }
    // Rings dispatch into the same executor: one command at a time, the lock held per command.
    std::unique_lock lock(c.executor->dispatch_mutex());
    if (c.fatal.is_fatal())
        return false;
    protocol::Reader in(stream.data(), stream.size(), c.fatal);
    protocol::Decoder d{in, c.arena, &c.objects};
    while (!in.empty()) {
        const protocol::DecodeResult r =
            c.executor->dispatch(c.executor->context_source(), lock, d);
        // Temporaries live for one command only, whatever its outcome.
        c.arena.reset();
        if (r != protocol::DecodeResult::Ok)
            return false;
    }
    return true;
}

bool Context::is_fatal() const {
    if (!m_impl->executor)
        return m_impl->fatal.is_fatal();
    std::lock_guard lock(m_impl->executor->dispatch_mutex());
    return m_impl->fatal.is_fatal();
}

void Context::make_fatal(const std::string& reason) {
    if (!m_impl->executor) {
        (void)m_impl->fatal.fail(reason);
        return;
    }
    std::lock_guard lock(m_impl->executor->dispatch_mutex());
    (void)m_impl->fatal.fail(reason);
    m_impl->executor->report_fatal_to_rings();
    m_impl->executor->wake_all();
}

const ContextCounters& Context::counters() const {
    return *m_impl->counters;
}

const std::string& Context::fatal_reason() const {
    // Set once, never changed after: a reference stays valid without the lock.
    if (m_impl->executor) {
        std::lock_guard lock(m_impl->executor->dispatch_mutex());
        return m_impl->fatal.reason();
    }
    return m_impl->fatal.reason();
}

bool Context::release_resource(std::uint32_t resource_id, const std::function<void()>& destroy) {
    if (!m_impl->executor) {
        destroy();
        return true;
    }
    std::lock_guard lock(m_impl->executor->dispatch_mutex());
    if (m_impl->executor->resource_in_use(resource_id))
        return false;
    destroy();
    return true;
}

bool Context::submit_fence(std::uint32_t ring_idx, std::function<void()> retire,
                           std::string& error) {
    if (!m_impl->executor) {
        // Validation runs nothing on a GPU: the work before the fence is done once decoded.
        retire();
        return true;
    }
    std::lock_guard lock(m_impl->executor->dispatch_mutex());
    return m_impl->executor->submit_fence(ring_idx, std::move(retire), error);
}

std::optional<MemoryBlob> Context::export_memory(std::uint64_t memory_id) {
    if (!m_impl->executor)
        return std::nullopt;
    std::lock_guard lock(m_impl->executor->dispatch_mutex());
    const auto blob = m_impl->executor->export_memory_once(memory_id);
    if (!blob)
        return std::nullopt;
    return MemoryBlob{blob->fd, blob->size, blob->repeated};
}

} // namespace vn::decoder
