// Host image copies (VK_EXT_host_image_copy, core in Vulkan 1.4): the driver copies between an
// image's memory and host memory on the CPU, in this process. Every region is checked against
// the image's shape and the bytes the guest sent (or asked for) before the driver sees it: a
// region past the image or the data would be a read or write outside our own memory. The image
// must be bound to live memory and made for host transfers, on a device that enabled the
// feature, since the driver lays out only such images for CPU access.
//
// The guest sends the data inline (vkCopyMemoryToImageMESA) or has it written into its reply
// (vkCopyImageToMemoryMESA), as Mesa's driver does: host pointers never cross the wire.
#include "executor.h"

#include <string>
#include <vector>

namespace vn::decoder {

using protocol::DecodeResult;

#ifdef VN_GEN_HAS_vkCopyMemoryToImageMESA
namespace {
// With VK_HOST_IMAGE_COPY_MEMCPY the driver copies each layer in its own layout, of the size it
// reports through vkGetImageSubresourceLayout2.
bool memcpy_bytes(const DeviceState& dev, VkDevice device, VkImage image,
                  const VkImageSubresourceLayers& s, VkDeviceSize& out) {
    if (!dev.dispatch.GetImageSubresourceLayout2)
        return false;
    out = 0;
    for (std::uint32_t layer = 0; layer < s.layerCount; ++layer) {
        VkSubresourceHostMemcpySizeEXT size{};
        size.sType = VK_STRUCTURE_TYPE_SUBRESOURCE_HOST_MEMCPY_SIZE_EXT;
        VkSubresourceLayout2EXT layout{};
        layout.sType = VK_STRUCTURE_TYPE_SUBRESOURCE_LAYOUT_2_EXT;
        layout.pNext = &size;
        VkImageSubresource2EXT sub{};
        sub.sType = VK_STRUCTURE_TYPE_IMAGE_SUBRESOURCE_2_EXT;
        sub.imageSubresource = {s.aspectMask, s.mipLevel, s.baseArrayLayer + layer};
        dev.dispatch.GetImageSubresourceLayout2(device, image, &sub, &layout);
        if (__builtin_add_overflow(out, size.size, &out))
            return false;
    }
    return true;
}

// A host copy region in the form check_memory_image_copy takes (the memory starts at 0).
VkBufferImageCopy2 as_copy(std::uint32_t row_length, std::uint32_t image_height,
                           const VkImageSubresourceLayers& s, const VkOffset3D& offset,
                           const VkExtent3D& extent) {
    return {VK_STRUCTURE_TYPE_BUFFER_IMAGE_COPY_2,
            nullptr,
            0,
            row_length,
            image_height,
            s,
            offset,
            extent};
}
} // namespace

DecodeResult Executor::check_host_region(protocol::Decoder& d, const DeviceState& dev,
                                         VkDevice device, VkImage image, VkFlags flags,
                                         const VkBufferImageCopy2& region, const char* what,
                                         VkDeviceSize& bytes) {
    // The layerCount the MEMCPY size is summed over is checked here first.
    VN_TRY(check_memory_image_copy(d, dev, image, region, what, bytes));
    if ((flags & VK_HOST_IMAGE_COPY_MEMCPY_EXT) &&
        !memcpy_bytes(dev, device, image, region.imageSubresource, bytes))
        return d.in.fail(std::string(what) + ": the driver gives no memcpy size");
    return DecodeResult::Ok;
}

DecodeResult Executor::check_host_copy_image(protocol::Decoder& d, const DeviceState& dev,
                                             VkImage image, const char* what) {
    if (!dev.host_image_copy) // both entry points resolved (device.cpp)
        return d.in.fail(std::string(what) + ": the device has not enabled hostImageCopy");
    const auto it = dev.images.find(image);
    if (it == dev.images.end())
        return d.in.fail(std::string(what) + ": no image of this device");
    if (!(it->second.usage & VK_IMAGE_USAGE_HOST_TRANSFER_BIT_EXT))
        return d.in.fail(std::string(what) + ": an image not created for host transfers");
    if (it->second.memory_freed)
        return d.in.fail(std::string(what) + ": the image's memory was freed");
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCopyMemoryToImageMESA(protocol::Decoder& d,
                                                  gen::CopyMemoryToImageMESAArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    const VkCopyMemoryToImageInfoMESA& info = *a.pCopyMemoryToImageInfo;
    static constexpr const char* what = "vkCopyMemoryToImageMESA";
    VN_TRY(check_host_copy_image(d, *dev, info.dstImage, what));
    std::vector<VkMemoryToImageCopyEXT> regions(info.regionCount);
    for (std::uint32_t i = 0; i < info.regionCount; ++i) {
        const VkMemoryToImageCopyMESA& r = info.pRegions[i];
        VkDeviceSize bytes = 0;
        VN_TRY(check_host_region(d, *dev, a.device.handle, info.dstImage, info.flags,
                                 as_copy(r.memoryRowLength, r.memoryImageHeight, r.imageSubresource,
                                         r.imageOffset, r.imageExtent),
                                 what, bytes));
        if (!r.pData || bytes > r.dataSize)
            return d.in.fail(std::string(what) + ": region " + std::to_string(i) + " reads " +
                             std::to_string(bytes) + " bytes, but the guest sent " +
                             std::to_string(r.pData ? r.dataSize : 0));
        regions[i] = {VK_STRUCTURE_TYPE_MEMORY_TO_IMAGE_COPY_EXT,
                      nullptr,
                      r.pData,
                      r.memoryRowLength,
                      r.memoryImageHeight,
                      r.imageSubresource,
                      r.imageOffset,
                      r.imageExtent};
    }
    VkCopyMemoryToImageInfoEXT host{};
    host.sType = VK_STRUCTURE_TYPE_COPY_MEMORY_TO_IMAGE_INFO_EXT;
    host.flags = info.flags;
    host.dstImage = info.dstImage;
    host.dstImageLayout = info.dstImageLayout;
    host.regionCount = info.regionCount;
    host.pRegions = regions.data();
    a.ret = reinterpret_cast<PFN_vkCopyMemoryToImageEXT>(dev->copy_memory_to_image)(a.device.handle,
                                                                                    &host);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCopyImageToMemoryMESA(protocol::Decoder& d,
                                                  gen::CopyImageToMemoryMESAArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    const VkCopyImageToMemoryInfoMESA& info = *a.pCopyImageToMemoryInfo;
    static constexpr const char* what = "vkCopyImageToMemoryMESA";
    VN_TRY(check_host_copy_image(d, *dev, info.srcImage, what));
    VkDeviceSize bytes = 0;
    VN_TRY(check_host_region(d, *dev, a.device.handle, info.srcImage, info.flags,
                             as_copy(info.memoryRowLength, info.memoryImageHeight,
                                     info.imageSubresource, info.imageOffset, info.imageExtent),
                             what, bytes));
    // pData is the decoder's, dataSize bytes long: the driver writes at most `bytes` into it.
    if (!a.pData || bytes > a.dataSize)
        return d.in.fail(std::string(what) + ": the copy writes " + std::to_string(bytes) +
                         " bytes, but the guest asked for " +
                         std::to_string(a.pData ? a.dataSize : 0));
    VkImageToMemoryCopyEXT region{VK_STRUCTURE_TYPE_IMAGE_TO_MEMORY_COPY_EXT,
                                  nullptr,
                                  a.pData,
                                  info.memoryRowLength,
                                  info.memoryImageHeight,
                                  info.imageSubresource,
                                  info.imageOffset,
                                  info.imageExtent};
    VkCopyImageToMemoryInfoEXT host{};
    host.sType = VK_STRUCTURE_TYPE_COPY_IMAGE_TO_MEMORY_INFO_EXT;
    host.flags = info.flags;
    host.srcImage = info.srcImage;
    host.srcImageLayout = info.srcImageLayout;
    host.regionCount = 1;
    host.pRegions = &region;
    a.ret = reinterpret_cast<PFN_vkCopyImageToMemoryEXT>(dev->copy_image_to_memory)(a.device.handle,
                                                                                    &host);
    return DecodeResult::Ok;
}
#endif

#ifdef VN_GEN_HAS_vkCopyImageToImage
DecodeResult Executor::on_vkCopyImageToImage(protocol::Decoder& d, gen::CopyImageToImageArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    const VkCopyImageToImageInfoEXT& info = *a.pCopyImageToImageInfo;
    static constexpr const char* what = "vkCopyImageToImage";
    VN_TRY(check_host_copy_image(d, *dev, info.srcImage, what));
    VN_TRY(check_host_copy_image(d, *dev, info.dstImage, what));
    for (std::uint32_t i = 0; i < info.regionCount; ++i)
        VN_TRY(check_image_copy(d, *dev, info.srcImage, info.dstImage, info.pRegions[i], what));
    a.ret = dev->dispatch.CopyImageToImage(a.device.handle, &info);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkTransitionImageLayout(protocol::Decoder& d,
                                                  gen::TransitionImageLayoutArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    static constexpr const char* what = "vkTransitionImageLayout";
    for (std::uint32_t i = 0; i < a.transitionCount; ++i) {
        const VkHostImageLayoutTransitionInfoEXT& t = a.pTransitions[i];
        VN_TRY(check_host_copy_image(d, *dev, t.image, what));
        VN_TRY(check_image_ranges(d, *dev, t.image, 1, &t.subresourceRange, what));
    }
    a.ret = dev->dispatch.TransitionImageLayout(a.device.handle, a.transitionCount, a.pTransitions);
    return DecodeResult::Ok;
}
#endif

} // namespace vn::decoder
