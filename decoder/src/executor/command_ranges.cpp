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
    const auto it = dev.buffer_sizes.find(buffer);
    if (it == dev.buffer_sizes.end()) [[unlikely]]
        return d.in.fail(std::string(what) + ": no buffer of this device");
    if (offset > it->second || size > it->second - offset) [[unlikely]]
        return d.in.fail(std::string(what) + ": [" + std::to_string(offset) + ", +" +
                         std::to_string(size) + ") lies outside a buffer of " +
                         std::to_string(it->second) + " bytes");
    return DecodeResult::Ok;
}

DecodeResult Executor::check_buffer_image_copy(protocol::Decoder& d, const DeviceState& dev,
                                               VkBuffer buffer, VkImage image,
                                               const VkBufferImageCopy2& r, const char* what) {
    const auto it = dev.images.find(image);
    if (it == dev.images.end())
        return d.in.fail(std::string(what) + ": no image of this device");
    const ImageShape& shape = it->second;
    const VkImageSubresourceLayers& s = r.imageSubresource;
    const TexelBlock block = (s.aspectMask && !(s.aspectMask & (s.aspectMask - 1)))
                                 ? copy_block(shape.format, s.aspectMask)
                                 : TexelBlock{};
    if (block.bytes == 0)
        return d.in.fail(std::string(what) + ": aspect " + std::to_string(s.aspectMask) +
                         " of format " + std::to_string(shape.format) + " cannot be copied");
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
    const VkExtent3D& e = r.imageExtent;
    if (e.width == 0 || e.height == 0 || e.depth == 0 ||
        !within(r.imageOffset.x, e.width,
                level(shape.extent.width, block.width_divisor, block.width)) ||
        !within(r.imageOffset.y, e.height,
                level(shape.extent.height, block.height_divisor, block.height)) ||
        !within(r.imageOffset.z, e.depth, level(shape.extent.depth, 1, block.depth)))
        return d.in.fail(std::string(what) + ": the region lies outside the image");
    VkDeviceSize bytes = 0;
    if (!copy_bytes(r, block, bytes))
        return d.in.fail(std::string(what) + ": bad buffer row length or image height");
    return check_buffer_range(d, dev, buffer, r.bufferOffset, bytes, what);
}

DecodeResult Executor::on_vkCmdFillBuffer(protocol::Decoder& d, gen::CmdFillBufferArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    // VK_WHOLE_SIZE: the driver fills up to the end, so only the offset needs to be inside.
    VN_TRY(check_buffer_range(d, *dev, a.dstBuffer.handle, a.dstOffset,
                              a.size == whole ? 0 : a.size, "vkCmdFillBuffer"));
    dev->dispatch.CmdFillBuffer(a.commandBuffer.handle, a.dstBuffer.handle, a.dstOffset, a.size,
                                a.data);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdUpdateBuffer(protocol::Decoder& d, gen::CmdUpdateBufferArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    VN_TRY(check_buffer_range(d, *dev, a.dstBuffer.handle, a.dstOffset, a.dataSize,
                              "vkCmdUpdateBuffer"));
    dev->dispatch.CmdUpdateBuffer(a.commandBuffer.handle, a.dstBuffer.handle, a.dstOffset,
                                  a.dataSize, a.pData);
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
    dev->dispatch.CmdCopyBuffer(a.commandBuffer.handle, a.srcBuffer.handle, a.dstBuffer.handle,
                                a.regionCount, a.pRegions);
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
    dev->dispatch.CmdCopyBuffer2(a.commandBuffer.handle, &info);
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
    dev->dispatch.CmdCopyBufferToImage(a.commandBuffer.handle, a.srcBuffer.handle,
                                       a.dstImage.handle, a.dstImageLayout, a.regionCount,
                                       a.pRegions);
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
    dev->dispatch.CmdCopyBufferToImage2(a.commandBuffer.handle, &info);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdCopyImageToBuffer(protocol::Decoder& d,
                                                 gen::CmdCopyImageToBufferArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    for (std::uint32_t i = 0; i < a.regionCount; ++i)
        VN_TRY(check_buffer_image_copy(d, *dev, a.dstBuffer.handle, a.srcImage.handle,
                                       to_copy2(a.pRegions[i]), "vkCmdCopyImageToBuffer"));
    dev->dispatch.CmdCopyImageToBuffer(a.commandBuffer.handle, a.srcImage.handle, a.srcImageLayout,
                                       a.dstBuffer.handle, a.regionCount, a.pRegions);
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
    dev->dispatch.CmdCopyImageToBuffer2(a.commandBuffer.handle, &info);
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
    dev->dispatch.CmdBindVertexBuffers(a.commandBuffer.handle, a.firstBinding, a.bindingCount,
                                       a.pBuffers, a.pOffsets);
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
    if (!dev->dispatch.CmdBindVertexBuffers2)
        return d.in.fail("vkCmdBindVertexBuffers2 is not available on this device");
    dev->dispatch.CmdBindVertexBuffers2(a.commandBuffer.handle, a.firstBinding, a.bindingCount,
                                        a.pBuffers, a.pOffsets, a.pSizes, a.pStrides);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdBindIndexBuffer(protocol::Decoder& d,
                                               gen::CmdBindIndexBufferArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    VN_TRY(check_buffer_range(d, *dev, a.buffer.handle, a.offset, 0, "vkCmdBindIndexBuffer"));
    dev->dispatch.CmdBindIndexBuffer(a.commandBuffer.handle, a.buffer.handle, a.offset,
                                     a.indexType);
    return DecodeResult::Ok;
}

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
    dev->dispatch.CmdDrawIndirect(a.commandBuffer.handle, a.buffer.handle, a.offset, a.drawCount,
                                  a.stride);
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
    dev->dispatch.CmdDrawIndexedIndirect(a.commandBuffer.handle, a.buffer.handle, a.offset,
                                         a.drawCount, a.stride);
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
    if (!dev->dispatch.CmdDrawIndirectCount)
        return d.in.fail("vkCmdDrawIndirectCount is not available on this device");
    dev->dispatch.CmdDrawIndirectCount(a.commandBuffer.handle, a.buffer.handle, a.offset,
                                       a.countBuffer.handle, a.countBufferOffset, a.maxDrawCount,
                                       a.stride);
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
    if (!dev->dispatch.CmdDrawIndexedIndirectCount)
        return d.in.fail("vkCmdDrawIndexedIndirectCount is not available on this device");
    dev->dispatch.CmdDrawIndexedIndirectCount(a.commandBuffer.handle, a.buffer.handle, a.offset,
                                              a.countBuffer.handle, a.countBufferOffset,
                                              a.maxDrawCount, a.stride);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdDispatchIndirect(protocol::Decoder& d,
                                                gen::CmdDispatchIndirectArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    VN_TRY(check_buffer_range(d, *dev, a.buffer.handle, a.offset, sizeof(VkDispatchIndirectCommand),
                              "vkCmdDispatchIndirect"));
    dev->dispatch.CmdDispatchIndirect(a.commandBuffer.handle, a.buffer.handle, a.offset);
    return DecodeResult::Ok;
}

} // namespace vn::decoder
