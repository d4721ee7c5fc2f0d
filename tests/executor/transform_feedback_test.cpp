// Transform feedback and per-attachment blend state: drivers keep these in fixed arrays and write
// captured vertices and counters through the bound buffers, so binding indices, buffer ranges,
// counter offsets, streams and attachment ranges are checked before the driver sees them. These
// commands were hidden (their extensions not exposed) until the checks existed.
#include "device_objects.h"

#include <catch2/catch.hpp>

using namespace vn;
using namespace vn::test_guest;
using protocol::DecodeResult;

namespace {
constexpr std::uint64_t pool_id = 0x7f0000205000;
constexpr std::uint64_t cb_id = 0x7f0000206000;
constexpr std::uint64_t xfb_id = 0x7f0000210000, xfb_mem = 0x7f0000211000;
constexpr VkDeviceSize xfb_size = 4096;
} // namespace

TEST_CASE("transform feedback bindings and counters stay inside their buffers and limits") {
    VkPhysicalDeviceTransformFeedbackFeaturesEXT xfb{};
    xfb.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TRANSFORM_FEEDBACK_FEATURES_EXT;
    xfb.transformFeedback = VK_TRUE;
    xfb.geometryStreams = VK_TRUE;
    Context r;
    const auto dev = create_device(r, &xfb, {"VK_EXT_transform_feedback"});
    const auto buffer =
        create_bound_buffer(r, dev, xfb_id, xfb_mem, xfb_size,
                            VK_BUFFER_USAGE_TRANSFORM_FEEDBACK_BUFFER_BIT_EXT |
                                VK_BUFFER_USAGE_TRANSFORM_FEEDBACK_COUNTER_BUFFER_BIT_EXT);
    const auto cbr = begin_commands(r, dev, pool_id, cb_id);

    VkBuffer handle = buffer.buffer.handle;
    std::uint64_t handle_id = xfb_id;
    VkDeviceSize offset = 0, size = 1024;
    gen::CmdBindTransformFeedbackBuffersEXTArgs bind;
    bind.commandBuffer = cbr;
    bind.firstBinding = 0;
    bind.bindingCount = 1;
    bind.pBuffers = &handle;
    bind.pBuffers_ids = &handle_id;
    bind.pOffsets = &offset;
    bind.pSizes = &size;
    send(r, bind); // inside the buffer

    VkDeviceSize counter_offset = xfb_size - 4;
    gen::CmdDrawIndirectByteCountEXTArgs draw;
    draw.commandBuffer = cbr;
    draw.instanceCount = 1;
    draw.counterBuffer = buffer.buffer;
    draw.counterBufferOffset = counter_offset;
    draw.vertexStride = 16;

    SECTION("a binding range past the buffer") {
        offset = xfb_size - 512;
        CHECK(r.send(bind) == DecodeResult::Fatal);
        CHECK(r.fatal.reason().find("vkCmdBindTransformFeedbackBuffersEXT") != std::string::npos);
    }
    SECTION("VK_WHOLE_SIZE from past the end") {
        size = VK_WHOLE_SIZE;
        offset = xfb_size;
        CHECK(r.send(bind) == DecodeResult::Fatal);
    }
    SECTION("bindings without their offsets") {
        // The decoder refuses a null array for a non-zero count; the handler checks again.
        bind.pOffsets = nullptr;
        CHECK(r.send(bind) == DecodeResult::Fatal);
    }
    SECTION("a binding past maxTransformFeedbackBuffers") {
        bind.firstBinding = 1u << 20;
        CHECK(r.send(bind) == DecodeResult::Fatal);
        CHECK(r.fatal.reason().find("maxTransformFeedbackBuffers") != std::string::npos);
    }
    SECTION("a counter read past the buffer") {
        send(r, draw); // the last 4 bytes
        draw.counterBufferOffset = xfb_size - 2;
        CHECK(r.send(draw) == DecodeResult::Fatal);
    }
    SECTION("a counter buffer offset past the buffer") {
        VkDeviceSize bad = xfb_size;
        gen::CmdBeginTransformFeedbackEXTArgs begin;
        begin.commandBuffer = cbr;
        begin.counterBufferCount = 1;
        begin.pCounterBuffers = &handle;
        begin.pCounterBuffers_ids = &handle_id;
        begin.pCounterBufferOffsets = &bad;
        CHECK(r.send(begin) == DecodeResult::Fatal);
        CHECK(r.fatal.reason().find("vkCmdBeginTransformFeedbackEXT") != std::string::npos);
    }
}

TEST_CASE("transform feedback commands are fatal on a device without the extension") {
    Context r;
    const auto dev = create_device(r);
    const auto cbr = begin_commands(r, dev, pool_id, cb_id);
    gen::CmdEndTransformFeedbackEXTArgs end;
    end.commandBuffer = cbr;
    CHECK(r.send(end) == DecodeResult::Fatal);
    CHECK(r.fatal.reason().find("is not enabled on this device") != std::string::npos);
}

TEST_CASE("per-attachment blend state stays inside maxColorAttachments") {
    VkPhysicalDeviceExtendedDynamicState3FeaturesEXT eds3{};
    eds3.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTENDED_DYNAMIC_STATE_3_FEATURES_EXT;
    eds3.extendedDynamicState3ColorBlendEnable = VK_TRUE;
    eds3.extendedDynamicState3ColorWriteMask = VK_TRUE;
    Context r;
    const auto dev = create_device(r, &eds3, {"VK_EXT_extended_dynamic_state3"});
    const auto cbr = begin_commands(r, dev, pool_id, cb_id);
    const VkBool32 enables[2] = {VK_TRUE, VK_FALSE};
    gen::CmdSetColorBlendEnableEXTArgs blend;
    blend.commandBuffer = cbr;
    blend.firstAttachment = 0;
    blend.attachmentCount = 2;
    blend.pColorBlendEnables = enables;
    send(r, blend);
    const VkColorComponentFlags masks[1] = {VK_COLOR_COMPONENT_R_BIT};
    gen::CmdSetColorWriteMaskEXTArgs mask;
    mask.commandBuffer = cbr;
    mask.firstAttachment = 1;
    mask.attachmentCount = 1;
    mask.pColorWriteMasks = masks;
    send(r, mask);
    mask.firstAttachment = 1u << 20;
    CHECK(r.send(mask) == DecodeResult::Fatal);
    CHECK(r.fatal.reason().find("maxColorAttachments") != std::string::npos);
}
