#include "validating_handler.h"

namespace vn::decoder {

using protocol::DecodeResult;

DecodeResult ValidatingHandler::begin_reply(protocol::Decoder&, protocol::Writer*& out) {
    m_reply.clear();
    m_reply_writer = protocol::Writer(m_reply);
    out = &m_reply_writer;
    return DecodeResult::Ok;
}

DecodeResult ValidatingHandler::end_reply(protocol::Decoder&, protocol::Writer&) {
    return DecodeResult::Ok;
}

DecodeResult ValidatingHandler::object_created(protocol::Decoder& d, VkObjectType type,
                                               std::uint64_t id, bool fresh) {
    if (!fresh) {
        // Enumerations name the same objects again; only a clash of types is an error.
        if (id == 0)
            return DecodeResult::Ok;
        if (auto known = m_objects.type_of(id)) {
            if (*known != type)
                return d.in.fail("object id " + std::to_string(id) +
                                 " is already in use by another type");
            return DecodeResult::Ok;
        }
    }
    // Host handle: none exists; the id stands in for it.
    return m_objects.add(type, id, id);
}

DecodeResult ValidatingHandler::object_destroyed(protocol::Decoder&, VkObjectType type,
                                                 std::uint64_t id) {
    return m_objects.remove(type, id);
}

} // namespace vn::decoder
