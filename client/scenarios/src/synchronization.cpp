#include "vn/scenarios/synchronization.h"

#include <chrono>
#include <thread>

namespace vn::scenarios {

namespace {
std::uint64_t counter_value(client::Guest& guest, const Device& device, std::uint64_t sem) {
    std::uint64_t value = 0;
    gen::GetSemaphoreCounterValueArgs gv;
    gv.device = device.ref();
    gv.semaphore = ref<VkSemaphore>(sem);
    gv.pValue = &value;
    const auto r = call(guest, gv);
    expect_success(r.ret, "vkGetSemaphoreCounterValue");
    return *r.pValue;
}

VkResult wait_now(client::Guest& guest, const Device& device, std::uint64_t sem,
                  std::uint64_t value) {
    VkSemaphore h = handle<VkSemaphore>(sem);
    VkSemaphoreWaitInfo wait{};
    wait.sType = VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO;
    wait.semaphoreCount = 1;
    wait.pSemaphores = &h;
    wait.pValues = &value;
    gen::WaitSemaphoresArgs ws;
    ws.device = device.ref();
    ws.pWaitInfo = &wait;
    ws.timeout = 0;
    return call(guest, ws).ret;
}

void destroy_fence(client::Guest& guest, const Device& device, std::uint64_t fence) {
    gen::DestroyFenceArgs df;
    df.device = device.ref();
    df.fence = ref<VkFence>(fence);
    send(guest, df);
}
} // namespace

std::uint64_t create_timeline_semaphore(client::Guest& guest, const Device& device,
                                        std::uint64_t initial_value) {
    const std::uint64_t sem = guest.new_id();
    VkSemaphoreTypeCreateInfo type{};
    type.sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO;
    type.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE;
    type.initialValue = initial_value;
    VkSemaphoreCreateInfo sci{};
    sci.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO;
    sci.pNext = &type;
    VkSemaphore h = handle<VkSemaphore>(sem);
    gen::CreateSemaphoreArgs cs;
    cs.device = device.ref();
    cs.pCreateInfo = &sci;
    cs.pSemaphore = &h;
    expect_success(call(guest, cs).ret, "vkCreateSemaphore");
    return sem;
}

TimelineResults exercise_timeline_semaphore(client::Guest& guest, const Device& device) {
    TimelineResults out;
    const std::uint64_t sem = create_timeline_semaphore(guest, device, 1);
    VkSemaphore h = handle<VkSemaphore>(sem);
    out.initial = counter_value(guest, device, sem);

    VkSemaphoreSignalInfo signal{};
    signal.sType = VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO;
    signal.semaphore = h;
    signal.value = 5;
    gen::SignalSemaphoreArgs ss;
    ss.device = device.ref();
    ss.pSignalInfo = &signal;
    expect_success(call(guest, ss).ret, "vkSignalSemaphore");
    out.after_host_signal = counter_value(guest, device, sem);
    out.wait_reached = wait_now(guest, device, sem, 5);
    out.wait_unreached = wait_now(guest, device, sem, 9);

    const std::uint64_t signal_value = 9;
    VkTimelineSemaphoreSubmitInfo tssi{};
    tssi.sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO;
    tssi.signalSemaphoreValueCount = 1;
    tssi.pSignalSemaphoreValues = &signal_value;
    VkSubmitInfo si{};
    si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
    si.pNext = &tssi;
    si.signalSemaphoreCount = 1;
    si.pSignalSemaphores = &h;
    const std::uint64_t fence = create_fence(guest, device);
    gen::QueueSubmitArgs qs;
    qs.queue = ref<VkQueue>(device.queue);
    qs.submitCount = 1;
    qs.pSubmits = &si;
    qs.fence = ref<VkFence>(fence);
    expect_success(call(guest, qs).ret, "vkQueueSubmit");
    wait_fence(guest, device, fence);
    // Lavapipe signals the fence and the semaphore of one batch from its queue thread one after
    // the other; the semaphore may follow the fence by a moment. Poll it (as a guest would with
    // vkWaitSemaphores and timeout 0) before reading the value.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (wait_now(guest, device, sem, signal_value) == VK_TIMEOUT &&
           std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    out.after_queue_signal = counter_value(guest, device, sem);

    destroy_fence(guest, device, fence);
    gen::DestroySemaphoreArgs ds;
    ds.device = device.ref();
    ds.semaphore = ref<VkSemaphore>(sem);
    send(guest, ds);
    return out;
}

FenceResults exercise_fences(client::Guest& guest, const Device& device) {
    FenceResults out;
    const std::uint64_t fence = create_fence(guest, device);
    out.unsignaled = fence_status(guest, device, fence);
    submit(guest, device, {}, fence);
    wait_fence(guest, device, fence);
    out.after_submit = fence_status(guest, device, fence);
    VkFence h = handle<VkFence>(fence);
    gen::ResetFencesArgs rf;
    rf.device = device.ref();
    rf.fenceCount = 1;
    rf.pFences = &h;
    expect_success(call(guest, rf).ret, "vkResetFences");
    out.after_reset = fence_status(guest, device, fence);
    destroy_fence(guest, device, fence);

    const std::uint64_t signaled = create_fence(guest, device, true);
    out.created_signaled = fence_status(guest, device, signaled);
    destroy_fence(guest, device, signaled);
    return out;
}

} // namespace vn::scenarios
