// Memory family: allocation (memfd-backed where the driver imports host memory), binding, and the
// blob export a worker hands to the VMM.
#include "memory.h"

#include "executor.h"

#include <algorithm>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <utility>

namespace vn::decoder {

using protocol::DecodeResult;

std::optional<HostAllocation> HostAllocation::create(std::size_t size) {
    os::UniqueFd fd(::memfd_create("venus-memory", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!fd)
        return std::nullopt;
    // Sealed against resizing, so no mapping of it (the driver's, the guest's) can ever see it
    // shrink. Not F_SEAL_SEAL: the VMM's proxy adds its own seals to every shm blob it receives
    // (virglrenderer's does the same), which F_SEAL_SEAL would refuse.
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0 ||
        ::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0)
        return std::nullopt;
    auto mapping = os::Mapping::map(fd.get(), size);
    if (!mapping)
        return std::nullopt;
    return HostAllocation(std::move(fd), std::move(*mapping));
}

DecodeResult Executor::on_vkAllocateMemory(protocol::Decoder& d, gen::AllocateMemoryArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    const std::uint64_t id = protocol::handle_to_u64(*a.pMemory);
    if (refuse_new_object()) {
        a.ret = VK_ERROR_OUT_OF_HOST_MEMORY;
        return DecodeResult::Ok;
    }
    VN_TRY(check_new_id(d, id));
    const VkMemoryAllocateInfo& guest = *a.pAllocateInfo;
    if (guest.memoryTypeIndex >= dev->memory.memoryTypeCount)
        return d.in.fail("vkAllocateMemory: memory type " + std::to_string(guest.memoryTypeIndex) +
                         " does not exist");
    for (auto* n = static_cast<const VkBaseInStructure*>(guest.pNext); n; n = n->pNext)
        if (n->sType == VK_STRUCTURE_TYPE_IMPORT_MEMORY_RESOURCE_INFO_MESA)
            return import_resource_memory(d, a, *dev, id);

    auto state = std::make_unique<MemoryState>();
    // Quotas are charged before the driver sees the size, with the size the driver is asked
    // for: a guest cannot hold more than it was charged, whatever it claims elsewhere.
    if (!state->device_charge.take(m_counters->device_memory, guest.allocationSize,
                                   m_quotas.device_memory, &m_counters->device_memory_peak)) {
        refused("device memory", guest.allocationSize);
        a.ret = VK_ERROR_OUT_OF_DEVICE_MEMORY;
        return DecodeResult::Ok;
    }
    state->allocation_size = guest.allocationSize;
    state->memory_type = guest.memoryTypeIndex;
    VkMemoryAllocateInfo info = guest;
    VkImportMemoryHostPointerInfoEXT import{};
    const bool host_visible = (dev->memory.memoryTypes[guest.memoryTypeIndex].propertyFlags &
                               VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) != 0;
    if (host_visible && dev->host_import_alignment && guest.allocationSize) {
        // The memfd covers whole pages and whole import units; the guest's blob covers exactly
        // what it asked for, the tail is padding of this allocation alone.
        const auto page = static_cast<VkDeviceSize>(::sysconf(_SC_PAGESIZE));
        const VkDeviceSize align = std::max(dev->host_import_alignment, page);
        if (guest.allocationSize > (VkDeviceSize{1} << 40))
            return d.in.fail("vkAllocateMemory: allocation size beyond 1 TiB");
        const VkDeviceSize size = (guest.allocationSize + align - 1) / align * align;
        if (!state->host_charge.take(m_counters->host_memory, size, m_quotas.host_memory,
                                     &m_counters->host_memory_peak)) {
            refused("host memory", size);
            a.ret = VK_ERROR_OUT_OF_HOST_MEMORY;
            return DecodeResult::Ok;
        }
        if (auto host = HostAllocation::create(static_cast<std::size_t>(size))) {
            VkMemoryHostPointerPropertiesEXT props{};
            props.sType = VK_STRUCTURE_TYPE_MEMORY_HOST_POINTER_PROPERTIES_EXT;
            if (dev->get_host_pointer_properties(
                    a.device.handle, VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT,
                    host->data(), &props) == VK_SUCCESS &&
                (props.memoryTypeBits & (1u << guest.memoryTypeIndex))) {
                import.sType = VK_STRUCTURE_TYPE_IMPORT_MEMORY_HOST_POINTER_INFO_EXT;
                import.pNext = info.pNext;
                import.handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT;
                import.pHostPointer = host->data();
                info.pNext = &import;
                info.allocationSize = size;
                state->host = std::move(host);
            }
        }
        if (!state->host)
            state->host_charge.release(); // the driver allocates it, as device memory
    }
    VkDeviceMemory memory = VK_NULL_HANDLE;
    a.ret = dev->dispatch.AllocateMemory(a.device.handle, &info, nullptr, &memory);
    if (a.ret != VK_SUCCESS)
        return DecodeResult::Ok;
    VN_TRY(m_objects.add<VkDeviceMemory>(id, memory, std::move(state)));
    dev->children.emplace(id, VK_OBJECT_TYPE_DEVICE_MEMORY);
    dev->memory_sizes[memory] = guest.allocationSize;
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkFreeMemory(protocol::Decoder& d, gen::FreeMemoryArgs& a) {
    if (!a.memory.id)
        return DecodeResult::Ok;
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    VN_TRY(check_device_child(d, a.device, VK_OBJECT_TYPE_DEVICE_MEMORY, a.memory.id));
    dev->dispatch.FreeMemory(a.device.handle, a.memory.handle, nullptr);
    dev->children.erase(a.memory.id);
    dev->memory_sizes.erase(a.memory.handle);
    if (const auto it = dev->host_copy_images.find(a.memory.handle);
        it != dev->host_copy_images.end()) {
        for (VkImage image : it->second)
            if (const auto shape = dev->images.find(image); shape != dev->images.end())
                shape->second.memory_freed = true;
        dev->host_copy_images.erase(it);
    }
    return m_objects.remove<VkDeviceMemory>(a.memory.id);
}

DecodeResult Executor::on_vkGetBufferMemoryRequirements2(protocol::Decoder& d,
                                                         gen::GetBufferMemoryRequirements2Args& a) {
    const gen::DeviceDispatch* dd = nullptr;
    VN_TRY(device_entry(d, a.device, dd));
    dd->GetBufferMemoryRequirements2(a.device.handle, a.pInfo, a.pMemoryRequirements);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkBindBufferMemory2(protocol::Decoder& d, gen::BindBufferMemory2Args& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    const gen::DeviceDispatch* dd = &dev->dispatch;
    // A buffer bound past the end of its memory lets the GPU write outside the allocation, and
    // host-visible memory here is our own mapping: check every bind against the real sizes.
    for (std::uint32_t i = 0; i < a.bindInfoCount; ++i) {
        const VkBindBufferMemoryInfo& bind = a.pBindInfos[i];
        const auto it = dev->memory_sizes.find(bind.memory);
        if (it == dev->memory_sizes.end())
            return d.in.fail("vkBindBufferMemory2: memory of another device");
        if (!dev->buffers.contains(bind.buffer))
            return d.in.fail("vkBindBufferMemory2: a buffer of another device");
        // The core 1.0 query: the *2 form may not be enabled where vkBindBufferMemory2 is.
        VkMemoryRequirements r{};
        dd->GetBufferMemoryRequirements(a.device.handle, bind.buffer, &r);
        if (bind.memoryOffset > it->second || r.size > it->second - bind.memoryOffset ||
            (r.alignment && bind.memoryOffset % r.alignment != 0))
            return d.in.fail("vkBindBufferMemory2: the buffer does not fit its memory at offset " +
                             std::to_string(bind.memoryOffset));
    }
    a.ret = dd->BindBufferMemory2(a.device.handle, a.bindInfoCount, a.pBindInfos);
    if (a.ret == VK_SUCCESS)
        for (std::uint32_t i = 0; i < a.bindInfoCount; ++i)
            if (auto b = dev->buffers.find(a.pBindInfos[i].buffer); b != dev->buffers.end())
                b->second.bound = true;
    return DecodeResult::Ok;
}

std::optional<MemoryExport> Executor::export_memory(std::uint64_t memory_id) {
    auto* entry = m_objects.find<VkDeviceMemory>(memory_id);
    if (!entry)
        return std::nullopt;
    const auto* state = static_cast<const MemoryState*>(entry->state.get());
    if (!state->host)
        return std::nullopt;
    const int fd = ::fcntl(state->host->fd(), F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return std::nullopt;
    return MemoryExport{fd, state->host->size()};
}

std::optional<MemoryExport> Executor::export_memory_once(std::uint64_t memory_id) {
    auto* entry = m_objects.find<VkDeviceMemory>(memory_id);
    if (!entry)
        return std::nullopt;
    auto* state = static_cast<MemoryState*>(entry->state.get());
    if (state->host && state->exported)
        return MemoryExport{-1, 0, true};
    auto blob = export_memory(memory_id);
    if (blob)
        state->exported = true;
    return blob;
}

} // namespace vn::decoder
