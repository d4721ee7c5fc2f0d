#include "command_sink.h"

#ifdef VN_SERVER_HAVE_DECODER
#include "vn/decoder/context.h"
#endif

namespace vn::server {
namespace {

#ifdef VN_SERVER_HAVE_DECODER
class DecoderSink final : public CommandSink {
  public:
    bool submit(std::span<const std::byte> stream) override { return m_context.submit(stream); }
    std::string fatal_reason() const override { return m_context.fatal_reason(); }

  private:
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

std::unique_ptr<CommandSink> make_command_sink(std::uint32_t) {
#ifdef VN_SERVER_HAVE_DECODER
    return std::make_unique<DecoderSink>();
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
