#include "command_sink.h"

#include <utility>

#ifdef VN_SERVER_HAVE_DECODER
#include "log.h"
#include "vn/decoder/context.h"
#endif

namespace vn::server {
namespace {

#ifdef VN_SERVER_HAVE_DECODER
class DecoderSink final : public CommandSink, private vn::decoder::ResourceProvider {
  public:
    DecoderSink(const std::uint32_t& ctx_id, decoder::ContextCounters* counters,
                const decoder::ContextQuotas& quotas,
                std::function<void(const std::string&)> on_ring_fatal)
        : m_context({vn::decoder::Mode::Execute, std::size_t{1} << 30, this,
                     [ctx_id = &ctx_id, on_ring_fatal](const std::string& reason) {
                         spdlog::error("context {}: fatal on a ring: {}", *ctx_id, reason);
                         if (on_ring_fatal)
                             on_ring_fatal(reason);
                     },
                     counters, quotas,
                     [ctx_id = &ctx_id](const std::string& what) {
                         spdlog::warn("context {}: {}", *ctx_id, what);
                     }}) {}

    bool submit(std::span<const std::byte> stream) override { return m_context.submit(stream); }
    void shut_down() override { m_context.shut_down(); }
    std::string fatal_reason() const override { return m_context.fatal_reason(); }
    void make_fatal(const std::string& reason) override { m_context.make_fatal(reason); }
    void set_shm_lookup(ShmLookup lookup) override { m_lookup = std::move(lookup); }
    void set_resource_lookup(ResourceLookup lookup) override {
        m_resource_lookup = std::move(lookup);
    }
    std::optional<MemoryBlob> export_memory(std::uint64_t memory_id) override {
        const auto blob = m_context.export_memory(memory_id);
        if (!blob)
            return std::nullopt;
        return MemoryBlob{blob->fd, blob->size, blob->repeated};
    }
    bool release_resource(std::uint32_t id, const std::function<void()>& destroy) override {
        return m_context.release_resource(id, destroy);
    }
    bool submit_fence(std::uint32_t ring_idx, std::function<void()> retire,
                      std::string& error) override {
        return m_context.submit_fence(ring_idx, std::move(retire), error);
    }

  private:
    std::optional<vn::decoder::ShmRegion> shm(std::uint32_t id) override {
        if (!m_lookup)
            return std::nullopt;
        const auto span = m_lookup(id);
        if (!span)
            return std::nullopt;
        return vn::decoder::ShmRegion{span->data(), span->size()};
    }
    std::optional<vn::decoder::ResourceInfo> resource(std::uint32_t id) override {
        if (!m_resource_lookup)
            return std::nullopt;
        const auto view = m_resource_lookup(id);
        if (!view)
            return std::nullopt;
        using K = vn::decoder::ResourceKind;
        const K kind = view->kind == ResourceKind::Shm      ? K::Shm
                       : view->kind == ResourceKind::DmaBuf ? K::DmaBuf
                                                            : K::Opaque;
        return vn::decoder::ResourceInfo{
            kind, view->fd, view->size, {view->mapping.data(), view->mapping.size()}};
    }

    ShmLookup m_lookup;
    ResourceLookup m_resource_lookup;
    vn::decoder::Context m_context;
};
#else
// Stands in until vn_decoder exists, so that the transport can be built and tested on its own.
class AcceptAllSink final : public CommandSink {
  public:
    bool submit(std::span<const std::byte>) override { return true; }
    std::string fatal_reason() const override { return {}; }
};
#endif

} // namespace

std::unique_ptr<CommandSink>
make_command_sink([[maybe_unused]] const std::uint32_t& ctx_id,
                  [[maybe_unused]] decoder::ContextCounters* counters,
                  [[maybe_unused]] const decoder::ContextQuotas& quotas,
                  [[maybe_unused]] std::function<void(const std::string&)> on_ring_fatal) {
#ifdef VN_SERVER_HAVE_DECODER
    return std::make_unique<DecoderSink>(ctx_id, counters, quotas, std::move(on_ring_fatal));
#else
    return std::make_unique<AcceptAllSink>();
#endif
}

bool command_sink_validates() {
#ifdef VN_SERVER_HAVE_DECODER
    return true;
#else
    return false;
#endif
}

} // namespace vn::server
