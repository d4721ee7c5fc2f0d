// Fences and queue submission.
#include "executor.h"

namespace vn::decoder {

using protocol::DecodeResult;

DecodeResult Executor::on_vkCreateFence(protocol::Decoder& d, gen::CreateFenceArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    const std::uint64_t id = protocol::handle_to_u64(*a.pFence);
    VN_TRY(check_new_id(d, id));
    VkFence host = VK_NULL_HANDLE;
    a.ret = dev->dispatch.CreateFence(a.device.handle, a.pCreateInfo, nullptr, &host);
    if (a.ret != VK_SUCCESS)
        return DecodeResult::Ok;
    return add_child<VkFence>(*dev, id, host);
}

DecodeResult Executor::on_vkDestroyFence(protocol::Decoder& d, gen::DestroyFenceArgs& a) {
    if (!a.fence.id)
        return DecodeResult::Ok;
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    if (!dev->children.contains(a.fence.id))
        return d.in.fail("vkDestroyFence: the fence belongs to another device");
    dev->dispatch.DestroyFence(a.device.handle, a.fence.handle, nullptr);
    return remove_child<VkFence>(*dev, a.fence.id);
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
    a.ret = dev->dispatch.QueueSubmit(a.queue.handle, a.submitCount, a.pSubmits, a.fence.handle);
    return DecodeResult::Ok;
}

} // namespace vn::decoder
