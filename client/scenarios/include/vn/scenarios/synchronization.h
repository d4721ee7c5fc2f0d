#pragma once
// Fences and timeline semaphores as a guest uses them: signalled by the host and by queue
// submissions, observed without blocking the renderer (timeout 0 and status polls, as
// virglrenderer refuses blocking waits).
#include "vn/scenarios/device_setup.h"

namespace vn::scenarios {

struct TimelineResults {
    std::uint64_t initial = 0;                  // created with initialValue 1
    std::uint64_t after_host_signal = 0;        // vkSignalSemaphore(5)
    VkResult wait_reached = VK_ERROR_UNKNOWN;   // vkWaitSemaphores(5, timeout 0): SUCCESS
    VkResult wait_unreached = VK_ERROR_UNKNOWN; // vkWaitSemaphores(9, timeout 0): TIMEOUT
    std::uint64_t after_queue_signal = 0;       // a submission signalling 9, fence waited
};
// A timeline semaphore starting at initial_value; needs a device created with timelineSemaphore.
std::uint64_t create_timeline_semaphore(client::Guest& guest, const Device& device,
                                        std::uint64_t initial_value);

// Needs a device created with timelineSemaphore.
TimelineResults exercise_timeline_semaphore(client::Guest& guest, const Device& device);

struct FenceResults {
    VkResult unsignaled = VK_ERROR_UNKNOWN;       // fresh fence: NOT_READY
    VkResult after_submit = VK_ERROR_UNKNOWN;     // an empty submission signalled it: SUCCESS
    VkResult after_reset = VK_ERROR_UNKNOWN;      // vkResetFences: NOT_READY
    VkResult created_signaled = VK_ERROR_UNKNOWN; // VK_FENCE_CREATE_SIGNALED_BIT: SUCCESS
};
FenceResults exercise_fences(client::Guest& guest, const Device& device);

} // namespace vn::scenarios
