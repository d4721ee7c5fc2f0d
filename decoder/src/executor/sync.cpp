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
    const bool timeline = type && type->semaphoreType == VK_SEMAPHORE_TYPE_TIMELINE;
    dev->semaphores[host] = SemaphoreShape{timeline, false};
    dev->timeline_semaphores += timeline ? 1 : 0;
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
    if (const auto it = dev->semaphores.find(a.semaphore.handle); it != dev->semaphores.end()) {
        dev->timeline_semaphores -= it->second.timeline ? 1 : 0;
        dev->semaphores.erase(it);
    }
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

namespace {

// Lavapipe (Mesa 22.3 here): llvmpipe's rasterizer threads can still be storing a batch's
// fragment-shader writes when a later batch of the same submission has run, although a pipeline
// barrier lies between them. Mesa's Venus driver turns that into early fences: its fence feedback
// is a last batch that fills a guest-visible word (vkCmdFillBuffer after an ALL_COMMANDS
// barrier), and the guest then reads results that are not there yet (dEQP-VK.robustness.
// buffer_access.fragment.*: 32 of 1212 failed through Venus, none natively, none with
// LP_NUM_THREADS=0 or VN_PERF=no_fence_feedback). A semaphore wait does wait for the threads, as
// a fence does, so the other batches signal one of ours and the last batch waits for it.
// Not while the device has a timeline semaphore: a batch may wait for a value the host signals
// later (vkSignalSemaphore, through this decoder), and the driver's vkQueueSubmit of the last
// batch would then block until our semaphore's signal is under way, which is behind that wait:
// a deadlock (dEQP-VK.synchronization.timeline_semaphore.device_host.*).
VkSemaphore batch_gate(DeviceState& dev, VkDevice device, VkQueue queue) {
    if (const auto it = dev.batch_gates.find(queue); it != dev.batch_gates.end())
        return it->second;
    VkSemaphoreCreateInfo info{};
    info.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO;
    VkSemaphore gate = VK_NULL_HANDLE;
    if (dev.dispatch.CreateSemaphore(device, &info, nullptr, &gate) != VK_SUCCESS)
        return VK_NULL_HANDLE;
    dev.batch_gates.emplace(queue, gate);
    return gate;
}

// The array `array` of the `Info` in submit's chain one element longer (a 0), where it runs
// parallel to the `n` semaphores the gate is being added to. False when the chain cannot be
// rebuilt.
template <typename Info, typename T>
bool append_zero(VkSubmitInfo& submit, VkStructureType type, std::uint32_t n,
                 std::uint32_t Info::*count, const T* Info::*array,
                 std::deque<std::vector<T>>& arrays, std::deque<Info>& infos, ChainCopies& chains) {
    const Info* info = find_in_chain<Info>(submit.pNext, type);
    if (!info || info->*count != n || !(info->*array))
        return true;
    auto& copied = arrays.emplace_back(info->*array, info->*array + n);
    copied.push_back(0);
    Info& copy = infos.emplace_back(*info);
    copy.*count = n + 1;
    copy.*array = copied.data();
    submit.pNext = chains.replace(submit.pNext, info, &copy);
    return submit.pNext != nullptr;
}

// After the gated last batch failed to submit, the gate is left signalled with nothing to wait
// on it, and the next submission's signal would be invalid: once the queue is idle, a new gate.
void retire_gate(DeviceState& dev, VkQueue queue) {
    const auto it = dev.batch_gates.find(queue);
    if (it == dev.batch_gates.end())
        return;
    (void)dev.dispatch.QueueWaitIdle(queue);
    dev.dispatch.DestroySemaphore(dev.handle, it->second, nullptr);
    dev.batch_gates.erase(it);
}

// `submit` with `gate` added to its signals, or to its waits (before anything runs); the arrays
// that run parallel to them (timeline values, device indices) get an element too where they are
// as long. False when its chain cannot be rebuilt.
bool add_gate(VkSubmitInfo& submit, VkSemaphore gate, bool signal, SubmitRewrite& rw) {
    const std::uint32_t n = signal ? submit.signalSemaphoreCount : submit.waitSemaphoreCount;
    const VkSemaphore* list = signal ? submit.pSignalSemaphores : submit.pWaitSemaphores;
    auto& semaphores = rw.semaphores.emplace_back(list, list + n);
    semaphores.push_back(gate);
    if (signal) {
        submit.signalSemaphoreCount = n + 1;
        submit.pSignalSemaphores = semaphores.data();
    } else {
        auto& stages = rw.stages.emplace_back();
        if (n > 0 && submit.pWaitDstStageMask)
            stages.assign(submit.pWaitDstStageMask, submit.pWaitDstStageMask + n);
        stages.resize(n, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT);
        stages.push_back(VK_PIPELINE_STAGE_ALL_COMMANDS_BIT);
        submit.waitSemaphoreCount = n + 1;
        submit.pWaitSemaphores = semaphores.data();
        submit.pWaitDstStageMask = stages.data();
    }
    if (n == 0)
        return true;
    // 0 is ignored as a binary semaphore's value, and is device 0's index.
    using Timeline = VkTimelineSemaphoreSubmitInfo;
    using Group = VkDeviceGroupSubmitInfo;
    return append_zero(submit, VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO, n,
                       signal ? &Timeline::signalSemaphoreValueCount
                              : &Timeline::waitSemaphoreValueCount,
                       signal ? &Timeline::pSignalSemaphoreValues : &Timeline::pWaitSemaphoreValues,
                       rw.values, rw.timeline_infos, rw.chains) &&
           append_zero(submit, VK_STRUCTURE_TYPE_DEVICE_GROUP_SUBMIT_INFO, n,
                       signal ? &Group::signalSemaphoreCount : &Group::waitSemaphoreCount,
                       signal ? &Group::pSignalSemaphoreDeviceIndices
                              : &Group::pWaitSemaphoreDeviceIndices,
                       rw.device_indices, rw.group_infos, rw.chains);
}

// Whether a submission of `batches` batches goes to the driver as two, its last batch gated.
bool gates_last_batch(const DeviceState& dev, std::uint32_t batches) {
    return dev.gate_last_batch && batches >= 2 && dev.timeline_semaphores == 0;
}

} // namespace

