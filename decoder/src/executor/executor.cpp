#include "executor.h"

#include <vulkan/vulkan.h>

namespace vn::decoder {

using protocol::DecodeResult;

Executor::Executor(ObjectTables& objects) : m_objects(objects) {
    // The loader is linked, not dlopen'ed: it is the one well-kept way to reach any ICD.
    gen::load(m_global, vkGetInstanceProcAddr);
}

DecodeResult Executor::begin_reply(protocol::Decoder& d, protocol::Writer*& out) {
    if (!m_reply)
        return d.in.fail("a reply was requested but no reply stream is set");
    out = m_reply;
    return DecodeResult::Ok;
}

DecodeResult Executor::end_reply(protocol::Decoder& d, protocol::Writer& w) {
    if (w.overflowed())
        return d.in.fail("the reply does not fit in the reply stream");
    return DecodeResult::Ok;
}

} // namespace vn::decoder
