// Commands that name ranges of buffers and images. Drivers trust these ranges: a fill, copy or
// indirect read past the end of a buffer touches whatever memory follows it (for host-visible
// memory, our own mapping). Each range is checked against the object's size or shape (one hash
// lookup per object named) and the context is fatal before the driver sees a bad one.
#include "executor.h"
#include "texel_block.h"

#include <algorithm>
#include <string>

namespace vn::decoder {

using protocol::DecodeResult;

namespace {

constexpr VkDeviceSize whole = VK_WHOLE_SIZE;

std::uint32_t div_up(std::uint32_t v, std::uint32_t d) {
    return v / d + (v % d != 0);
}

// Bytes a buffer<->image copy reads or writes in the buffer, from bufferOffset: the spec's
// addressing with bufferRowLength and bufferImageHeight, up to the end of the last block.
bool copy_bytes(const VkBufferImageCopy2& r, const TexelBlock& block, VkDeviceSize& out) {
    const VkExtent3D& e = r.imageExtent;
    const std::uint32_t row = r.bufferRowLength ? r.bufferRowLength : e.width;
    const std::uint32_t height = r.bufferImageHeight ? r.bufferImageHeight : e.height;
    if (row < e.width || height < e.height)
        return false;
    const VkDeviceSize row_blocks = div_up(row, block.width);
    const VkDeviceSize slice_rows = div_up(height, block.height);
    const VkDeviceSize slices =
        VkDeviceSize{div_up(e.depth, block.depth)} * r.imageSubresource.layerCount;
    VkDeviceSize blocks = 0;
    // ((slices - 1) * slice_rows + rows - 1) * row_blocks + width_blocks
    if (__builtin_mul_overflow(slices - 1, slice_rows, &blocks) ||
        __builtin_add_overflow(blocks, div_up(e.height, block.height) - 1, &blocks) ||
        __builtin_mul_overflow(blocks, row_blocks, &blocks) ||
        __builtin_add_overflow(blocks, div_up(e.width, block.width), &blocks) ||
        __builtin_mul_overflow(blocks, block.bytes, &out))
        return false;
    return true;
}

// [offset, offset + extent) within [0, size), for one image dimension.
bool within(std::int32_t offset, std::uint32_t extent, std::uint32_t size) {
    return offset >= 0 && static_cast<std::uint32_t>(offset) <= size &&
           extent <= size - static_cast<std::uint32_t>(offset);
}

} // namespace

DecodeResult Executor::check_buffer_range(protocol::Decoder& d, const DeviceState& dev,
                                          VkBuffer buffer, VkDeviceSize offset, VkDeviceSize size,
                                          const char* what) {
    const BufferShape* shape = dev.buffers.lookup(buffer);
    if (!shape) [[unlikely]]
        return d.in.fail(std::string(what) + ": no buffer of this device");
    if (!shape->bound) [[unlikely]]
        return d.in.fail(std::string(what) + ": a buffer not bound to memory");
    const VkDeviceSize total = shape->size;
    if (offset > total || size > total - offset) [[unlikely]]
        return d.in.fail(std::string(what) + ": [" + std::to_string(offset) + ", +" +
                         std::to_string(size) + ") lies outside a buffer of " +
                         std::to_string(total) + " bytes");
    return DecodeResult::Ok;
}

DecodeResult Executor::check_image_region(protocol::Decoder& d, const DeviceState& dev,
                                          VkImage image, const VkImageSubresourceLayers& s,
                                          const VkOffset3D& offset, const VkExtent3D& extent,
                                          const char* what, TexelBlock* block_out) {
    const auto it = dev.images.find(image);
    if (it == dev.images.end())
        return d.in.fail(std::string(what) + ": no image of this device");
    const ImageShape& shape = it->second;
    if (!shape.bound)
        return d.in.fail(std::string(what) + ": an image not bound to memory");
    // Every aspect named must exist in the format; depth and stencil share their 1x1 block.
    TexelBlock block;
    for (VkImageAspectFlags rest = s.aspectMask; rest; rest &= rest - 1) {
        const TexelBlock b = copy_block(shape.format, rest & (~rest + 1));
        if (b.bytes == 0) {
            block = {};
            break;
        }
        if (block.bytes == 0)
            block = b;
    }
    if (block.bytes == 0)
        return d.in.fail(std::string(what) + ": aspects " + std::to_string(s.aspectMask) +
                         " are not in format " + std::to_string(shape.format));
    if (s.mipLevel >= shape.mip_levels || s.layerCount == 0 ||
        s.baseArrayLayer > shape.array_layers ||
        s.layerCount > shape.array_layers - s.baseArrayLayer)
        return d.in.fail(std::string(what) + ": no such subresource (level " +
                         std::to_string(s.mipLevel) + ", layers " +
                         std::to_string(s.baseArrayLayer) + " +" + std::to_string(s.layerCount) +
                         ")");
    // The level's extent, in texels rounded up to whole blocks (a level of a compressed image
    // may end in a partial block, which copies cover whole).
    const auto level = [&](std::uint32_t full, std::uint32_t divisor, std::uint32_t b) {
        const std::uint32_t texels = std::max(1u, (full / divisor) >> s.mipLevel);
        return div_up(texels, b) * b;
    };
    if (extent.width == 0 || extent.height == 0 || extent.depth == 0 ||
        !within(offset.x, extent.width,
                level(shape.extent.width, block.width_divisor, block.width)) ||
        !within(offset.y, extent.height,
                level(shape.extent.height, block.height_divisor, block.height)) ||
        !within(offset.z, extent.depth, level(shape.extent.depth, 1, block.depth)))
        return d.in.fail(std::string(what) + ": the region lies outside the image");
    if (block_out)
        *block_out = block;
    return DecodeResult::Ok;
}

DecodeResult Executor::check_image_ranges(protocol::Decoder& d, const DeviceState& dev,
                                          VkImage image, std::uint32_t count,
                                          const VkImageSubresourceRange* ranges, const char* what) {
    const auto it = dev.images.find(image);
    if (it == dev.images.end())
        return d.in.fail(std::string(what) + ": no image of this device");
    const ImageShape& shape = it->second;
    if (!shape.bound)
        return d.in.fail(std::string(what) + ": an image not bound to memory");
    for (std::uint32_t i = 0; i < count; ++i)
        if (!subresource_span_fits(ranges[i].baseMipLevel, ranges[i].levelCount,
                                   shape.mip_levels) ||
            !subresource_span_fits(ranges[i].baseArrayLayer, ranges[i].layerCount,
                                   shape.array_layers))
            return d.in.fail(std::string(what) + ": range " + std::to_string(i) +
                             " names levels or layers the image does not have");
    return DecodeResult::Ok;
}

DecodeResult Executor::check_memory_image_copy(protocol::Decoder& d, const DeviceState& dev,
                                               VkImage image, const VkBufferImageCopy2& r,
                                               const char* what, VkDeviceSize& bytes) {
    const VkImageAspectFlags aspect = r.imageSubresource.aspectMask;
    if (aspect == 0 || (aspect & (aspect - 1)) != 0)
        return d.in.fail(std::string(what) + ": a copy names exactly one aspect");
    TexelBlock block;
    VN_TRY(check_image_region(d, dev, image, r.imageSubresource, r.imageOffset, r.imageExtent, what,
                              &block));
    if (!copy_bytes(r, block, bytes))
        return d.in.fail(std::string(what) + ": bad row length or image height");
    return DecodeResult::Ok;
}

DecodeResult Executor::check_buffer_image_copy(protocol::Decoder& d, const DeviceState& dev,
                                               VkBuffer buffer, VkImage image,
                                               const VkBufferImageCopy2& r, const char* what) {
    VkDeviceSize bytes = 0;
    VN_TRY(check_memory_image_copy(d, dev, image, r, what, bytes));
    return check_buffer_range(d, dev, buffer, r.bufferOffset, bytes, what);
}

DecodeResult Executor::on_vkCmdFillBuffer(protocol::Decoder& d, gen::CmdFillBufferArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    // VK_WHOLE_SIZE: the driver fills up to the end, so only the offset needs to be inside.
    VN_TRY(check_buffer_range(d, *dev, a.dstBuffer.handle, a.dstOffset,
                              a.size == whole ? 0 : a.size, "vkCmdFillBuffer"));
    record([=] {
        dev->dispatch.CmdFillBuffer(a.commandBuffer.handle, a.dstBuffer.handle, a.dstOffset, a.size,
                                    a.data);
    });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdUpdateBuffer(protocol::Decoder& d, gen::CmdUpdateBufferArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    VN_TRY(check_buffer_range(d, *dev, a.dstBuffer.handle, a.dstOffset, a.dataSize,
                              "vkCmdUpdateBuffer"));
    record([=] {
        dev->dispatch.CmdUpdateBuffer(a.commandBuffer.handle, a.dstBuffer.handle, a.dstOffset,
                                      a.dataSize, a.pData);
    });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdCopyBuffer(protocol::Decoder& d, gen::CmdCopyBufferArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    for (std::uint32_t i = 0; i < a.regionCount; ++i) {
        const VkBufferCopy& r = a.pRegions[i];
        VN_TRY(check_buffer_range(d, *dev, a.srcBuffer.handle, r.srcOffset, r.size,
                                  "vkCmdCopyBuffer source"));
        VN_TRY(check_buffer_range(d, *dev, a.dstBuffer.handle, r.dstOffset, r.size,
                                  "vkCmdCopyBuffer destination"));
    }
    record([=] {
        dev->dispatch.CmdCopyBuffer(a.commandBuffer.handle, a.srcBuffer.handle, a.dstBuffer.handle,
                                    a.regionCount, a.pRegions);
    });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdCopyBuffer2(protocol::Decoder& d, gen::CmdCopyBuffer2Args& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    const VkCopyBufferInfo2& info = *a.pCopyBufferInfo;
    for (std::uint32_t i = 0; i < info.regionCount; ++i) {
        const VkBufferCopy2& r = info.pRegions[i];
        VN_TRY(check_buffer_range(d, *dev, info.srcBuffer, r.srcOffset, r.size,
                                  "vkCmdCopyBuffer2 source"));
        VN_TRY(check_buffer_range(d, *dev, info.dstBuffer, r.dstOffset, r.size,
                                  "vkCmdCopyBuffer2 destination"));
    }
    record([=] { dev->dispatch.CmdCopyBuffer2(a.commandBuffer.handle, &info); });
    return DecodeResult::Ok;
}

namespace {
VkBufferImageCopy2 to_copy2(const VkBufferImageCopy& r) {
    return VkBufferImageCopy2{VK_STRUCTURE_TYPE_BUFFER_IMAGE_COPY_2,
                              nullptr,
                              r.bufferOffset,
                              r.bufferRowLength,
                              r.bufferImageHeight,
                              r.imageSubresource,
                              r.imageOffset,
                              r.imageExtent};
}
} // namespace

DecodeResult Executor::on_vkCmdCopyBufferToImage(protocol::Decoder& d,
                                                 gen::CmdCopyBufferToImageArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    for (std::uint32_t i = 0; i < a.regionCount; ++i)
        VN_TRY(check_buffer_image_copy(d, *dev, a.srcBuffer.handle, a.dstImage.handle,
                                       to_copy2(a.pRegions[i]), "vkCmdCopyBufferToImage"));
    record([=] {
        dev->dispatch.CmdCopyBufferToImage(a.commandBuffer.handle, a.srcBuffer.handle,
                                           a.dstImage.handle, a.dstImageLayout, a.regionCount,
                                           a.pRegions);
    });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdCopyBufferToImage2(protocol::Decoder& d,
                                                  gen::CmdCopyBufferToImage2Args& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    const VkCopyBufferToImageInfo2& info = *a.pCopyBufferToImageInfo;
    for (std::uint32_t i = 0; i < info.regionCount; ++i)
        VN_TRY(check_buffer_image_copy(d, *dev, info.srcBuffer, info.dstImage, info.pRegions[i],
                                       "vkCmdCopyBufferToImage2"));
    record([=] { dev->dispatch.CmdCopyBufferToImage2(a.commandBuffer.handle, &info); });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdCopyImageToBuffer(protocol::Decoder& d,
                                                 gen::CmdCopyImageToBufferArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    for (std::uint32_t i = 0; i < a.regionCount; ++i)
        VN_TRY(check_buffer_image_copy(d, *dev, a.dstBuffer.handle, a.srcImage.handle,
                                       to_copy2(a.pRegions[i]), "vkCmdCopyImageToBuffer"));
    record([=] {
        dev->dispatch.CmdCopyImageToBuffer(a.commandBuffer.handle, a.srcImage.handle,
                                           a.srcImageLayout, a.dstBuffer.handle, a.regionCount,
                                           a.pRegions);
    });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdCopyImageToBuffer2(protocol::Decoder& d,
                                                  gen::CmdCopyImageToBuffer2Args& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    const VkCopyImageToBufferInfo2& info = *a.pCopyImageToBufferInfo;
    for (std::uint32_t i = 0; i < info.regionCount; ++i)
        VN_TRY(check_buffer_image_copy(d, *dev, info.dstBuffer, info.srcImage, info.pRegions[i],
                                       "vkCmdCopyImageToBuffer2"));
    record([=] { dev->dispatch.CmdCopyImageToBuffer2(a.commandBuffer.handle, &info); });
    return DecodeResult::Ok;
}

namespace {
// Drivers keep per-binding state in arrays of maxVertexInputBindings.
bool bindings_fit(const DeviceState& dev, std::uint32_t first, std::uint32_t count) {
    const std::uint32_t max = dev.limits.maxVertexInputBindings;
    return first <= max && count <= max - first;
}
} // namespace

DecodeResult Executor::on_vkCmdBindVertexBuffers(protocol::Decoder& d,
                                                 gen::CmdBindVertexBuffersArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    if (!bindings_fit(*dev, a.firstBinding, a.bindingCount))
        return d.in.fail("vkCmdBindVertexBuffers: bindings past maxVertexInputBindings");
    for (std::uint32_t i = 0; i < a.bindingCount; ++i)
        if (a.pBuffers[i] != VK_NULL_HANDLE || a.pOffsets[i] != 0)
            VN_TRY(check_buffer_range(d, *dev, a.pBuffers[i], a.pOffsets[i], 0,
                                      "vkCmdBindVertexBuffers"));
    record([=] {
        dev->dispatch.CmdBindVertexBuffers(a.commandBuffer.handle, a.firstBinding, a.bindingCount,
                                           a.pBuffers, a.pOffsets);
    });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdBindVertexBuffers2(protocol::Decoder& d,
                                                  gen::CmdBindVertexBuffers2Args& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    if (!bindings_fit(*dev, a.firstBinding, a.bindingCount))
        return d.in.fail("vkCmdBindVertexBuffers2: bindings past maxVertexInputBindings");
    for (std::uint32_t i = 0; i < a.bindingCount; ++i) {
        const VkDeviceSize size = a.pSizes && a.pSizes[i] != whole ? a.pSizes[i] : 0;
        if (a.pBuffers[i] != VK_NULL_HANDLE || a.pOffsets[i] != 0 || size)
            VN_TRY(check_buffer_range(d, *dev, a.pBuffers[i], a.pOffsets[i], size,
                                      "vkCmdBindVertexBuffers2"));
    }
    record([=] {
        dev->dispatch.CmdBindVertexBuffers2(a.commandBuffer.handle, a.firstBinding, a.bindingCount,
                                            a.pBuffers, a.pOffsets, a.pSizes, a.pStrides);
    });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdBindIndexBuffer(protocol::Decoder& d,
                                               gen::CmdBindIndexBufferArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    VN_TRY(check_buffer_range(d, *dev, a.buffer.handle, a.offset, 0, "vkCmdBindIndexBuffer"));
    record([=] {
        dev->dispatch.CmdBindIndexBuffer(a.commandBuffer.handle, a.buffer.handle, a.offset,
                                         a.indexType);
    });
    return DecodeResult::Ok;
}

#ifdef VN_GEN_HAS_vkCmdBindIndexBuffer2
// maintenance5 (Vulkan 1.4): the index range may be bounded by a size as well.
DecodeResult Executor::on_vkCmdBindIndexBuffer2(protocol::Decoder& d,
                                                gen::CmdBindIndexBuffer2Args& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    if (a.buffer.handle != VK_NULL_HANDLE || a.offset != 0 || a.size != whole)
        VN_TRY(check_buffer_range(d, *dev, a.buffer.handle, a.offset, a.size == whole ? 0 : a.size,
                                  "vkCmdBindIndexBuffer2"));
    record([=] {
        dev->dispatch.CmdBindIndexBuffer2(a.commandBuffer.handle, a.buffer.handle, a.offset, a.size,
                                          a.indexType);
    });
    return DecodeResult::Ok;
}
#endif

DecodeResult
Executor::on_vkCmdBeginConditionalRenderingEXT(protocol::Decoder& d,
                                               gen::CmdBeginConditionalRenderingEXTArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    const VkConditionalRenderingBeginInfoEXT& info = *a.pConditionalRenderingBegin;
    // The predicate is one 32-bit value at offset.
    VN_TRY(check_buffer_range(d, *dev, info.buffer, info.offset, sizeof(std::uint32_t),
                              "vkCmdBeginConditionalRenderingEXT"));
    record([=] { dev->dispatch.CmdBeginConditionalRenderingEXT(a.commandBuffer.handle, &info); });
    return DecodeResult::Ok;
}

// Viewports and scissors live in fixed arrays of maxViewports entries in the driver's state.
DecodeResult Executor::on_vkCmdSetViewport(protocol::Decoder& d, gen::CmdSetViewportArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    const std::uint32_t max = dev->limits.maxViewports;
    if (a.firstViewport > max || a.viewportCount > max - a.firstViewport)
        return d.in.fail("vkCmdSetViewport: viewports [" + std::to_string(a.firstViewport) + ", +" +
                         std::to_string(a.viewportCount) + ") past maxViewports " +
                         std::to_string(max));
    record([=] {
        dev->dispatch.CmdSetViewport(a.commandBuffer.handle, a.firstViewport, a.viewportCount,
                                     a.pViewports);
    });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdSetScissor(protocol::Decoder& d, gen::CmdSetScissorArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    const std::uint32_t max = dev->limits.maxViewports;
    if (a.firstScissor > max || a.scissorCount > max - a.firstScissor)
        return d.in.fail("vkCmdSetScissor: scissors [" + std::to_string(a.firstScissor) + ", +" +
                         std::to_string(a.scissorCount) + ") past maxViewports " +
                         std::to_string(max));
    record([=] {
        dev->dispatch.CmdSetScissor(a.commandBuffer.handle, a.firstScissor, a.scissorCount,
                                    a.pScissors);
    });
    return DecodeResult::Ok;
}

// The counted forms (Vulkan 1.3) replace the whole array.
DecodeResult Executor::on_vkCmdSetViewportWithCount(protocol::Decoder& d,
                                                    gen::CmdSetViewportWithCountArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    if (a.viewportCount > dev->limits.maxViewports)
        return d.in.fail("vkCmdSetViewportWithCount: " + std::to_string(a.viewportCount) +
                         " viewports, maxViewports is " + std::to_string(dev->limits.maxViewports));
    record([=] {
        dev->dispatch.CmdSetViewportWithCount(a.commandBuffer.handle, a.viewportCount,
                                              a.pViewports);
    });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdSetScissorWithCount(protocol::Decoder& d,
                                                   gen::CmdSetScissorWithCountArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    if (a.scissorCount > dev->limits.maxViewports)
        return d.in.fail("vkCmdSetScissorWithCount: " + std::to_string(a.scissorCount) +
                         " scissors, maxViewports is " + std::to_string(dev->limits.maxViewports));
    record([=] {
        dev->dispatch.CmdSetScissorWithCount(a.commandBuffer.handle, a.scissorCount, a.pScissors);
    });
    return DecodeResult::Ok;
}

// Per-attachment state lives in arrays of maxColorAttachments entries.
DecodeResult Executor::on_vkCmdSetColorWriteEnableEXT(protocol::Decoder& d,
                                                      gen::CmdSetColorWriteEnableEXTArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    if (a.attachmentCount > dev->limits.maxColorAttachments)
        return d.in.fail("vkCmdSetColorWriteEnableEXT: " + std::to_string(a.attachmentCount) +
                         " attachments, maxColorAttachments is " +
                         std::to_string(dev->limits.maxColorAttachments));
    record([=] {
        dev->dispatch.CmdSetColorWriteEnableEXT(a.commandBuffer.handle, a.attachmentCount,
                                                a.pColorWriteEnables);
    });
    return DecodeResult::Ok;
}

namespace {
// Per-attachment dynamic state lives in arrays of maxColorAttachments entries.
DecodeResult check_attachments(protocol::Decoder& d, const DeviceState& dev, std::uint32_t first,
                               std::uint32_t count, const char* what) {
    const std::uint32_t max = dev.limits.maxColorAttachments;
    if (first > max || count > max - first)
        return d.in.fail(std::string(what) + ": attachments [" + std::to_string(first) + ", +" +
                         std::to_string(count) + ") past maxColorAttachments " +
                         std::to_string(max));
    return DecodeResult::Ok;
}
} // namespace

DecodeResult Executor::on_vkCmdSetColorBlendEnableEXT(protocol::Decoder& d,
                                                      gen::CmdSetColorBlendEnableEXTArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    VN_TRY(check_attachments(d, *dev, a.firstAttachment, a.attachmentCount,
                             "vkCmdSetColorBlendEnableEXT"));
    record([=] {
        dev->dispatch.CmdSetColorBlendEnableEXT(a.commandBuffer.handle, a.firstAttachment,
                                                a.attachmentCount, a.pColorBlendEnables);
    });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdSetColorBlendEquationEXT(protocol::Decoder& d,
                                                        gen::CmdSetColorBlendEquationEXTArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    VN_TRY(check_attachments(d, *dev, a.firstAttachment, a.attachmentCount,
                             "vkCmdSetColorBlendEquationEXT"));
    record([=] {
        dev->dispatch.CmdSetColorBlendEquationEXT(a.commandBuffer.handle, a.firstAttachment,
                                                  a.attachmentCount, a.pColorBlendEquations);
    });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdSetColorWriteMaskEXT(protocol::Decoder& d,
                                                    gen::CmdSetColorWriteMaskEXTArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    VN_TRY(check_attachments(d, *dev, a.firstAttachment, a.attachmentCount,
                             "vkCmdSetColorWriteMaskEXT"));
    record([=] {
        dev->dispatch.CmdSetColorWriteMaskEXT(a.commandBuffer.handle, a.firstAttachment,
                                              a.attachmentCount, a.pColorWriteMasks);
    });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdSetColorBlendAdvancedEXT(protocol::Decoder& d,
                                                        gen::CmdSetColorBlendAdvancedEXTArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    VN_TRY(check_attachments(d, *dev, a.firstAttachment, a.attachmentCount,
                             "vkCmdSetColorBlendAdvancedEXT"));
    record([=] {
        dev->dispatch.CmdSetColorBlendAdvancedEXT(a.commandBuffer.handle, a.firstAttachment,
                                                  a.attachmentCount, a.pColorBlendAdvanced);
    });
    return DecodeResult::Ok;
}

// Vertex input state is kept per binding and per location, in arrays of the device's limits.
DecodeResult Executor::on_vkCmdSetVertexInputEXT(protocol::Decoder& d,
                                                 gen::CmdSetVertexInputEXTArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    const VkPhysicalDeviceLimits& l = dev->limits;
    if (a.vertexBindingDescriptionCount > l.maxVertexInputBindings ||
        a.vertexAttributeDescriptionCount > l.maxVertexInputAttributes)
        return d.in.fail(
            "vkCmdSetVertexInputEXT: " + std::to_string(a.vertexBindingDescriptionCount) +
            " bindings, " + std::to_string(a.vertexAttributeDescriptionCount) +
            " attributes, past the device's limits");
    for (std::uint32_t i = 0; i < a.vertexBindingDescriptionCount; ++i)
        if (a.pVertexBindingDescriptions[i].binding >= l.maxVertexInputBindings)
            return d.in.fail("vkCmdSetVertexInputEXT: binding " +
                             std::to_string(a.pVertexBindingDescriptions[i].binding) +
                             " past maxVertexInputBindings");
    for (std::uint32_t i = 0; i < a.vertexAttributeDescriptionCount; ++i) {
        const auto& attr = a.pVertexAttributeDescriptions[i];
        if (attr.location >= l.maxVertexInputAttributes || attr.binding >= l.maxVertexInputBindings)
            return d.in.fail("vkCmdSetVertexInputEXT: attribute at location " +
                             std::to_string(attr.location) + ", binding " +
                             std::to_string(attr.binding) + " past the device's limits");
    }
    record([=] {
        dev->dispatch.CmdSetVertexInputEXT(
            a.commandBuffer.handle, a.vertexBindingDescriptionCount, a.pVertexBindingDescriptions,
            a.vertexAttributeDescriptionCount, a.pVertexAttributeDescriptions);
    });
    return DecodeResult::Ok;
}

#ifdef VN_GEN_HAS_vkCmdSetRenderingAttachmentLocations
DecodeResult
Executor::on_vkCmdSetRenderingAttachmentLocations(protocol::Decoder& d,
                                                  gen::CmdSetRenderingAttachmentLocationsArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    const auto& info = *a.pLocationInfo;
    if (info.colorAttachmentCount > dev->limits.maxColorAttachments)
        return d.in.fail(
            "vkCmdSetRenderingAttachmentLocations: " + std::to_string(info.colorAttachmentCount) +
            " attachments past maxColorAttachments");
    record(
        [=] { dev->dispatch.CmdSetRenderingAttachmentLocations(a.commandBuffer.handle, &info); });
    return DecodeResult::Ok;
}
#endif

#ifdef VN_GEN_HAS_vkCmdSetRenderingInputAttachmentIndices
DecodeResult Executor::on_vkCmdSetRenderingInputAttachmentIndices(
    protocol::Decoder& d, gen::CmdSetRenderingInputAttachmentIndicesArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    const auto& info = *a.pInputAttachmentIndexInfo;
    if (info.colorAttachmentCount > dev->limits.maxColorAttachments)
        return d.in.fail("vkCmdSetRenderingInputAttachmentIndices: " +
                         std::to_string(info.colorAttachmentCount) +
                         " attachments past maxColorAttachments");
    record([=] {
        dev->dispatch.CmdSetRenderingInputAttachmentIndices(a.commandBuffer.handle, &info);
    });
    return DecodeResult::Ok;
}
#endif

DecodeResult Executor::check_push_constants(protocol::Decoder& d, const DeviceState& dev,
                                            VkPipelineLayout layout, std::uint32_t offset,
                                            std::uint32_t size, const char* what) {
    const PipelineLayoutShape* shape = dev.pipeline_layouts.lookup(layout);
    if (!shape) [[unlikely]]
        return d.in.fail(std::string(what) + ": a pipeline layout of another device");
    // Drivers copy the bytes into a block sized by the layout's ranges (at most
    // maxPushConstantsSize), at the offset given.
    const std::uint32_t end = shape->push_constant_end;
    if (offset > end || size > end - offset)
        return d.in.fail(std::string(what) + ": push constants [" + std::to_string(offset) + ", +" +
                         std::to_string(size) + ") past the layout's " + std::to_string(end) +
                         " bytes");
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdPushConstants(protocol::Decoder& d, gen::CmdPushConstantsArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    VN_TRY(check_push_constants(d, *dev, a.layout.handle, a.offset, a.size, "vkCmdPushConstants"));
    record([=] {
        dev->dispatch.CmdPushConstants(a.commandBuffer.handle, a.layout.handle, a.stageFlags,
                                       a.offset, a.size, a.pValues);
    });
    return DecodeResult::Ok;
}

#ifdef VN_GEN_HAS_vkCmdPushConstants2
DecodeResult Executor::on_vkCmdPushConstants2(protocol::Decoder& d, gen::CmdPushConstants2Args& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    const VkPushConstantsInfo& info = *a.pPushConstantsInfo;
    VN_TRY(
        check_push_constants(d, *dev, info.layout, info.offset, info.size, "vkCmdPushConstants2"));
    record([=] { dev->dispatch.CmdPushConstants2(a.commandBuffer.handle, &info); });
    return DecodeResult::Ok;
}
#endif

namespace {
// Bytes of `count` indirect records `stride` apart, each `record` bytes. Cannot overflow: both
// factors are 32-bit.
VkDeviceSize indirect_bytes(std::uint32_t count, std::uint32_t stride, VkDeviceSize record) {
    return count ? VkDeviceSize{count - 1} * stride + record : 0;
}
} // namespace

DecodeResult Executor::on_vkCmdDrawIndirect(protocol::Decoder& d, gen::CmdDrawIndirectArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    const VkDeviceSize bytes = indirect_bytes(a.drawCount, a.stride, sizeof(VkDrawIndirectCommand));
    VN_TRY(check_buffer_range(d, *dev, a.buffer.handle, a.offset, bytes, "vkCmdDrawIndirect"));
    record([=] {
        dev->dispatch.CmdDrawIndirect(a.commandBuffer.handle, a.buffer.handle, a.offset,
                                      a.drawCount, a.stride);
    });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdDrawIndexedIndirect(protocol::Decoder& d,
                                                   gen::CmdDrawIndexedIndirectArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    const VkDeviceSize bytes =
        indirect_bytes(a.drawCount, a.stride, sizeof(VkDrawIndexedIndirectCommand));
    VN_TRY(
        check_buffer_range(d, *dev, a.buffer.handle, a.offset, bytes, "vkCmdDrawIndexedIndirect"));
    record([=] {
        dev->dispatch.CmdDrawIndexedIndirect(a.commandBuffer.handle, a.buffer.handle, a.offset,
                                             a.drawCount, a.stride);
    });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdDrawIndirectCount(protocol::Decoder& d,
                                                 gen::CmdDrawIndirectCountArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    // The count read from the buffer is capped by maxDrawCount, so that bounds the records.
    const VkDeviceSize bytes =
        indirect_bytes(a.maxDrawCount, a.stride, sizeof(VkDrawIndirectCommand));
    VN_TRY(check_buffer_range(d, *dev, a.buffer.handle, a.offset, bytes, "vkCmdDrawIndirectCount"));
    VN_TRY(check_buffer_range(d, *dev, a.countBuffer.handle, a.countBufferOffset, 4,
                              "vkCmdDrawIndirectCount count"));
    record([=] {
        dev->dispatch.CmdDrawIndirectCount(a.commandBuffer.handle, a.buffer.handle, a.offset,
                                           a.countBuffer.handle, a.countBufferOffset,
                                           a.maxDrawCount, a.stride);
    });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdDrawIndexedIndirectCount(protocol::Decoder& d,
                                                        gen::CmdDrawIndexedIndirectCountArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    const VkDeviceSize bytes =
        indirect_bytes(a.maxDrawCount, a.stride, sizeof(VkDrawIndexedIndirectCommand));
    VN_TRY(check_buffer_range(d, *dev, a.buffer.handle, a.offset, bytes,
                              "vkCmdDrawIndexedIndirectCount"));
    VN_TRY(check_buffer_range(d, *dev, a.countBuffer.handle, a.countBufferOffset, 4,
                              "vkCmdDrawIndexedIndirectCount count"));
    record([=] {
        dev->dispatch.CmdDrawIndexedIndirectCount(a.commandBuffer.handle, a.buffer.handle, a.offset,
                                                  a.countBuffer.handle, a.countBufferOffset,
                                                  a.maxDrawCount, a.stride);
    });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdDispatchIndirect(protocol::Decoder& d,
                                                gen::CmdDispatchIndirectArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    VN_TRY(check_buffer_range(d, *dev, a.buffer.handle, a.offset, sizeof(VkDispatchIndirectCommand),
                              "vkCmdDispatchIndirect"));
    record([=] {
        dev->dispatch.CmdDispatchIndirect(a.commandBuffer.handle, a.buffer.handle, a.offset);
    });
    return DecodeResult::Ok;
}

namespace {
// Texels of the destination that a copy of `extent` source texels covers: copies between
// compressed and uncompressed formats of one block size map one block to one texel.
VkExtent3D scaled_extent(const VkExtent3D& e, const TexelBlock& src, const TexelBlock& dst) {
    return {div_up(e.width, src.width) * dst.width, div_up(e.height, src.height) * dst.height,
            div_up(e.depth, src.depth) * dst.depth};
}

// A blit region's box, whichever way its two corners are ordered.
void blit_box(const VkOffset3D (&o)[2], VkOffset3D& offset, VkExtent3D& extent) {
    const auto span = [](std::int32_t a, std::int32_t b, std::int32_t& lo, std::uint32_t& n) {
        lo = std::min(a, b);
        n = static_cast<std::uint32_t>(static_cast<std::int64_t>(std::max(a, b)) - lo);
    };
    span(o[0].x, o[1].x, offset.x, extent.width);
    span(o[0].y, o[1].y, offset.y, extent.height);
    span(o[0].z, o[1].z, offset.z, extent.depth);
    // An empty box blits nothing; count it as one texel so the corners are still checked.
    extent.width = std::max(extent.width, 1u);
    extent.height = std::max(extent.height, 1u);
    extent.depth = std::max(extent.depth, 1u);
}
} // namespace

DecodeResult Executor::on_vkCmdCopyImage(protocol::Decoder& d, gen::CmdCopyImageArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    for (std::uint32_t i = 0; i < a.regionCount; ++i) {
        const VkImageCopy& r = a.pRegions[i];
        VkImageCopy2 r2{};
        r2.sType = VK_STRUCTURE_TYPE_IMAGE_COPY_2;
        r2.srcSubresource = r.srcSubresource;
        r2.srcOffset = r.srcOffset;
        r2.dstSubresource = r.dstSubresource;
        r2.dstOffset = r.dstOffset;
        r2.extent = r.extent;
        VN_TRY(check_image_copy(d, *dev, a.srcImage.handle, a.dstImage.handle, r2,
                                "vkCmdCopyImage source", "vkCmdCopyImage destination"));
    }
    record([=] {
        dev->dispatch.CmdCopyImage(a.commandBuffer.handle, a.srcImage.handle, a.srcImageLayout,
                                   a.dstImage.handle, a.dstImageLayout, a.regionCount, a.pRegions);
    });
    return DecodeResult::Ok;
}

DecodeResult Executor::check_image_copy(protocol::Decoder& d, const DeviceState& dev, VkImage src,
                                        VkImage dst, const VkImageCopy2& r, const char* what,
                                        const char* dst_what) {
    if (!dst_what)
        dst_what = what;
    // Between a 3D image and a 2D one (Vulkan 1.1, VK_KHR_maintenance1), the 3D side's depth
    // slices are the 2D side's array layers: there the copy is one texel deep, and extent.depth
    // counts layers, which the spec has equal the subresource's layerCount. Drivers copy
    // extent.depth layers, so a smaller layerCount would let them past the checked ones.
    const auto is_3d = [&](VkImage image) {
        const auto it = dev.images.find(image);
        return it != dev.images.end() && it->second.type == VK_IMAGE_TYPE_3D;
    };
    const bool src_3d = is_3d(src), dst_3d = is_3d(dst);
    const auto as_layers = [&](const VkImageSubresourceLayers& s, VkExtent3D& extent,
                               const char* side) {
        if (s.layerCount != extent.depth)
            return d.in.fail(std::string(side) + ": a copy between a 3D and a 2D image covers " +
                             std::to_string(extent.depth) + " slices but " +
                             std::to_string(s.layerCount) + " layers");
        extent.depth = 1;
        return DecodeResult::Ok;
    };
    TexelBlock src_block, dst_block;
    VkExtent3D src_extent = r.extent;
    if (dst_3d && !src_3d)
        VN_TRY(as_layers(r.srcSubresource, src_extent, what));
    VN_TRY(check_image_region(d, dev, src, r.srcSubresource, r.srcOffset, src_extent, what,
                              &src_block));
    VN_TRY(check_image_region(d, dev, dst, r.dstSubresource, r.dstOffset, {1, 1, 1}, dst_what,
                              &dst_block));
    VkExtent3D dst_extent = scaled_extent(r.extent, src_block, dst_block);
    if (src_3d && !dst_3d)
        VN_TRY(as_layers(r.dstSubresource, dst_extent, dst_what));
    return check_image_region(d, dev, dst, r.dstSubresource, r.dstOffset, dst_extent, dst_what);
}

DecodeResult Executor::on_vkCmdCopyImage2(protocol::Decoder& d, gen::CmdCopyImage2Args& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    const VkCopyImageInfo2& info = *a.pCopyImageInfo;
    for (std::uint32_t i = 0; i < info.regionCount; ++i)
        VN_TRY(check_image_copy(d, *dev, info.srcImage, info.dstImage, info.pRegions[i],
                                "vkCmdCopyImage2"));
    record([=] { dev->dispatch.CmdCopyImage2(a.commandBuffer.handle, &info); });
    return DecodeResult::Ok;
}

namespace {
template <typename Region>
void blit_boxes(const Region& r, VkOffset3D (&offset)[2], VkExtent3D (&extent)[2]) {
    blit_box(r.srcOffsets, offset[0], extent[0]);
    blit_box(r.dstOffsets, offset[1], extent[1]);
}
} // namespace

DecodeResult Executor::on_vkCmdBlitImage(protocol::Decoder& d, gen::CmdBlitImageArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    for (std::uint32_t i = 0; i < a.regionCount; ++i) {
        const VkImageBlit& r = a.pRegions[i];
        VkOffset3D offset[2];
        VkExtent3D extent[2];
        blit_boxes(r, offset, extent);
        VN_TRY(check_image_region(d, *dev, a.srcImage.handle, r.srcSubresource, offset[0],
                                  extent[0], "vkCmdBlitImage source"));
        VN_TRY(check_image_region(d, *dev, a.dstImage.handle, r.dstSubresource, offset[1],
                                  extent[1], "vkCmdBlitImage destination"));
    }
    record([=] {
        dev->dispatch.CmdBlitImage(a.commandBuffer.handle, a.srcImage.handle, a.srcImageLayout,
                                   a.dstImage.handle, a.dstImageLayout, a.regionCount, a.pRegions,
                                   a.filter);
    });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdBlitImage2(protocol::Decoder& d, gen::CmdBlitImage2Args& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    const VkBlitImageInfo2& info = *a.pBlitImageInfo;
    for (std::uint32_t i = 0; i < info.regionCount; ++i) {
        const VkImageBlit2& r = info.pRegions[i];
        VkOffset3D offset[2];
        VkExtent3D extent[2];
        blit_boxes(r, offset, extent);
        VN_TRY(check_image_region(d, *dev, info.srcImage, r.srcSubresource, offset[0], extent[0],
                                  "vkCmdBlitImage2 source"));
        VN_TRY(check_image_region(d, *dev, info.dstImage, r.dstSubresource, offset[1], extent[1],
                                  "vkCmdBlitImage2 destination"));
    }
    record([=] { dev->dispatch.CmdBlitImage2(a.commandBuffer.handle, &info); });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdResolveImage(protocol::Decoder& d, gen::CmdResolveImageArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    for (std::uint32_t i = 0; i < a.regionCount; ++i) {
        const VkImageResolve& r = a.pRegions[i];
        VN_TRY(check_image_region(d, *dev, a.srcImage.handle, r.srcSubresource, r.srcOffset,
                                  r.extent, "vkCmdResolveImage source"));
        VN_TRY(check_image_region(d, *dev, a.dstImage.handle, r.dstSubresource, r.dstOffset,
                                  r.extent, "vkCmdResolveImage destination"));
    }
    record([=] {
        dev->dispatch.CmdResolveImage(a.commandBuffer.handle, a.srcImage.handle, a.srcImageLayout,
                                      a.dstImage.handle, a.dstImageLayout, a.regionCount,
                                      a.pRegions);
    });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdResolveImage2(protocol::Decoder& d, gen::CmdResolveImage2Args& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    const VkResolveImageInfo2& info = *a.pResolveImageInfo;
    for (std::uint32_t i = 0; i < info.regionCount; ++i) {
        const VkImageResolve2& r = info.pRegions[i];
        VN_TRY(check_image_region(d, *dev, info.srcImage, r.srcSubresource, r.srcOffset, r.extent,
                                  "vkCmdResolveImage2 source"));
        VN_TRY(check_image_region(d, *dev, info.dstImage, r.dstSubresource, r.dstOffset, r.extent,
                                  "vkCmdResolveImage2 destination"));
    }
    record([=] { dev->dispatch.CmdResolveImage2(a.commandBuffer.handle, &info); });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdClearColorImage(protocol::Decoder& d,
                                               gen::CmdClearColorImageArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    VN_TRY(check_image_ranges(d, *dev, a.image.handle, a.rangeCount, a.pRanges,
                              "vkCmdClearColorImage"));
    record([=] {
        dev->dispatch.CmdClearColorImage(a.commandBuffer.handle, a.image.handle, a.imageLayout,
                                         a.pColor, a.rangeCount, a.pRanges);
    });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdClearDepthStencilImage(protocol::Decoder& d,
                                                      gen::CmdClearDepthStencilImageArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    VN_TRY(check_image_ranges(d, *dev, a.image.handle, a.rangeCount, a.pRanges,
                              "vkCmdClearDepthStencilImage"));
    record([=] {
        dev->dispatch.CmdClearDepthStencilImage(a.commandBuffer.handle, a.image.handle,
                                                a.imageLayout, a.pDepthStencil, a.rangeCount,
                                                a.pRanges);
    });
    return DecodeResult::Ok;
}

} // namespace vn::decoder
