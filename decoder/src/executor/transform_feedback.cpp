// Transform feedback (VK_EXT_transform_feedback): drivers keep the bound buffers and the counter
// buffers in arrays of maxTransformFeedbackBuffers entries and write captured vertices and
// counters through them, so every binding index, buffer range and counter offset is checked
// against the device's limits and the buffers' sizes before the driver sees it.
#include "executor.h"

namespace vn::decoder {

using protocol::DecodeResult;

namespace {
DecodeResult check_bindings(protocol::Decoder& d, const DeviceState& dev, std::uint32_t first,
                            std::uint32_t count, const char* what) {
    const std::uint32_t max = dev.xfb_buffers;
    if (first > max || count > max - first)
        return d.in.fail(std::string(what) + ": buffers [" + std::to_string(first) + ", +" +
                         std::to_string(count) + ") past maxTransformFeedbackBuffers " +
                         std::to_string(max));
    return DecodeResult::Ok;
}
} // namespace

DecodeResult
Executor::on_vkCmdBindTransformFeedbackBuffersEXT(protocol::Decoder& d,
                                                  gen::CmdBindTransformFeedbackBuffersEXTArgs& a) {
    constexpr const char* what = "vkCmdBindTransformFeedbackBuffersEXT";
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    VN_TRY(check_bindings(d, *dev, a.firstBinding, a.bindingCount, what));
    // The decoder accepts a null array for any count; these two are required.
    if (a.bindingCount && (!a.pBuffers || !a.pOffsets))
        return d.in.fail(std::string(what) + ": buffers or offsets missing");
    for (std::uint32_t i = 0; i < a.bindingCount; ++i) {
        const VkDeviceSize size = a.pSizes ? a.pSizes[i] : VK_WHOLE_SIZE;
        // VK_WHOLE_SIZE captures up to the end: the offset must lie inside the buffer.
        VN_TRY(check_buffer_range(d, *dev, a.pBuffers[i], a.pOffsets[i],
                                  size == VK_WHOLE_SIZE ? 1 : size, what));
    }
    record([=] {
        dev->dispatch.CmdBindTransformFeedbackBuffersEXT(a.commandBuffer.handle, a.firstBinding,
                                                         a.bindingCount, a.pBuffers, a.pOffsets,
                                                         a.pSizes);
    });
    return DecodeResult::Ok;
}

// Counter buffers hold one 32-bit byte count each at their offset; a null array means none.
DecodeResult Executor::check_xfb_counters(protocol::Decoder& d, const DeviceState& dev,
                                          std::uint32_t first, std::uint32_t count,
                                          const VkBuffer* buffers, const VkDeviceSize* offsets,
                                          const char* what) {
    VN_TRY(check_bindings(d, dev, first, count, what));
    if (!buffers)
        return DecodeResult::Ok;
    for (std::uint32_t i = 0; i < count; ++i) {
        if (buffers[i] == VK_NULL_HANDLE)
            continue;
        VN_TRY(check_buffer_range(d, dev, buffers[i], offsets ? offsets[i] : 0, 4, what));
    }
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdBeginTransformFeedbackEXT(protocol::Decoder& d,
                                                         gen::CmdBeginTransformFeedbackEXTArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    VN_TRY(check_xfb_counters(d, *dev, a.firstCounterBuffer, a.counterBufferCount,
                              a.pCounterBuffers, a.pCounterBufferOffsets,
                              "vkCmdBeginTransformFeedbackEXT"));
    record([=] {
        dev->dispatch.CmdBeginTransformFeedbackEXT(a.commandBuffer.handle, a.firstCounterBuffer,
                                                   a.counterBufferCount, a.pCounterBuffers,
                                                   a.pCounterBufferOffsets);
    });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdEndTransformFeedbackEXT(protocol::Decoder& d,
                                                       gen::CmdEndTransformFeedbackEXTArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    VN_TRY(check_xfb_counters(d, *dev, a.firstCounterBuffer, a.counterBufferCount,
                              a.pCounterBuffers, a.pCounterBufferOffsets,
                              "vkCmdEndTransformFeedbackEXT"));
    record([=] {
        dev->dispatch.CmdEndTransformFeedbackEXT(a.commandBuffer.handle, a.firstCounterBuffer,
                                                 a.counterBufferCount, a.pCounterBuffers,
                                                 a.pCounterBufferOffsets);
    });
    return DecodeResult::Ok;
}

namespace {
// A non-zero index names a vertex stream, kept per stream by the driver.
DecodeResult check_stream(protocol::Decoder& d, const DeviceState& dev, std::uint32_t index,
                          const char* what) {
    if (index != 0 && index >= dev.xfb_streams)
        return d.in.fail(std::string(what) + ": stream " + std::to_string(index) +
                         " past maxTransformFeedbackStreams " + std::to_string(dev.xfb_streams));
    return DecodeResult::Ok;
}
} // namespace

DecodeResult Executor::on_vkCmdBeginQueryIndexedEXT(protocol::Decoder& d,
                                                    gen::CmdBeginQueryIndexedEXTArgs& a) {
    constexpr const char* what = "vkCmdBeginQueryIndexedEXT";
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    VN_TRY(check_queries(d, *dev, a.queryPool.handle, a.query, 1, what));
    VN_TRY(check_stream(d, *dev, a.index, what));
    record([=] {
        dev->dispatch.CmdBeginQueryIndexedEXT(a.commandBuffer.handle, a.queryPool.handle, a.query,
                                              a.flags, a.index);
    });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdEndQueryIndexedEXT(protocol::Decoder& d,
                                                  gen::CmdEndQueryIndexedEXTArgs& a) {
    constexpr const char* what = "vkCmdEndQueryIndexedEXT";
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    VN_TRY(check_queries(d, *dev, a.queryPool.handle, a.query, 1, what));
    VN_TRY(check_stream(d, *dev, a.index, what));
    record([=] {
        dev->dispatch.CmdEndQueryIndexedEXT(a.commandBuffer.handle, a.queryPool.handle, a.query,
                                            a.index);
    });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdDrawIndirectByteCountEXT(protocol::Decoder& d,
                                                        gen::CmdDrawIndirectByteCountEXTArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    // The byte count is read from the counter buffer; the vertices it draws are fetched through
    // the checked vertex-buffer bindings, as for vkCmdDraw.
    VN_TRY(check_buffer_range(d, *dev, a.counterBuffer.handle, a.counterBufferOffset, 4,
                              "vkCmdDrawIndirectByteCountEXT"));
    record([=] {
        dev->dispatch.CmdDrawIndirectByteCountEXT(
            a.commandBuffer.handle, a.instanceCount, a.firstInstance, a.counterBuffer.handle,
            a.counterBufferOffset, a.counterOffset, a.vertexStride);
    });
    return DecodeResult::Ok;
}

} // namespace vn::decoder
