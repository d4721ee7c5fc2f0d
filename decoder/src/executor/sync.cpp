// Fences, semaphores and queue submission.
#include "executor.h"

#include <cstring>
#include <deque>
#include <memory>
#include <vector>

namespace vn::decoder {

using protocol::DecodeResult;

namespace {
// Copies of decoded pNext nodes, so that one node of a chain can be replaced without writing
// into the decoded input (a reply may still encode it, and a ring may reuse it).
class ChainCopies {
  public:
    // The chain `head` with `target` replaced by `replacement`, which is linked to what followed
    // `target`; the nodes before it are copies. Null when `target` is not in the chain or a node
    // before it is of a type whose size the protocol does not know.
    const void* replace(const void* head, const void* target, void* replacement) {
        VkBaseOutStructure* first = nullptr;
        VkBaseOutStructure* tail = nullptr;
        const auto link = [&](VkBaseOutStructure* node) {
            (tail ? tail->pNext : first) = node;
            tail = node;
        };
        for (auto* n = static_cast<const VkBaseOutStructure*>(head); n; n = n->pNext) {
            if (n == target) {
                auto* out = static_cast<VkBaseOutStructure*>(replacement);
                out->pNext = n->pNext;
                link(out);
                return first;
            }
            const gen::StructOrigin* origin = gen::struct_origin(n->sType);
            if (!origin)
                return nullptr;
            auto& copy = m_nodes.emplace_back(std::make_unique<std::byte[]>(origin->size));
            std::memcpy(copy.get(), n, origin->size);
            link(reinterpret_cast<VkBaseOutStructure*>(copy.get()));
        }
        return nullptr;
    }

