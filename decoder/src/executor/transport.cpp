// The Venus transport commands: where replies go, and command streams executed out of shared
// memory. Every window into a resource is checked against that resource before it is used.
#include "executor.h"

#include <vector>

namespace vn::decoder {

using protocol::DecodeResult;

DecodeResult Executor::shm_window(protocol::Decoder& d, std::uint32_t resource_id,
                                  std::size_t offset, std::size_t size, ShmRegion& out) {
    const std::optional<ShmRegion> region =
        m_resources ? m_resources->shm(resource_id) : std::nullopt;
    if (!region)
        return d.in.fail("resource " + std::to_string(resource_id) +
                         " is not a shared-memory resource of this context");
    if (offset > region->size || size > region->size - offset)
        return d.in.fail("window [" + std::to_string(offset) + ", +" + std::to_string(size) +
                         ") lies outside resource " + std::to_string(resource_id));
    out = ShmRegion{region->data + offset, size};
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkSetReplyCommandStreamMESA(protocol::Decoder& d,
                                                      gen::SetReplyCommandStreamMESAArgs& a) {
    ShmRegion window;
    VN_TRY(shm_window(d, a.pStream->resourceId, a.pStream->offset, a.pStream->size, window));
    DispatchSource& s = *m_source;
    s.reply_stream = window;
    s.reply_resource = a.pStream->resourceId;
    s.stream_writer = protocol::Writer(window.data, window.size);
    s.reply = &s.stream_writer;
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkSeekReplyCommandStreamMESA(protocol::Decoder& d,
                                                       gen::SeekReplyCommandStreamMESAArgs& a) {
    DispatchSource& s = *m_source;
    if (!s.reply_stream.data)
        return d.in.fail("vkSeekReplyCommandStreamMESA without a reply stream");
    if (a.position > s.reply_stream.size)
        return d.in.fail("vkSeekReplyCommandStreamMESA past the end of the reply stream");
    s.stream_writer =
        protocol::Writer(s.reply_stream.data + a.position, s.reply_stream.size - a.position);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkExecuteCommandStreamsMESA(protocol::Decoder& d,
                                                      gen::ExecuteCommandStreamsMESAArgs& a) {
    DispatchSource& s = *m_source;
    if (s.executing_streams)
        return d.in.fail("vkExecuteCommandStreamsMESA inside an executed stream");
    if (a.streamCount == 0)
        return d.in.fail("vkExecuteCommandStreamsMESA with no stream");
    // Resolve every window first: a bad one fails the command before any stream runs.
    std::vector<ShmRegion> windows(a.streamCount);
    for (std::uint32_t i = 0; i < a.streamCount; ++i)
        VN_TRY(shm_window(d, a.pStreams[i].resourceId, a.pStreams[i].offset, a.pStreams[i].size,
                          windows[i]));
    std::vector<std::size_t> reply_positions;
    if (a.pReplyPositions)
        reply_positions.assign(a.pReplyPositions, a.pReplyPositions + a.streamCount);

    s.executing_streams = true;
    DecodeResult result = DecodeResult::Ok;
    for (std::uint32_t i = 0; i < a.streamCount && result == DecodeResult::Ok; ++i) {
        if (!reply_positions.empty()) {
            gen::SeekReplyCommandStreamMESAArgs seek;
            seek.position = reply_positions[i];
            result = on_vkSeekReplyCommandStreamMESA(d, seek);
            if (result != DecodeResult::Ok)
                break;
        }
        // The stream stays in guest memory: the Reader loads each field once (volatile).
        protocol::Reader in(windows[i].data, windows[i].size, d.in.fatal());
        while (!in.empty()) {
            protocol::Decoder nested{in, s.nested_arenas.current(), d.resolver};
            // Mesa's driver sends a command buffer's recording as a stream: its vkCmd* queue their
            // driver calls as they would straight from the ring.
            bool queued = false;
            result = run_command(nested, s.ring != nullptr, queued);
            s.nested_arenas.after_command(m_calls, queued);
            if (result != DecodeResult::Ok)
                break;
        }
    }
    s.executing_streams = false;
    // The queued calls run while the next command decodes; the arenas keep their arguments.
    m_calls.flush();
    return result;
}

} // namespace vn::decoder
