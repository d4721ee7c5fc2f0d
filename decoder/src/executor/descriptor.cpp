// Descriptor pools and sets, and compute pipelines: objects created in arrays or owned by a pool.
#include "executor.h"

#include <unordered_set>
#include <vector>

namespace vn::decoder {

using protocol::DecodeResult;

namespace {
// The id of a device child by its host handle (pools arrive nested in allocate infos).
template <typename H>
std::uint64_t child_id_of(ObjectTables& objects, const DeviceState& dev, VkObjectType type,
                          H host) {
    for (const auto& [id, t] : dev.children)
        if (t == type && objects.find<H>(id) && objects.find<H>(id)->handle == host)
            return id;
    return 0;
}
} // namespace

DecodeResult Executor::check_new_ids(protocol::Decoder& d, const std::uint64_t* ids,
                                     std::uint32_t n) {
    std::unordered_set<std::uint64_t> seen;
    for (std::uint32_t i = 0; i < n; ++i) {
        VN_TRY(check_new_id(d, ids[i]));
        if (!seen.insert(ids[i]).second)
            return d.in.fail("the same new object id twice in one command");
    }
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkAllocateDescriptorSets(protocol::Decoder& d,
                                                   gen::AllocateDescriptorSetsArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    const std::uint32_t n = a.pAllocateInfo->descriptorSetCount;
    if (n && !a.pDescriptorSets)
        return d.in.fail("vkAllocateDescriptorSets without ids for the new sets");
    const std::uint64_t pool_id = child_id_of(m_objects, *dev, VK_OBJECT_TYPE_DESCRIPTOR_POOL,
                                              a.pAllocateInfo->descriptorPool);
    if (!pool_id)
        return d.in.fail("vkAllocateDescriptorSets: the pool belongs to another device");
    std::vector<std::uint64_t> ids(n);
    for (std::uint32_t i = 0; i < n; ++i)
        ids[i] = protocol::handle_to_u64(a.pDescriptorSets[i]);
    VN_TRY(check_new_ids(d, ids.data(), n));
    std::vector<VkDescriptorSet> hosts(n);
    a.ret = dev->dispatch.AllocateDescriptorSets(a.device.handle, a.pAllocateInfo, hosts.data());
    if (a.ret != VK_SUCCESS)
        return DecodeResult::Ok;
    for (std::uint32_t i = 0; i < n; ++i)
        VN_TRY(add_child<VkDescriptorSet>(*dev, ids[i], hosts[i], pool_id));
    return DecodeResult::Ok;
}

DecodeResult Executor::forget_pool_sets(DeviceState& dev, std::uint64_t pool_id) {
    std::vector<std::uint64_t> sets;
    for (const auto& [id, entry] : m_objects.table<VkDescriptorSet>())
        if (static_cast<const DeviceChildState*>(entry.state.get())->pool == pool_id)
            sets.push_back(id);
    for (std::uint64_t id : sets)
        VN_TRY(remove_child<VkDescriptorSet>(dev, id));
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkFreeDescriptorSets(protocol::Decoder& d,
                                               gen::FreeDescriptorSetsArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    if (!a.pDescriptorSets)
        return DecodeResult::Ok;
    std::vector<VkDescriptorSet> hosts;
    for (std::uint32_t i = 0; i < a.descriptorSetCount; ++i) {
        const std::uint64_t id = a.pDescriptorSets_ids[i];
        if (!id)
            continue;
        auto* entry = m_objects.find<VkDescriptorSet>(id);
        if (!entry ||
            static_cast<const DeviceChildState*>(entry->state.get())->pool != a.descriptorPool.id)
            return d.in.fail("vkFreeDescriptorSets: a set not from this pool");
        hosts.push_back(entry->handle);
        VN_TRY(remove_child<VkDescriptorSet>(*dev, id));
    }
    a.ret =
        dev->dispatch.FreeDescriptorSets(a.device.handle, a.descriptorPool.handle,
                                         static_cast<std::uint32_t>(hosts.size()), hosts.data());
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkResetDescriptorPool(protocol::Decoder& d,
                                                gen::ResetDescriptorPoolArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    VN_TRY(check_device_child(d, a.device, VK_OBJECT_TYPE_DESCRIPTOR_POOL, a.descriptorPool.id));
    VN_TRY(forget_pool_sets(*dev, a.descriptorPool.id));
    a.ret = dev->dispatch.ResetDescriptorPool(a.device.handle, a.descriptorPool.handle, a.flags);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkDestroyDescriptorPool(protocol::Decoder& d,
                                                  gen::DestroyDescriptorPoolArgs& a) {
    if (!a.descriptorPool.id)
        return DecodeResult::Ok;
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    VN_TRY(check_device_child(d, a.device, VK_OBJECT_TYPE_DESCRIPTOR_POOL, a.descriptorPool.id));
    VN_TRY(forget_pool_sets(*dev, a.descriptorPool.id));
    dev->dispatch.DestroyDescriptorPool(a.device.handle, a.descriptorPool.handle, nullptr);
    return remove_child<VkDescriptorPool>(*dev, a.descriptorPool.id);
}

DecodeResult Executor::on_vkUpdateDescriptorSets(protocol::Decoder& d,
                                                 gen::UpdateDescriptorSetsArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    // Shaders reach a buffer through the descriptor's range: it must lie inside the buffer.
    for (std::uint32_t i = 0; i < a.descriptorWriteCount; ++i) {
        const VkWriteDescriptorSet& w = a.pDescriptorWrites[i];
        const bool buffer_type = w.descriptorType == VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER ||
                                 w.descriptorType == VK_DESCRIPTOR_TYPE_STORAGE_BUFFER ||
                                 w.descriptorType == VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER_DYNAMIC ||
                                 w.descriptorType == VK_DESCRIPTOR_TYPE_STORAGE_BUFFER_DYNAMIC;
        if (!buffer_type)
            continue;
        if (!w.pBufferInfo && w.descriptorCount)
            return d.in.fail("vkUpdateDescriptorSets: a buffer descriptor without buffer info");
        for (std::uint32_t j = 0; j < w.descriptorCount; ++j) {
            const VkDescriptorBufferInfo& b = w.pBufferInfo[j];
            if (b.buffer == VK_NULL_HANDLE)
                continue; // a null descriptor (VK_EXT_robustness2)
            VN_TRY(check_buffer_range(d, *dev, b.buffer, b.offset,
                                      b.range == VK_WHOLE_SIZE ? 0 : b.range,
                                      "vkUpdateDescriptorSets"));
        }
    }
    dev->dispatch.UpdateDescriptorSets(a.device.handle, a.descriptorWriteCount, a.pDescriptorWrites,
                                       a.descriptorCopyCount, a.pDescriptorCopies);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCreateComputePipelines(protocol::Decoder& d,
                                                   gen::CreateComputePipelinesArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    const std::uint32_t n = a.createInfoCount;
    if (n && !a.pPipelines)
        return d.in.fail("vkCreateComputePipelines without ids for the new pipelines");
    std::vector<std::uint64_t> ids(n);
    for (std::uint32_t i = 0; i < n; ++i)
        ids[i] = protocol::handle_to_u64(a.pPipelines[i]);
    VN_TRY(check_new_ids(d, ids.data(), n));
    std::vector<VkPipeline> hosts(n, VK_NULL_HANDLE);
    a.ret = dev->dispatch.CreateComputePipelines(a.device.handle, a.pipelineCache.handle, n,
                                                 a.pCreateInfos, nullptr, hosts.data());
    // Some pipelines may exist even when the call failed (VK_PIPELINE_COMPILE_REQUIRED): keep
    // exactly the ones the driver created.
    for (std::uint32_t i = 0; i < n; ++i)
        if (hosts[i] != VK_NULL_HANDLE)
            VN_TRY(add_child<VkPipeline>(*dev, ids[i], hosts[i]));
    return DecodeResult::Ok;
}

} // namespace vn::decoder