  private:
    std::vector<std::unique_ptr<std::byte[]>> m_nodes;
};

template <typename T>
const T* find_in_chain(const void* head, VkStructureType type) {
    for (auto* n = static_cast<const VkBaseInStructure*>(head); n; n = n->pNext)
        if (n->sType == type)
            return reinterpret_cast<const T*>(n);
    return nullptr;
}

// Takes the mark off a semaphore that holds an emulated signalled payload (sync_resource.cpp):
// a wait on it is satisfied at once and the permanent payload comes back, as the spec has it for
// a temporary import. False for any other semaphore.
bool consume_signalled_import(DeviceState& dev, VkSemaphore semaphore) {
    const auto it = dev.semaphores.find(semaphore);
    if (it == dev.semaphores.end() || !it->second.signalled_import)
        return false;
    it->second.signalled_import = false;
    --dev.signalled_imports;
    return true;
}

bool waits_on_signalled_import(const DeviceState& dev, const VkSemaphore* semaphores,
                               std::uint32_t count) {
    for (std::uint32_t i = 0; i < count; ++i) {
        const auto it = dev.semaphores.find(semaphores[i]);
        if (it != dev.semaphores.end() && it->second.signalled_import)
            return true;
    }
    return false;
}

// Submissions rebuilt without their waits on emulated signalled payloads, and what they point to.
struct SubmitRewrite {
    ChainCopies chains;
    std::deque<std::vector<VkSemaphore>> semaphores;
    std::deque<std::vector<VkPipelineStageFlags>> stages;
    std::deque<std::vector<std::uint64_t>> values;
    std::deque<std::vector<std::uint32_t>> device_indices;
    std::deque<VkTimelineSemaphoreSubmitInfo> timeline_infos;
    std::deque<VkDeviceGroupSubmitInfo> group_infos;
    std::deque<std::vector<VkSemaphoreSubmitInfo>> wait_infos;
};

// `submit` without its waits on semaphores holding an emulated signalled payload, whose marks
// are taken off; the arrays that run parallel to the waits (stages, timeline values, device
// indices) lose the same elements. False when its chain cannot be rebuilt.
bool drop_signalled_waits(DeviceState& dev, VkSubmitInfo& submit, SubmitRewrite& rw) {
    const std::uint32_t n = submit.waitSemaphoreCount;
    const auto* timeline = find_in_chain<VkTimelineSemaphoreSubmitInfo>(
        submit.pNext, VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO);
    const auto* group = find_in_chain<VkDeviceGroupSubmitInfo>(
        submit.pNext, VK_STRUCTURE_TYPE_DEVICE_GROUP_SUBMIT_INFO);
    // Only arrays as long as the waits are theirs (a timeline info without timeline waits may
    // carry no values at all); anything else goes to the driver as the guest sent it.
    const bool values =
        timeline && timeline->waitSemaphoreValueCount == n && timeline->pWaitSemaphoreValues;
    const bool indices =
        group && group->waitSemaphoreCount == n && group->pWaitSemaphoreDeviceIndices;
    auto& semaphores = rw.semaphores.emplace_back();
    auto& stages = rw.stages.emplace_back();
    auto& kept_values = rw.values.emplace_back();
    auto& kept_indices = rw.device_indices.emplace_back();
    for (std::uint32_t i = 0; i < n; ++i) {
        if (consume_signalled_import(dev, submit.pWaitSemaphores[i]))
            continue;
        semaphores.push_back(submit.pWaitSemaphores[i]);
        if (submit.pWaitDstStageMask)
            stages.push_back(submit.pWaitDstStageMask[i]);
        if (values)
            kept_values.push_back(timeline->pWaitSemaphoreValues[i]);
        if (indices)
            kept_indices.push_back(group->pWaitSemaphoreDeviceIndices[i]);
    }
    const auto kept = static_cast<std::uint32_t>(semaphores.size());
    submit.waitSemaphoreCount = kept;
    submit.pWaitSemaphores = semaphores.data();
    if (submit.pWaitDstStageMask)
        submit.pWaitDstStageMask = stages.data();
    if (values) {
        VkTimelineSemaphoreSubmitInfo& copy = rw.timeline_infos.emplace_back(*timeline);
        copy.waitSemaphoreValueCount = kept;
        copy.pWaitSemaphoreValues = kept_values.data();
        submit.pNext = rw.chains.replace(submit.pNext, timeline, &copy);
        if (!submit.pNext)
            return false;
    }
    if (indices) {
        // Found again: the chain may be a rebuilt one by now.
        const auto* current = find_in_chain<VkDeviceGroupSubmitInfo>(
            submit.pNext, VK_STRUCTURE_TYPE_DEVICE_GROUP_SUBMIT_INFO);
        VkDeviceGroupSubmitInfo& copy = rw.group_infos.emplace_back(*current);
        copy.waitSemaphoreCount = kept;
        copy.pWaitSemaphoreDeviceIndices = kept_indices.data();
        submit.pNext = rw.chains.replace(submit.pNext, current, &copy);
        if (!submit.pNext)
            return false;
    }
    return true;
}
} // namespace

DecodeResult Executor::on_vkCreateSemaphore(protocol::Decoder& d, gen::CreateSemaphoreArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    const std::uint64_t id = protocol::handle_to_u64(*a.pSemaphore);
    if (refuse_new_object()) {
        a.ret = VK_ERROR_OUT_OF_HOST_MEMORY;
        return DecodeResult::Ok;
    }
    VN_TRY(check_new_id(d, id));
    VkSemaphoreCreateInfo info = *a.pCreateInfo;
    const auto* type = find_in_chain<VkSemaphoreTypeCreateInfo>(
        info.pNext, VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO);
    // An emulated sync_fd (sync_resource.cpp) is never the driver's to export: Mesa's driver
    // asks for one on every semaphore it may hand out as a sync_fd.
    const auto* exported = find_in_chain<VkExportSemaphoreCreateInfo>(
        info.pNext, VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_CREATE_INFO);
    ChainCopies chains;
    VkExportSemaphoreCreateInfo export_copy{};
    if (dev->strip_semaphore_sync_fd_export && exported &&
        (exported->handleTypes & VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT)) {
        export_copy = *exported;
        export_copy.handleTypes &=
            ~VkExternalSemaphoreHandleTypeFlags{VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT};
        info.pNext = chains.replace(info.pNext, exported, &export_copy);
        if (!info.pNext)
            return d.in.fail("vkCreateSemaphore: its pNext chain cannot be rebuilt");
    }
    VkSemaphore host = VK_NULL_HANDLE;
    a.ret = dev->dispatch.CreateSemaphore(a.device.handle, &info, nullptr, &host);
    if (a.ret != VK_SUCCESS)
        return DecodeResult::Ok;
    VN_TRY(add_child<VkSemaphore>(*dev, id, host));
    // A handle the driver hands out again starts with no payload of ours.
    dev->semaphores[host] =
        SemaphoreShape{type && type->semaphoreType == VK_SEMAPHORE_TYPE_TIMELINE, false};
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkDestroySemaphore(protocol::Decoder& d, gen::DestroySemaphoreArgs& a) {
    if (!a.semaphore.id)
        return DecodeResult::Ok;
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    VN_TRY(check_device_child(d, a.device, VK_OBJECT_TYPE_SEMAPHORE, a.semaphore.id));
    dev->dispatch.DestroySemaphore(a.device.handle, a.semaphore.handle, nullptr);
    (void)consume_signalled_import(*dev, a.semaphore.handle);
    dev->semaphores.erase(a.semaphore.handle);
    return remove_child<VkSemaphore>(*dev, a.semaphore.id);
}

DecodeResult Executor::on_vkGetFenceStatus(protocol::Decoder& d, gen::GetFenceStatusArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    a.ret = dev->dispatch.GetFenceStatus(a.device.handle, a.fence.handle);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkWaitForFences(protocol::Decoder& d, gen::WaitForFencesArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    // Blocks only this context's worker: the guest may wait as long as it likes.
    a.ret =
        dev->dispatch.WaitForFences(a.device.handle, a.fenceCount, a.pFences, a.waitAll, a.timeout);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkResetFences(protocol::Decoder& d, gen::ResetFencesArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    a.ret = dev->dispatch.ResetFences(a.device.handle, a.fenceCount, a.pFences);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkQueueSubmit(protocol::Decoder& d, gen::QueueSubmitArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(queue_device(d, a.queue.id, dev));
    if (dev->signalled_imports == 0) {
        a.ret =
            dev->dispatch.QueueSubmit(a.queue.handle, a.submitCount, a.pSubmits, a.fence.handle);
        return DecodeResult::Ok;
    }
    // Waits on emulated signalled payloads are satisfied here; the driver never sees them.
    std::vector<VkSubmitInfo> submits(a.pSubmits, a.pSubmits + a.submitCount);
    SubmitRewrite rw;
    for (VkSubmitInfo& submit : submits)
        if (waits_on_signalled_import(*dev, submit.pWaitSemaphores, submit.waitSemaphoreCount) &&
            !drop_signalled_waits(*dev, submit, rw))
            return d.in.fail("vkQueueSubmit: a submission's pNext chain cannot be rebuilt");
    a.ret =
        dev->dispatch.QueueSubmit(a.queue.handle, a.submitCount, submits.data(), a.fence.handle);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkQueueSubmit2(protocol::Decoder& d, gen::QueueSubmit2Args& a) {
    DeviceState* dev = nullptr;
    VN_TRY(queue_device(d, a.queue.id, dev));
    if (dev->signalled_imports == 0) {
        a.ret =
            dev->dispatch.QueueSubmit2(a.queue.handle, a.submitCount, a.pSubmits, a.fence.handle);
        return DecodeResult::Ok;
    }
    // As vkQueueSubmit; each wait carries its value and device index with it.
    std::vector<VkSubmitInfo2> submits(a.pSubmits, a.pSubmits + a.submitCount);
    SubmitRewrite rw;
    for (VkSubmitInfo2& submit : submits) {
        const std::uint32_t n = submit.waitSemaphoreInfoCount;
        bool marked = false;
        for (std::uint32_t i = 0; i < n && !marked; ++i) {
            const auto it = dev->semaphores.find(submit.pWaitSemaphoreInfos[i].semaphore);
            marked = it != dev->semaphores.end() && it->second.signalled_import;
        }
        if (!marked)
            continue;
        auto& waits = rw.wait_infos.emplace_back();
        for (std::uint32_t i = 0; i < n; ++i)
            if (!consume_signalled_import(*dev, submit.pWaitSemaphoreInfos[i].semaphore))
                waits.push_back(submit.pWaitSemaphoreInfos[i]);
        submit.waitSemaphoreInfoCount = static_cast<std::uint32_t>(waits.size());
        submit.pWaitSemaphoreInfos = waits.data();
    }
    a.ret =
        dev->dispatch.QueueSubmit2(a.queue.handle, a.submitCount, submits.data(), a.fence.handle);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkQueueWaitIdle(protocol::Decoder& d, gen::QueueWaitIdleArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(queue_device(d, a.queue.id, dev));
    a.ret = dev->dispatch.QueueWaitIdle(a.queue.handle);
    return DecodeResult::Ok;
}

} // namespace vn::decoder
