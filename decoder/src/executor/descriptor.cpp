// Descriptor pools and sets, and compute pipelines: objects created in arrays or owned by a pool.
#include "executor.h"

#include <algorithm>
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

namespace {
// Whether `count` descriptors from `element` of `binding` exist in the set. An update that runs
// past a binding's end continues in the next binding (by number), as the spec allows.
bool elements_fit(const SetShape& set, std::uint32_t binding, std::uint32_t element,
                  std::uint32_t count) {
    const SetLayoutShape& layout = *set.layout;
    const auto& b = layout.bindings;
    auto at = std::lower_bound(b.begin(), b.end(), std::make_pair(binding, 0u));
    if (at == b.end() || at->first != binding)
        return false;
    for (; count; ++at, element = 0) {
        if (at == b.end())
            return false;
        const bool variable = layout.variable_last && at + 1 == b.end();
        const std::uint32_t size = variable ? set.last_count : at->second;
        if (element > size)
            return false;
        count -= std::min(count, size - element);
    }
    return true;
}

bool set_elements_fit(const DeviceState& dev, VkDescriptorSet set, std::uint32_t binding,
                      std::uint32_t element, std::uint32_t count) {
    const auto it = dev.sets.find(set);
    return it != dev.sets.end() && elements_fit(it->second, binding, element, count);
}
} // namespace

DecodeResult Executor::on_vkCreateDescriptorSetLayout(protocol::Decoder& d,
                                                      gen::CreateDescriptorSetLayoutArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    const std::uint64_t id = protocol::handle_to_u64(*a.pSetLayout);
    VN_TRY(check_new_id(d, id));
    const VkDescriptorSetLayoutCreateInfo& info = *a.pCreateInfo;
    auto shape = std::make_shared<SetLayoutShape>();
    for (std::uint32_t i = 0; i < info.bindingCount; ++i) {
        const VkDescriptorSetLayoutBinding& b = info.pBindings[i];
        shape->bindings.emplace_back(b.binding, b.descriptorCount);
        if (b.descriptorType == VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER_DYNAMIC ||
            b.descriptorType == VK_DESCRIPTOR_TYPE_STORAGE_BUFFER_DYNAMIC)
            shape->dynamic += b.descriptorCount;
    }
    std::sort(shape->bindings.begin(), shape->bindings.end());
    for (std::size_t i = 1; i < shape->bindings.size(); ++i)
        if (shape->bindings[i].first == shape->bindings[i - 1].first)
            return d.in.fail("vkCreateDescriptorSetLayout: binding " +
                             std::to_string(shape->bindings[i].first) + " twice");
    for (auto* c = static_cast<const VkBaseInStructure*>(info.pNext); c; c = c->pNext) {
        if (c->sType != VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_BINDING_FLAGS_CREATE_INFO)
            continue;
        const auto* flags = reinterpret_cast<const VkDescriptorSetLayoutBindingFlagsCreateInfo*>(c);
        if (flags->bindingCount != 0 && flags->bindingCount != info.bindingCount)
            return d.in.fail("vkCreateDescriptorSetLayout: binding flags for another count");
        for (std::uint32_t i = 0; i < flags->bindingCount && flags->pBindingFlags; ++i) {
            if (!(flags->pBindingFlags[i] & VK_DESCRIPTOR_BINDING_VARIABLE_DESCRIPTOR_COUNT_BIT))
                continue;
            // Only the binding with the largest number may vary.
            if (info.pBindings[i].binding != shape->bindings.back().first)
                return d.in.fail("vkCreateDescriptorSetLayout: a variable count not on the last "
                                 "binding");
            shape->variable_last = true;
        }
    }
    VkDescriptorSetLayout host = VK_NULL_HANDLE;
    a.ret = dev->dispatch.CreateDescriptorSetLayout(a.device.handle, &info, nullptr, &host);
    if (a.ret != VK_SUCCESS)
        return DecodeResult::Ok;
    VN_TRY(add_child<VkDescriptorSetLayout>(*dev, id, host));
    dev->set_layouts[host] = std::move(shape);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkDestroyDescriptorSetLayout(protocol::Decoder& d,
                                                       gen::DestroyDescriptorSetLayoutArgs& a) {
    if (!a.descriptorSetLayout.id)
        return DecodeResult::Ok;
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    VN_TRY(check_device_child(d, a.device, VK_OBJECT_TYPE_DESCRIPTOR_SET_LAYOUT,
                              a.descriptorSetLayout.id));
    dev->dispatch.DestroyDescriptorSetLayout(a.device.handle, a.descriptorSetLayout.handle,
                                             nullptr);
    // Sets allocated with it keep their own reference to its shape.
    dev->set_layouts.erase(a.descriptorSetLayout.handle);
    return remove_child<VkDescriptorSetLayout>(*dev, a.descriptorSetLayout.id);
}

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
    // Each set takes its layout's bindings, the variable one sized by the guest's count.
    const VkDescriptorSetVariableDescriptorCountAllocateInfo* variable = nullptr;
    for (auto* c = static_cast<const VkBaseInStructure*>(a.pAllocateInfo->pNext); c; c = c->pNext)
        if (c->sType == VK_STRUCTURE_TYPE_DESCRIPTOR_SET_VARIABLE_DESCRIPTOR_COUNT_ALLOCATE_INFO)
            variable =
                reinterpret_cast<const VkDescriptorSetVariableDescriptorCountAllocateInfo*>(c);
    if (variable && variable->descriptorSetCount != n)
        return d.in.fail("vkAllocateDescriptorSets: variable counts for another number of sets");
    std::vector<SetShape> shapes(n);
    for (std::uint32_t i = 0; i < n; ++i) {
        const auto it = dev->set_layouts.find(a.pAllocateInfo->pSetLayouts[i]);
        if (it == dev->set_layouts.end())
            return d.in.fail("vkAllocateDescriptorSets: a set layout of another device");
        shapes[i].layout = it->second;
        if (it->second->variable_last) {
            const std::uint32_t declared = it->second->bindings.back().second;
            const std::uint32_t count = variable ? variable->pDescriptorCounts[i] : 0;
            if (count > declared)
                return d.in.fail("vkAllocateDescriptorSets: a variable count above the layout's");
            shapes[i].last_count = count;
        }
    }
    std::vector<VkDescriptorSet> hosts(n);
    a.ret = dev->dispatch.AllocateDescriptorSets(a.device.handle, a.pAllocateInfo, hosts.data());
    if (a.ret != VK_SUCCESS)
        return DecodeResult::Ok;
    for (std::uint32_t i = 0; i < n; ++i) {
        VN_TRY(add_child<VkDescriptorSet>(*dev, ids[i], hosts[i], pool_id));
        dev->sets[hosts[i]] = std::move(shapes[i]);
    }
    return DecodeResult::Ok;
}

