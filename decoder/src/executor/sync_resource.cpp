// Fence and semaphore payloads the guest manages through resources (VK_MESA_venus_protocol),
// the way virglrenderer 1.3.0 does: resetting a fence and consuming a semaphore payload are sync_fd
// exports whose fd is dropped at once (an export with copy transference resets the fence and
// waits out the semaphore), and importing "resource 0" installs an already-signalled payload. A
// driver that cannot do these on the guest's device is a fatal error, as it is there.
//
// Where the host cannot import a binary semaphore's sync_fd at all (exposed_chain.h), the two
// semaphore commands are emulated instead, as they are all the protocol ever asks of one: the
// signalled import marks the semaphore (the next wait on it is satisfied at once, in sync.cpp,
// and the permanent payload comes back), and the wait consumes a pending signal with an empty
// submission that waits on it.
#include "executor.h"

#include <unistd.h>

namespace vn::decoder {

using protocol::DecodeResult;

DecodeResult Executor::on_vkResetFenceResourceMESA(protocol::Decoder& d,
                                                   gen::ResetFenceResourceMESAArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    if (!dev->get_fence_fd)
        return d.in.fail("vkResetFenceResourceMESA: the device has no VK_KHR_external_fence_fd");
    VkFenceGetFdInfoKHR info{};
    info.sType = VK_STRUCTURE_TYPE_FENCE_GET_FD_INFO_KHR;
    info.fence = a.fence.handle;
    info.handleType = VK_EXTERNAL_FENCE_HANDLE_TYPE_SYNC_FD_BIT;
    int fd = -1;
    if (const VkResult r = dev->get_fence_fd(a.device.handle, &info, &fd); r != VK_SUCCESS)
        return d.in.fail("vkResetFenceResourceMESA: sync_fd export failed: VkResult " +
                         std::to_string(r));
    if (fd >= 0)
        ::close(fd);
    return DecodeResult::Ok;
}

namespace {
// The binary semaphore of `dev` a resource command names; Fatal naming `what` otherwise (the
// driver would be handed another device's semaphore, or a payload a timeline cannot have).
DecodeResult binary_semaphore(protocol::Decoder& d, DeviceState& dev, VkSemaphore semaphore,
                              const char* what, SemaphoreShape*& out) {
    const auto it = dev.semaphores.find(semaphore);
    if (it == dev.semaphores.end())
        return d.in.fail(std::string(what) + ": not a semaphore of this device");
    if (it->second.timeline)
        return d.in.fail(std::string(what) + ": a timeline semaphore has no sync_fd payload");
    out = &it->second;
    return DecodeResult::Ok;
}
} // namespace

DecodeResult Executor::on_vkWaitSemaphoreResourceMESA(protocol::Decoder& d,
                                                      gen::WaitSemaphoreResourceMESAArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    SemaphoreShape* sem = nullptr;
    VN_TRY(binary_semaphore(d, *dev, a.semaphore.handle, "vkWaitSemaphoreResourceMESA", sem));
    if (dev->emulated_semaphore_sync_fd) {
        if (sem->signalled_import) {
            sem->signalled_import = false;
            --dev->signalled_imports;
            return DecodeResult::Ok;
        }
        // A signal can only be pending through a queue of this device: without one there is
        // nothing to consume.
        VkQueue queue = VK_NULL_HANDLE;
        for (const auto& [id, entry] : m_objects.table<VkQueue>())
            if (static_cast<const DeviceChildState*>(entry.state.get())->device == dev) {
                queue = entry.handle;
                break;
            }
        if (!queue)
            return DecodeResult::Ok;
        const VkPipelineStageFlags stage = VK_PIPELINE_STAGE_ALL_COMMANDS_BIT;
        VkSubmitInfo submit{};
        submit.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
        submit.waitSemaphoreCount = 1;
        submit.pWaitSemaphores = &a.semaphore.handle;
        submit.pWaitDstStageMask = &stage;
        if (const VkResult r = dev->dispatch.QueueSubmit(queue, 1, &submit, VK_NULL_HANDLE);
            r != VK_SUCCESS)
            return d.in.fail(
                "vkWaitSemaphoreResourceMESA: the wait's submission failed: VkResult " +
                std::to_string(r));
        return DecodeResult::Ok;
    }
    if (!dev->get_semaphore_fd)
        return d.in.fail(
            "vkWaitSemaphoreResourceMESA: the device has no VK_KHR_external_semaphore_fd");
    VkSemaphoreGetFdInfoKHR info{};
    info.sType = VK_STRUCTURE_TYPE_SEMAPHORE_GET_FD_INFO_KHR;
    info.semaphore = a.semaphore.handle;
    info.handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT;
    int fd = -1;
    if (const VkResult r = dev->get_semaphore_fd(a.device.handle, &info, &fd); r != VK_SUCCESS)
        return d.in.fail("vkWaitSemaphoreResourceMESA: sync_fd export failed: VkResult " +
                         std::to_string(r));
    if (fd >= 0)
        ::close(fd);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkImportSemaphoreResourceMESA(protocol::Decoder& d,
                                                        gen::ImportSemaphoreResourceMESAArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    const VkImportSemaphoreResourceInfoMESA* res_info = a.pImportSemaphoreResourceInfo;
    if (!res_info)
        return d.in.fail("vkImportSemaphoreResourceMESA without pImportSemaphoreResourceInfo");
    // virglrenderer asserts this: only the signalled payload (resource 0) exists.
    if (res_info->resourceId != 0)
        return d.in.fail("vkImportSemaphoreResourceMESA: resource " +
                         std::to_string(res_info->resourceId) +
                         " cannot be imported (only 0, a signalled payload)");
    SemaphoreShape* sem = nullptr;
    VN_TRY(binary_semaphore(d, *dev, res_info->semaphore, "vkImportSemaphoreResourceMESA", sem));
    if (dev->emulated_semaphore_sync_fd) {
        if (!sem->signalled_import) {
            sem->signalled_import = true;
            ++dev->signalled_imports;
        }
        return DecodeResult::Ok;
    }
    if (!dev->import_semaphore_fd)
        return d.in.fail(
            "vkImportSemaphoreResourceMESA: the device has no VK_KHR_external_semaphore_fd");
    VkImportSemaphoreFdInfoKHR info{};
    info.sType = VK_STRUCTURE_TYPE_IMPORT_SEMAPHORE_FD_INFO_KHR;
    info.semaphore = res_info->semaphore;
    info.flags = VK_SEMAPHORE_IMPORT_TEMPORARY_BIT;
    info.handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT;
    info.fd = -1; // -1: already signalled
    if (const VkResult r = dev->import_semaphore_fd(a.device.handle, &info); r != VK_SUCCESS)
        return d.in.fail("vkImportSemaphoreResourceMESA: import failed: VkResult " +
                         std::to_string(r));
    return DecodeResult::Ok;
}

} // namespace vn::decoder
