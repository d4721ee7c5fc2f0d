// Images: creation keeps each image's shape (for the checks of the regions commands name in it),
// and every bind is checked against the memory it names, as buffer binds are.
#include "executor.h"

#include <algorithm>
#include <vector>

namespace vn::decoder {

using protocol::DecodeResult;

namespace {
void mark_image_bound(DeviceState& dev, VkImage image, VkDeviceMemory memory) {
    ImageShape& shape = dev.images[image];
    shape.bound = true;
    if (dev.host_image_copy) {
        shape.memories.push_back(memory);
        dev.host_copy_images[memory].push_back(image);
    }
}

void forget_host_copy_image(DeviceState& dev, VkImage image) {
    const auto it = dev.images.find(image);
    if (it == dev.images.end())
        return;
    for (VkDeviceMemory memory : it->second.memories) {
        const auto m = dev.host_copy_images.find(memory);
        if (m != dev.host_copy_images.end())
            std::erase(m->second, image);
    }
}

// A subresource drivers index their per-level, per-layer and per-plane tables with.
bool subresource_exists(const VkImageSubresource& s, std::uint32_t levels, std::uint32_t layers) {
    return s.mipLevel < levels && s.arrayLayer < layers && s.aspectMask != 0 &&
           (s.aspectMask & (s.aspectMask - 1)) == 0;
}
} // namespace

DecodeResult Executor::on_vkCreateImage(protocol::Decoder& d, gen::CreateImageArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    const std::uint64_t id = protocol::handle_to_u64(*a.pImage);
    if (refuse_new_object()) {
        a.ret = VK_ERROR_OUT_OF_HOST_MEMORY;
        return DecodeResult::Ok;
    }
    VN_TRY(check_new_id(d, id));
    const VkImageCreateInfo& info = *a.pCreateInfo;
    for (auto* n = static_cast<const VkBaseInStructure*>(info.pNext); n; n = n->pNext)
        if (n->sType == VK_STRUCTURE_TYPE_IMPORT_MEMORY_RESOURCE_INFO_MESA)
            return d.in.fail("vkCreateImage from an imported resource is not implemented yet");
    if (info.flags & kSparseImageFlags)
        return d.in.fail("vkCreateImage: a sparse image, but sparse binding is not offered");
    VkImage host = VK_NULL_HANDLE;
    a.ret = dev->dispatch.CreateImage(a.device.handle, &info, nullptr, &host);
    if (a.ret != VK_SUCCESS)
        return DecodeResult::Ok;
    VN_TRY(add_child<VkImage>(*dev, id, host));
    ImageShape& shape = dev->images[host] = ImageShape{};
    shape.type = info.imageType;
    shape.format = info.format;
    shape.extent = info.extent;
    shape.mip_levels = info.mipLevels;
    shape.array_layers = info.arrayLayers;
    shape.usage = info.usage;
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkDestroyImage(protocol::Decoder& d, gen::DestroyImageArgs& a) {
    if (!a.image.id)
        return DecodeResult::Ok;
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    VN_TRY(check_device_child(d, a.device, VK_OBJECT_TYPE_IMAGE, a.image.id));
    dev->dispatch.DestroyImage(a.device.handle, a.image.handle, nullptr);
    forget_host_copy_image(*dev, a.image.handle);
    dev->images.erase(a.image.handle);
    return remove_child<VkImage>(*dev, a.image.id);
}

DecodeResult Executor::on_vkGetImageMemoryRequirements(protocol::Decoder& d,
                                                       gen::GetImageMemoryRequirementsArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    VN_TRY(check_device_child(d, a.device, VK_OBJECT_TYPE_IMAGE, a.image.id));
    dev->dispatch.GetImageMemoryRequirements(a.device.handle, a.image.handle,
                                             a.pMemoryRequirements);
    return DecodeResult::Ok;
}

DecodeResult
Executor::on_vkGetImageSparseMemoryRequirements(protocol::Decoder& d,
                                                gen::GetImageSparseMemoryRequirementsArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    VN_TRY(check_device_child(d, a.device, VK_OBJECT_TYPE_IMAGE, a.image.id));
    // The decoder sized pSparseMemoryRequirements by the count the guest sent; the driver writes
    // at most that many and lowers the count.
    dev->dispatch.GetImageSparseMemoryRequirements(a.device.handle, a.image.handle,
                                                   a.pSparseMemoryRequirementCount,
                                                   a.pSparseMemoryRequirements);
    return DecodeResult::Ok;
}

DecodeResult Executor::check_image_bind(protocol::Decoder& d, DeviceState& dev, VkDevice device,
                                        const VkBindImageMemoryInfo& bind) {
    // An image bound past the end of its memory lets the GPU (or a copy) write outside the
    // allocation, which for host-visible memory is our own mapping.
    const auto it = dev.memory_sizes.find(bind.memory);
    if (it == dev.memory_sizes.end())
        return d.in.fail("vkBindImageMemory: memory of another device");
    if (!dev.images.contains(bind.image))
        return d.in.fail("vkBindImageMemory: an image of another device");
    VkImagePlaneMemoryRequirementsInfo plane{};
    VkImageMemoryRequirementsInfo2 info{};
    info.sType = VK_STRUCTURE_TYPE_IMAGE_MEMORY_REQUIREMENTS_INFO_2;
    info.image = bind.image;
    for (auto* n = static_cast<const VkBaseInStructure*>(bind.pNext); n; n = n->pNext) {
        if (n->sType == VK_STRUCTURE_TYPE_BIND_IMAGE_PLANE_MEMORY_INFO) {
            // A disjoint plane has requirements of its own.
            plane.sType = VK_STRUCTURE_TYPE_IMAGE_PLANE_MEMORY_REQUIREMENTS_INFO;
            plane.planeAspect = reinterpret_cast<const VkBindImagePlaneMemoryInfo*>(n)->planeAspect;
            info.pNext = &plane;
        }
    }
    VkMemoryRequirements2 req{};
    req.sType = VK_STRUCTURE_TYPE_MEMORY_REQUIREMENTS_2;
    // The *2 query is Vulkan 1.1 or VK_KHR_get_memory_requirements2, which a device that has
    // vkBindImageMemory2 through VK_KHR_bind_memory2 need not have: only a disjoint plane needs it.
    if (info.pNext) {
        if (!dev.dispatch.GetImageMemoryRequirements2)
            return d.in.fail("vkBindImageMemory2: a plane bind needs "
                             "vkGetImageMemoryRequirements2, which this device has not enabled");
        dev.dispatch.GetImageMemoryRequirements2(device, &info, &req);
    } else {
        dev.dispatch.GetImageMemoryRequirements(device, bind.image, &req.memoryRequirements);
    }
    const VkMemoryRequirements& r = req.memoryRequirements;
    if (bind.memoryOffset > it->second || r.size > it->second - bind.memoryOffset ||
        (r.alignment && bind.memoryOffset % r.alignment != 0))
        return d.in.fail("vkBindImageMemory: the image (" + std::to_string(r.size) +
                         " bytes) does not fit its memory (" + std::to_string(it->second) +
                         " bytes) at offset " + std::to_string(bind.memoryOffset));
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkBindImageMemory(protocol::Decoder& d, gen::BindImageMemoryArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    VkBindImageMemoryInfo bind{};
    bind.sType = VK_STRUCTURE_TYPE_BIND_IMAGE_MEMORY_INFO;
    bind.image = a.image.handle;
    bind.memory = a.memory.handle;
    bind.memoryOffset = a.memoryOffset;
    VN_TRY(check_image_bind(d, *dev, a.device.handle, bind));
    a.ret = dev->dispatch.BindImageMemory(a.device.handle, a.image.handle, a.memory.handle,
                                          a.memoryOffset);
    if (a.ret == VK_SUCCESS)
        mark_image_bound(*dev, a.image.handle, a.memory.handle);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkBindImageMemory2(protocol::Decoder& d, gen::BindImageMemory2Args& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    for (std::uint32_t i = 0; i < a.bindInfoCount; ++i)
        VN_TRY(check_image_bind(d, *dev, a.device.handle, a.pBindInfos[i]));
    a.ret = dev->dispatch.BindImageMemory2(a.device.handle, a.bindInfoCount, a.pBindInfos);
    if (a.ret == VK_SUCCESS)
        for (std::uint32_t i = 0; i < a.bindInfoCount; ++i)
            mark_image_bound(*dev, a.pBindInfos[i].image, a.pBindInfos[i].memory);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkGetImageSubresourceLayout(protocol::Decoder& d,
                                                      gen::GetImageSubresourceLayoutArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    const auto it = dev->images.find(a.image.handle);
    if (it == dev->images.end())
        return d.in.fail("vkGetImageSubresourceLayout: an image of another device");
    const VkImageSubresource& s = *a.pSubresource;
    if (!subresource_exists(s, it->second.mip_levels, it->second.array_layers))
        return d.in.fail("vkGetImageSubresourceLayout: no such subresource (level " +
                         std::to_string(s.mipLevel) + ", layer " + std::to_string(s.arrayLayer) +
                         ")");
    dev->dispatch.GetImageSubresourceLayout(a.device.handle, a.image.handle, a.pSubresource,
                                            a.pLayout);
    return DecodeResult::Ok;
}

#ifdef VN_GEN_HAS_vkGetImageSubresourceLayout2
DecodeResult Executor::on_vkGetImageSubresourceLayout2(protocol::Decoder& d,
                                                       gen::GetImageSubresourceLayout2Args& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    const auto it = dev->images.find(a.image.handle);
    if (it == dev->images.end())
        return d.in.fail("vkGetImageSubresourceLayout2: an image of another device");
    const VkImageSubresource& s = a.pSubresource->imageSubresource;
    if (!subresource_exists(s, it->second.mip_levels, it->second.array_layers))
        return d.in.fail("vkGetImageSubresourceLayout2: no such subresource (level " +
                         std::to_string(s.mipLevel) + ", layer " + std::to_string(s.arrayLayer) +
                         ")");
    dev->dispatch.GetImageSubresourceLayout2(a.device.handle, a.image.handle, a.pSubresource,
                                             a.pLayout);
    return DecodeResult::Ok;
}
#endif

#ifdef VN_GEN_HAS_vkGetDeviceImageSubresourceLayout
DecodeResult
Executor::on_vkGetDeviceImageSubresourceLayout(protocol::Decoder& d,
                                               gen::GetDeviceImageSubresourceLayoutArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    // The driver makes a temporary image of the create info and looks the subresource up in it.
    const VkImageCreateInfo& info = *a.pInfo->pCreateInfo;
    const VkImageSubresource& s = a.pInfo->pSubresource->imageSubresource;
    if (info.flags & kSparseImageFlags)
        return d.in.fail("vkGetDeviceImageSubresourceLayout: a sparse image, but sparse binding "
                         "is not offered");
    if (!subresource_exists(s, info.mipLevels, info.arrayLayers))
        return d.in.fail("vkGetDeviceImageSubresourceLayout: no such subresource (level " +
                         std::to_string(s.mipLevel) + ", layer " + std::to_string(s.arrayLayer) +
                         ")");
    dev->dispatch.GetDeviceImageSubresourceLayout(a.device.handle, a.pInfo, a.pLayout);
    return DecodeResult::Ok;
}
#endif

DecodeResult Executor::on_vkCreateImageView(protocol::Decoder& d, gen::CreateImageViewArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    const std::uint64_t id = protocol::handle_to_u64(*a.pView);
    VN_TRY(check_new_id(d, id));
    const VkImageViewCreateInfo& info = *a.pCreateInfo;
    const auto it = dev->images.find(info.image);
    if (it == dev->images.end())
        return d.in.fail("vkCreateImageView: an image of another device");
    // A view's levels and layers are what draws and descriptors address the image through.
    const ImageShape& shape = it->second;
    const VkImageSubresourceRange& r = info.subresourceRange;
    const bool levels_fit = subresource_span_fits(r.baseMipLevel, r.levelCount, shape.mip_levels);
    // A 3D image viewed as a 2D array has the slices of its level for layers.
    const std::uint32_t total_layers = shape.type == VK_IMAGE_TYPE_3D && levels_fit
                                           ? std::max(1u, shape.extent.depth >> r.baseMipLevel)
                                           : shape.array_layers;
    if (!shape.bound || !levels_fit ||
        !subresource_span_fits(r.baseArrayLayer, r.layerCount, total_layers))
        return d.in.fail(
            "vkCreateImageView: levels " + std::to_string(r.baseMipLevel) + " +" +
            std::to_string(r.levelCount) + ", layers " + std::to_string(r.baseArrayLayer) + " +" +
            std::to_string(r.layerCount) + " of an image with " + std::to_string(shape.mip_levels) +
            " and " + std::to_string(total_layers) + (shape.bound ? "" : ", not bound to memory"));
    VkImageView host = VK_NULL_HANDLE;
    a.ret = dev->dispatch.CreateImageView(a.device.handle, &info, nullptr, &host);
    if (a.ret != VK_SUCCESS)
        return DecodeResult::Ok;
    VN_TRY(add_child<VkImageView>(*dev, id, host));
    const std::uint32_t layers =
        r.layerCount == VK_REMAINING_ARRAY_LAYERS ? total_layers - r.baseArrayLayer : r.layerCount;
    dev->views[host] = ViewShape{{std::max(1u, shape.extent.width >> r.baseMipLevel),
                                  std::max(1u, shape.extent.height >> r.baseMipLevel)},
                                 layers};
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkDestroyImageView(protocol::Decoder& d, gen::DestroyImageViewArgs& a) {
    if (!a.imageView.id)
        return DecodeResult::Ok;
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    VN_TRY(check_device_child(d, a.device, VK_OBJECT_TYPE_IMAGE_VIEW, a.imageView.id));
    dev->dispatch.DestroyImageView(a.device.handle, a.imageView.handle, nullptr);
    dev->views.erase(a.imageView.handle);
    return remove_child<VkImageView>(*dev, a.imageView.id);
}

} // namespace vn::decoder
