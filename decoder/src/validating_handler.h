#pragma once
// Runs no Vulkan: every command is fully decoded and its object ids checked against, and recorded
// in, the context's tables. This is the decoder the worker uses until the executor implements a
// command family, and the one the fuzzer and the decode benchmark drive.
#include "vn/decoder/object_table.h"
#include "vn_dispatch.gen.h"

#include <vector>

namespace vn::decoder {

class ValidatingHandler final : public gen::TrackingHandler {
  public:
    explicit ValidatingHandler(ObjectTables& objects) : m_objects(objects) {}

    protocol::DecodeResult begin_reply(protocol::Decoder& d, protocol::Writer*& out) override;
    protocol::DecodeResult end_reply(protocol::Decoder& d, protocol::Writer& w) override;
    protocol::DecodeResult object_created(protocol::Decoder& d, VkObjectType type, std::uint64_t id,
                                          bool fresh) override;
    protocol::DecodeResult object_destroyed(protocol::Decoder& d, VkObjectType type,
                                            std::uint64_t id) override;

  private:
    ObjectTables& m_objects;
    // Replies are encoded (so their encoders run) and then dropped: nothing reads them yet.
    std::vector<std::byte> m_reply;
    protocol::Writer m_reply_writer{m_reply};
};

} // namespace vn::decoder