DecodeResult Executor::forget_pool_sets(DeviceState& dev, std::uint64_t pool_id) {
    std::vector<std::uint64_t> sets;
    for (const auto& [id, entry] : m_objects.table<VkDescriptorSet>())
        if (static_cast<const DeviceChildState*>(entry.state.get())->pool == pool_id) {
            sets.push_back(id);
            dev.sets.erase(entry.handle);
        }
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
        dev->sets.erase(entry->handle);
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

DecodeResult Executor::check_descriptor_writes(protocol::Decoder& d, const DeviceState& dev,
                                               const VkWriteDescriptorSet* writes,
                                               std::uint32_t count, const SetShape* push,
                                               const char* what) {
    for (std::uint32_t i = 0; i < count; ++i) {
        const VkWriteDescriptorSet& w = writes[i];
        const bool fit =
            push ? elements_fit(*push, w.dstBinding, w.dstArrayElement, w.descriptorCount)
                 : set_elements_fit(dev, w.dstSet, w.dstBinding, w.dstArrayElement,
                                    w.descriptorCount);
        if (!fit)
            return d.in.fail(std::string(what) + ": write " + std::to_string(i) + " to binding " +
                             std::to_string(w.dstBinding) + ", elements " +
                             std::to_string(w.dstArrayElement) + " +" +
                             std::to_string(w.descriptorCount) + ", which its set does not have");
        // Shaders reach a buffer through the descriptor's range: it must lie inside the buffer.
        const bool buffer_type = w.descriptorType == VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER ||
                                 w.descriptorType == VK_DESCRIPTOR_TYPE_STORAGE_BUFFER ||
                                 w.descriptorType == VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER_DYNAMIC ||
                                 w.descriptorType == VK_DESCRIPTOR_TYPE_STORAGE_BUFFER_DYNAMIC;
        if (!buffer_type)
            continue;
        if (!w.pBufferInfo && w.descriptorCount)
            return d.in.fail(std::string(what) + ": a buffer descriptor without buffer info");
        for (std::uint32_t j = 0; j < w.descriptorCount; ++j) {
            const VkDescriptorBufferInfo& b = w.pBufferInfo[j];
            if (b.buffer == VK_NULL_HANDLE)
                continue; // a null descriptor (VK_EXT_robustness2)
            VN_TRY(check_buffer_range(d, dev, b.buffer, b.offset,
                                      b.range == VK_WHOLE_SIZE ? 0 : b.range, what));
        }
    }
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCreatePipelineLayout(protocol::Decoder& d,
                                                 gen::CreatePipelineLayoutArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    const std::uint64_t id = protocol::handle_to_u64(*a.pPipelineLayout);
    VN_TRY(check_new_id(d, id));
    const VkPipelineLayoutCreateInfo& info = *a.pCreateInfo;
    if (info.setLayoutCount > dev->limits.maxBoundDescriptorSets)
        return d.in.fail("vkCreatePipelineLayout: more set layouts than maxBoundDescriptorSets");
    PipelineLayoutShape shape;
    for (std::uint32_t i = 0; i < info.pushConstantRangeCount; ++i) {
        const VkPushConstantRange& r = info.pPushConstantRanges[i];
        if (r.offset > dev->limits.maxPushConstantsSize ||
            r.size > dev->limits.maxPushConstantsSize - r.offset)
            return d.in.fail("vkCreatePipelineLayout: push constants [" + std::to_string(r.offset) +
                             ", +" + std::to_string(r.size) + ") past maxPushConstantsSize");
        shape.push_constant_end = std::max(shape.push_constant_end, r.offset + r.size);
    }
    for (std::uint32_t i = 0; i < info.setLayoutCount; ++i) {
        if (info.pSetLayouts[i] == VK_NULL_HANDLE) { // graphics pipeline libraries leave holes
            shape.sets.emplace_back();
            continue;
        }
        const auto it = dev->set_layouts.find(info.pSetLayouts[i]);
        if (it == dev->set_layouts.end())
            return d.in.fail("vkCreatePipelineLayout: a set layout of another device");
        shape.sets.push_back(it->second);
    }
    VkPipelineLayout host = VK_NULL_HANDLE;
    a.ret = dev->dispatch.CreatePipelineLayout(a.device.handle, &info, nullptr, &host);
    if (a.ret != VK_SUCCESS)
        return DecodeResult::Ok;
    VN_TRY(add_child<VkPipelineLayout>(*dev, id, host));
    dev->pipeline_layouts[host] = std::move(shape);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkDestroyPipelineLayout(protocol::Decoder& d,
                                                  gen::DestroyPipelineLayoutArgs& a) {
    if (!a.pipelineLayout.id)
        return DecodeResult::Ok;
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    VN_TRY(check_device_child(d, a.device, VK_OBJECT_TYPE_PIPELINE_LAYOUT, a.pipelineLayout.id));
    dev->dispatch.DestroyPipelineLayout(a.device.handle, a.pipelineLayout.handle, nullptr);
    dev->pipeline_layouts.erase(a.pipelineLayout.handle);
    return remove_child<VkPipelineLayout>(*dev, a.pipelineLayout.id);
}

DecodeResult Executor::check_bind_descriptor_sets(protocol::Decoder& d, const DeviceState& dev,
                                                  VkPipelineLayout layout_handle,
                                                  std::uint32_t first_set, std::uint32_t set_count,
                                                  const VkDescriptorSet* sets,
                                                  std::uint32_t dynamic_offset_count,
                                                  const char* what) {
    const PipelineLayoutShape* layout = dev.pipeline_layouts.lookup(layout_handle);
    if (!layout) [[unlikely]]
        return d.in.fail(std::string(what) + ": a pipeline layout of another device");
    // Drivers keep bound sets in arrays indexed by set number, and take one dynamic offset per
    // dynamic descriptor of the sets bound.
    const std::size_t count = layout->sets.size();
    if (first_set > count || set_count > count - first_set)
        return d.in.fail(std::string(what) + ": sets " + std::to_string(first_set) + " +" +
                         std::to_string(set_count) + " of a layout with " + std::to_string(count));
    std::uint64_t dynamic = 0;
    for (std::uint32_t i = 0; i < set_count; ++i) {
        if (sets[i] == VK_NULL_HANDLE)
            continue;
        const SetShape* set = dev.sets.lookup(sets[i]);
        if (!set) [[unlikely]]
            return d.in.fail(std::string(what) + ": a set of another device");
        dynamic += set->layout->dynamic;
    }
    if (dynamic_offset_count != dynamic)
        return d.in.fail(std::string(what) + ": " + std::to_string(dynamic_offset_count) +
                         " dynamic offsets for " + std::to_string(dynamic) +
                         " dynamic descriptors");
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdBindDescriptorSets(protocol::Decoder& d,
                                                  gen::CmdBindDescriptorSetsArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    VN_TRY(check_bind_descriptor_sets(d, *dev, a.layout.handle, a.firstSet, a.descriptorSetCount,
                                      a.pDescriptorSets, a.dynamicOffsetCount,
                                      "vkCmdBindDescriptorSets"));
    record([=] {
        dev->dispatch.CmdBindDescriptorSets(
            a.commandBuffer.handle, a.pipelineBindPoint, a.layout.handle, a.firstSet,
            a.descriptorSetCount, a.pDescriptorSets, a.dynamicOffsetCount, a.pDynamicOffsets);
    });
    return DecodeResult::Ok;
}

DecodeResult Executor::check_push_descriptor_set(protocol::Decoder& d, const DeviceState& dev,
                                                 VkPipelineLayout layout_handle, std::uint32_t set,
                                                 const VkWriteDescriptorSet* writes,
                                                 std::uint32_t count, const char* what) {
    const auto layout = dev.pipeline_layouts.find(layout_handle);
    if (layout == dev.pipeline_layouts.end() || set >= layout->second.sets.size() ||
        !layout->second.sets[set])
        return d.in.fail(std::string(what) + ": set " + std::to_string(set) +
                         " is not in the pipeline layout");
    // Push descriptor layouts have no variable binding: the last binding has its declared size.
    const auto& set_layout = layout->second.sets[set];
    const SetShape push{set_layout,
                        set_layout->bindings.empty() ? 0 : set_layout->bindings.back().second};
    return check_descriptor_writes(d, dev, writes, count, &push, what);
}

DecodeResult Executor::on_vkCmdPushDescriptorSet(protocol::Decoder& d,
                                                 gen::CmdPushDescriptorSetArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    VN_TRY(check_push_descriptor_set(d, *dev, a.layout.handle, a.set, a.pDescriptorWrites,
                                     a.descriptorWriteCount, "vkCmdPushDescriptorSet"));
    record([=] {
        dev->dispatch.CmdPushDescriptorSet(a.commandBuffer.handle, a.pipelineBindPoint,
                                           a.layout.handle, a.set, a.descriptorWriteCount,
                                           a.pDescriptorWrites);
    });
    return DecodeResult::Ok;
}

// The maintenance6 (Vulkan 1.4) forms take the same arguments in a struct, and get the same
// checks. A layout given through a chained VkPipelineLayoutCreateInfo instead of a handle
// (dynamicPipelineLayout) is not tracked, so it is refused.
#ifdef VN_GEN_HAS_vkCmdBindDescriptorSets2
DecodeResult Executor::on_vkCmdBindDescriptorSets2(protocol::Decoder& d,
                                                   gen::CmdBindDescriptorSets2Args& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    const VkBindDescriptorSetsInfo& info = *a.pBindDescriptorSetsInfo;
    VN_TRY(check_bind_descriptor_sets(d, *dev, info.layout, info.firstSet, info.descriptorSetCount,
                                      info.pDescriptorSets, info.dynamicOffsetCount,
                                      "vkCmdBindDescriptorSets2"));
    record([=] { dev->dispatch.CmdBindDescriptorSets2(a.commandBuffer.handle, &info); });
    return DecodeResult::Ok;
}
#endif

#ifdef VN_GEN_HAS_vkCmdPushDescriptorSet2
DecodeResult Executor::on_vkCmdPushDescriptorSet2(protocol::Decoder& d,
                                                  gen::CmdPushDescriptorSet2Args& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    const VkPushDescriptorSetInfo& info = *a.pPushDescriptorSetInfo;
    VN_TRY(check_push_descriptor_set(d, *dev, info.layout, info.set, info.pDescriptorWrites,
                                     info.descriptorWriteCount, "vkCmdPushDescriptorSet2"));
    record([=] { dev->dispatch.CmdPushDescriptorSet2(a.commandBuffer.handle, &info); });
    return DecodeResult::Ok;
}
#endif

DecodeResult Executor::on_vkUpdateDescriptorSets(protocol::Decoder& d,
                                                 gen::UpdateDescriptorSetsArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    for (std::uint32_t i = 0; i < a.descriptorCopyCount; ++i) {
        const VkCopyDescriptorSet& c = a.pDescriptorCopies[i];
        if (!set_elements_fit(*dev, c.srcSet, c.srcBinding, c.srcArrayElement, c.descriptorCount) ||
            !set_elements_fit(*dev, c.dstSet, c.dstBinding, c.dstArrayElement, c.descriptorCount))
            return d.in.fail("vkUpdateDescriptorSets: copy " + std::to_string(i) +
                             " names descriptors its sets do not have");
    }
    VN_TRY(check_descriptor_writes(d, *dev, a.pDescriptorWrites, a.descriptorWriteCount, nullptr,
                                   "vkUpdateDescriptorSets"));
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
    return keep_created_pipelines(*dev, ids, hosts, a.pPipelines);
}

} // namespace vn::decoder
