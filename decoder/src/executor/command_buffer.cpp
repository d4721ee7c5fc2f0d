// Command pools and buffers. Recording itself (every vkCmd*) is generated passthrough; what is
// written here is lifetime: which buffers belong to which pool, so freeing or destroying a pool
// can never leave an id that names a freed host object.
#include "executor.h"

#include <unordered_set>
#include <vector>

namespace vn::decoder {

using protocol::DecodeResult;

DecodeResult Executor::on_vkCreateCommandPool(protocol::Decoder& d, gen::CreateCommandPoolArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    const std::uint64_t id = protocol::handle_to_u64(*a.pCommandPool);
    VN_TRY(check_new_id(d, id));
    VkCommandPool host = VK_NULL_HANDLE;
    a.ret = dev->dispatch.CreateCommandPool(a.device.handle, a.pCreateInfo, nullptr, &host);
    if (a.ret != VK_SUCCESS)
        return DecodeResult::Ok;
    return add_child<VkCommandPool>(*dev, id, host);
}

DecodeResult Executor::on_vkDestroyCommandPool(protocol::Decoder& d,
                                               gen::DestroyCommandPoolArgs& a) {
    if (!a.commandPool.id)
        return DecodeResult::Ok;
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    if (!dev->children.contains(a.commandPool.id))
        return d.in.fail("vkDestroyCommandPool: the pool belongs to another device");
    std::vector<std::uint64_t> buffers;
    for (const auto& [id, entry] : m_objects.table<VkCommandBuffer>())
        if (static_cast<const DeviceChildState*>(entry.state.get())->pool == a.commandPool.id)
            buffers.push_back(id);
    for (std::uint64_t id : buffers)
        VN_TRY(remove_child<VkCommandBuffer>(*dev, id));
    dev->dispatch.DestroyCommandPool(a.device.handle, a.commandPool.handle, nullptr);
    return remove_child<VkCommandPool>(*dev, a.commandPool.id);
}

DecodeResult Executor::on_vkAllocateCommandBuffers(protocol::Decoder& d,
                                                   gen::AllocateCommandBuffersArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    const std::uint32_t n = a.pAllocateInfo->commandBufferCount;
    if (n && !a.pCommandBuffers)
        return d.in.fail("vkAllocateCommandBuffers without ids for the new command buffers");
    // The pool arrives as a host handle (it is nested in the allocate info): find its id.
    std::uint64_t pool_id = 0;
    for (const auto& [id, type] : dev->children)
        if (type == VK_OBJECT_TYPE_COMMAND_POOL &&
            m_objects.find<VkCommandPool>(id)->handle == a.pAllocateInfo->commandPool)
            pool_id = id;
    if (!pool_id)
        return d.in.fail("vkAllocateCommandBuffers: the pool belongs to another device");
    std::unordered_set<std::uint64_t> ids;
    for (std::uint32_t i = 0; i < n; ++i) {
        const std::uint64_t id = protocol::handle_to_u64(a.pCommandBuffers[i]);
        VN_TRY(check_new_id(d, id));
        if (!ids.insert(id).second)
            return d.in.fail("vkAllocateCommandBuffers: the same id twice");
    }
    std::vector<VkCommandBuffer> hosts(n);
    a.ret = dev->dispatch.AllocateCommandBuffers(a.device.handle, a.pAllocateInfo, hosts.data());
    if (a.ret != VK_SUCCESS)
        return DecodeResult::Ok;
    for (std::uint32_t i = 0; i < n; ++i)
        VN_TRY(add_child<VkCommandBuffer>(*dev, protocol::handle_to_u64(a.pCommandBuffers[i]),
                                          hosts[i], pool_id));
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkFreeCommandBuffers(protocol::Decoder& d,
                                               gen::FreeCommandBuffersArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    if (!a.pCommandBuffers)
        return DecodeResult::Ok;
    std::vector<VkCommandBuffer> hosts;
    for (std::uint32_t i = 0; i < a.commandBufferCount; ++i) {
        const std::uint64_t id = a.pCommandBuffers_ids[i];
        if (!id)
            continue;
        auto* entry = m_objects.find<VkCommandBuffer>(id);
        if (!entry ||
            static_cast<const DeviceChildState*>(entry->state.get())->pool != a.commandPool.id)
            return d.in.fail("vkFreeCommandBuffers: a command buffer not from this pool");
        hosts.push_back(entry->handle);
        VN_TRY(remove_child<VkCommandBuffer>(*dev, id));
    }
    dev->dispatch.FreeCommandBuffers(a.device.handle, a.commandPool.handle,
                                     static_cast<std::uint32_t>(hosts.size()), hosts.data());
    return DecodeResult::Ok;
}

DecodeResult Executor::require_recording_entry(protocol::Decoder& d, gen::CommandType type,
                                               std::uint64_t id) {
    const DeviceState* dev = recording_device(id);
    if (!dev)
        return missing_command_buffer(id);
    return dev->entries[static_cast<std::size_t>(type)] ? DecodeResult::Ok : entry_missing(d, type);
}

DecodeResult Executor::recording_dispatch(std::uint64_t id, const gen::DeviceDispatch*& out) {
    DeviceState* dev = recording_device(id);
    if (!dev)
        return missing_command_buffer(id);
    out = &dev->dispatch;
    return DecodeResult::Ok;
}

DecodeResult Executor::recording_device_of(std::uint64_t id, DeviceState*& out) {
    out = recording_device(id);
    return out ? DecodeResult::Ok : missing_command_buffer(id);
}

DecodeResult Executor::missing_command_buffer(std::uint64_t id) {
    ObjectEntry<VkCommandBuffer>* entry = nullptr;
    return m_objects.get<VkCommandBuffer>(id, entry); // fatal, with the reason
}

DecodeResult Executor::on_vkBeginCommandBuffer(protocol::Decoder& d,
                                               gen::BeginCommandBufferArgs& a) {
    const gen::DeviceDispatch* dd = nullptr;
    VN_TRY(command_buffer_dispatch(d, a.commandBuffer, dd));
    if (m_recording) // no reply asked for: the result goes nowhere
        record([=] { (void)dd->BeginCommandBuffer(a.commandBuffer.handle, a.pBeginInfo); });
    else
        a.ret = dd->BeginCommandBuffer(a.commandBuffer.handle, a.pBeginInfo);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkEndCommandBuffer(protocol::Decoder& d, gen::EndCommandBufferArgs& a) {
    const gen::DeviceDispatch* dd = nullptr;
    VN_TRY(command_buffer_dispatch(d, a.commandBuffer, dd));
    if (m_recording) // no reply asked for: the result goes nowhere
        record([=] { (void)dd->EndCommandBuffer(a.commandBuffer.handle); });
    else
        a.ret = dd->EndCommandBuffer(a.commandBuffer.handle);
    return DecodeResult::Ok;
}

} // namespace vn::decoder
