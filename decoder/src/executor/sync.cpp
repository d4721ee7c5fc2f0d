// Fences and queue submission.
#include "executor.h"

namespace vn::decoder {

using protocol::DecodeResult;

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

DecodeResult Executor::on_vkQueueSubmit2(protocol::Decoder& d, gen::QueueSubmit2Args& a) {
    DeviceState* dev = nullptr;
    VN_TRY(queue_device(d, a.queue.id, dev));
    a.ret = dev->dispatch.QueueSubmit2(a.queue.handle, a.submitCount, a.pSubmits, a.fence.handle);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkQueueWaitIdle(protocol::Decoder& d, gen::QueueWaitIdleArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(queue_device(d, a.queue.id, dev));
    a.ret = dev->dispatch.QueueWaitIdle(a.queue.handle);
    return DecodeResult::Ok;
}

} // namespace vn::decoder