DecodeResult Executor::on_vkQueueSubmit(protocol::Decoder& d, gen::QueueSubmitArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(queue_device(d, a.queue.id, dev));
    const bool gated = gates_last_batch(*dev, a.submitCount);
    if (dev->signalled_imports == 0 && !gated) {
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
    const VkSemaphore gate = gated ? batch_gate(*dev, dev->handle, a.queue.handle) : VK_NULL_HANDLE;
    if (gate) {
        const std::uint32_t last = a.submitCount - 1;
        if (!add_gate(submits[last - 1], gate, true, rw) ||
            !add_gate(submits[last], gate, false, rw))
            return d.in.fail("vkQueueSubmit: a submission's pNext chain cannot be rebuilt");
        a.ret = dev->dispatch.QueueSubmit(a.queue.handle, last, submits.data(), VK_NULL_HANDLE);
        if (a.ret == VK_SUCCESS) {
            a.ret = dev->dispatch.QueueSubmit(a.queue.handle, 1, &submits[last], a.fence.handle);
            if (a.ret != VK_SUCCESS)
                retire_gate(*dev, a.queue.handle);
        }
        return DecodeResult::Ok;
    }
    a.ret =
        dev->dispatch.QueueSubmit(a.queue.handle, a.submitCount, submits.data(), a.fence.handle);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkQueueSubmit2(protocol::Decoder& d, gen::QueueSubmit2Args& a) {
    DeviceState* dev = nullptr;
    VN_TRY(queue_device(d, a.queue.id, dev));
    const bool gated = gates_last_batch(*dev, a.submitCount);
    if (dev->signalled_imports == 0 && !gated) {
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
    // As vkQueueSubmit (batch_gate above).
    if (const VkSemaphore gate =
            gated ? batch_gate(*dev, dev->handle, a.queue.handle) : VK_NULL_HANDLE) {
        const std::uint32_t last = a.submitCount - 1;
        VkSemaphoreSubmitInfo info{};
        info.sType = VK_STRUCTURE_TYPE_SEMAPHORE_SUBMIT_INFO;
        info.semaphore = gate;
        info.stageMask = VK_PIPELINE_STAGE_2_ALL_COMMANDS_BIT;
        VkSubmitInfo2& before = submits[last - 1];
        auto& signals = rw.wait_infos.emplace_back(before.pSignalSemaphoreInfos,
                                                   before.pSignalSemaphoreInfos +
                                                       before.signalSemaphoreInfoCount);
        signals.push_back(info);
        before.signalSemaphoreInfoCount = static_cast<std::uint32_t>(signals.size());
        before.pSignalSemaphoreInfos = signals.data();
        VkSubmitInfo2& after = submits[last];
        auto& waits = rw.wait_infos.emplace_back(
            after.pWaitSemaphoreInfos, after.pWaitSemaphoreInfos + after.waitSemaphoreInfoCount);
        waits.push_back(info);
        after.waitSemaphoreInfoCount = static_cast<std::uint32_t>(waits.size());
        after.pWaitSemaphoreInfos = waits.data();
        a.ret = dev->dispatch.QueueSubmit2(a.queue.handle, last, submits.data(), VK_NULL_HANDLE);
        if (a.ret == VK_SUCCESS) {
            a.ret = dev->dispatch.QueueSubmit2(a.queue.handle, 1, &after, a.fence.handle);
            if (a.ret != VK_SUCCESS)
                retire_gate(*dev, a.queue.handle);
        }
        return DecodeResult::Ok;
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
