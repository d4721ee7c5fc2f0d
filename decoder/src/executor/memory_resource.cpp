// Device memory from context resources (VK_MESA_venus_protocol): what memory a guest-provided
// resource can become (vkGetMemoryResourcePropertiesMESA) and the import itself
// (VkImportMemoryResourceInfoMESA chained to vkAllocateMemory). A shm resource is imported as
// host memory (VK_EXT_external_memory_host), a dma-buf or opaque fd through
// VK_KHR_external_memory_fd where the guest enabled the driver's support. As in virglrenderer, an
// unknown resource is fatal and a resource the driver cannot take is a Vulkan error.
#include "executor.h"
#include "memory.h"

#include <fcntl.h>
#include <unistd.h>

namespace vn::decoder {

using protocol::DecodeResult;

namespace {

// The memory types a host pointer can be imported into; 0 when it cannot.
std::uint32_t host_pointer_types(const DeviceState& dev, VkDevice device, const void* pointer) {
    if (!pointer || !dev.host_import_alignment || !dev.get_host_pointer_properties)
        return 0;
    if (reinterpret_cast<std::uintptr_t>(pointer) % dev.host_import_alignment != 0)
        return 0;
    VkMemoryHostPointerPropertiesEXT props{};
    props.sType = VK_STRUCTURE_TYPE_MEMORY_HOST_POINTER_PROPERTIES_EXT;
    if (dev.get_host_pointer_properties(device,
                                        VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT,
                                        pointer, &props) != VK_SUCCESS)
        return 0;
    return props.memoryTypeBits;
}

} // namespace

DecodeResult
Executor::on_vkGetMemoryResourcePropertiesMESA(protocol::Decoder& d,
                                               gen::GetMemoryResourcePropertiesMESAArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    if (!a.pMemoryResourceProperties)
        return d.in.fail("vkGetMemoryResourcePropertiesMESA without pMemoryResourceProperties");
    const std::optional<ResourceInfo> res =
        m_resources ? m_resources->resource(a.resourceId) : std::nullopt;
    if (!res)
        return d.in.fail("vkGetMemoryResourcePropertiesMESA: resource " +
                         std::to_string(a.resourceId) + " is not a resource of this context");
    std::uint32_t types = 0;
    a.ret = VK_ERROR_INVALID_EXTERNAL_HANDLE;
    if (res->kind == ResourceKind::Shm) {
        types = host_pointer_types(*dev, a.device.handle, res->mapping.data);
        if (types)
            a.ret = VK_SUCCESS;
    } else if (res->kind == ResourceKind::DmaBuf && dev->dma_buf_import &&
               dev->get_memory_fd_properties && res->fd >= 0) {
        VkMemoryFdPropertiesKHR props{};
        props.sType = VK_STRUCTURE_TYPE_MEMORY_FD_PROPERTIES_KHR;
        a.ret = dev->get_memory_fd_properties(
            a.device.handle, VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT, res->fd, &props);
        types = props.memoryTypeBits;
    }
    if (a.ret != VK_SUCCESS)
        return DecodeResult::Ok;
    a.pMemoryResourceProperties->memoryTypeBits = types;
    for (auto* n = static_cast<VkBaseOutStructure*>(a.pMemoryResourceProperties->pNext); n;
         n = n->pNext)
        if (n->sType == VK_STRUCTURE_TYPE_MEMORY_RESOURCE_ALLOCATION_SIZE_PROPERTIES_MESA)
            reinterpret_cast<VkMemoryResourceAllocationSizePropertiesMESA*>(n)->allocationSize =
                res->size;
    return DecodeResult::Ok;
}

DecodeResult Executor::import_resource_memory(protocol::Decoder& d, gen::AllocateMemoryArgs& a,
                                              DeviceState& dev, std::uint64_t id) {
    const VkMemoryAllocateInfo& guest = *a.pAllocateInfo;
    // The chain the driver gets: the guest's, with the Venus struct replaced by the host import.
    // The decoded chain lives in this command's arena, so it is relinked in place.
    VkBaseInStructure* prev =
        reinterpret_cast<VkBaseInStructure*>(const_cast<VkMemoryAllocateInfo*>(a.pAllocateInfo));
    while (prev->pNext && prev->pNext->sType != VK_STRUCTURE_TYPE_IMPORT_MEMORY_RESOURCE_INFO_MESA)
        prev = const_cast<VkBaseInStructure*>(prev->pNext);
    const auto* res_info = reinterpret_cast<const VkImportMemoryResourceInfoMESA*>(prev->pNext);
    const std::optional<ResourceInfo> res =
        m_resources ? m_resources->resource(res_info->resourceId) : std::nullopt;
    if (!res)
        return d.in.fail("vkAllocateMemory: resource " + std::to_string(res_info->resourceId) +
                         " is not a resource of this context");

    VkImportMemoryHostPointerInfoEXT host_import{};
    VkImportMemoryFdInfoKHR fd_import{};
    const void* rest = res_info->pNext;
    a.ret = VK_ERROR_INVALID_EXTERNAL_HANDLE;
    int fd = -1;
    switch (res->kind) {
    case ResourceKind::Shm: {
        // VK_EXT_external_memory_host: the pointer and the size must be aligned to the
        // driver's import granularity, and the allocation must lie inside the resource.
        const VkDeviceSize align = dev.host_import_alignment;
        if (!align || guest.allocationSize == 0 || guest.allocationSize > res->mapping.size ||
            guest.allocationSize % align != 0)
            return DecodeResult::Ok;
        const std::uint32_t types = host_pointer_types(dev, a.device.handle, res->mapping.data);
        if (!(types & (1u << guest.memoryTypeIndex)))
            return DecodeResult::Ok;
        host_import.sType = VK_STRUCTURE_TYPE_IMPORT_MEMORY_HOST_POINTER_INFO_EXT;
        host_import.pNext = rest;
        host_import.handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT;
        host_import.pHostPointer = res->mapping.data;
        prev->pNext = reinterpret_cast<const VkBaseInStructure*>(&host_import);
        break;
    }
    case ResourceKind::DmaBuf:
    case ResourceKind::Opaque: {
        const bool dma_buf = res->kind == ResourceKind::DmaBuf;
        if (res->fd < 0 || !dev.get_memory_fd_properties || (dma_buf && !dev.dma_buf_import) ||
            guest.allocationSize > res->size)
            return DecodeResult::Ok;
        // The driver owns an imported fd on success; the resource keeps its own.
        fd = ::fcntl(res->fd, F_DUPFD_CLOEXEC, 0);
        if (fd < 0)
            return DecodeResult::Ok;
        fd_import.sType = VK_STRUCTURE_TYPE_IMPORT_MEMORY_FD_INFO_KHR;
        fd_import.pNext = rest;
        fd_import.handleType = dma_buf ? VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT
                                       : VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT;
        fd_import.fd = fd;
        prev->pNext = reinterpret_cast<const VkBaseInStructure*>(&fd_import);
        break;
    }
    }

    VkDeviceMemory memory = VK_NULL_HANDLE;
    a.ret = dev.dispatch.AllocateMemory(a.device.handle, a.pAllocateInfo, nullptr, &memory);
    if (a.ret != VK_SUCCESS) {
        if (fd >= 0)
            ::close(fd);
        return DecodeResult::Ok;
    }
    auto state = std::make_unique<MemoryState>();
    state->allocation_size = guest.allocationSize;
    state->memory_type = guest.memoryTypeIndex;
    state->imported_resource = res_info->resourceId;
    VN_TRY(m_objects.add<VkDeviceMemory>(id, memory, std::move(state)));
    dev.children.emplace(id, VK_OBJECT_TYPE_DEVICE_MEMORY);
    dev.memory_sizes[memory] = guest.allocationSize;
    return DecodeResult::Ok;
}

} // namespace vn::decoder
