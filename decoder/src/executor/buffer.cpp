// Buffers: created and destroyed like any device child, with their size kept so that every
// range a command names in one can be checked before the driver reads or writes it.
#include "executor.h"

namespace vn::decoder {

using protocol::DecodeResult;

DecodeResult Executor::on_vkCreateBuffer(protocol::Decoder& d, gen::CreateBufferArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    const std::uint64_t id = protocol::handle_to_u64(*a.pBuffer);
    if (refuse_new_object()) {
        a.ret = VK_ERROR_OUT_OF_HOST_MEMORY;
        return DecodeResult::Ok;
    }
    VN_TRY(check_new_id(d, id));
    if (a.pCreateInfo->flags & kSparseBufferFlags)
        return d.in.fail("vkCreateBuffer: a sparse buffer, but sparse binding is not offered");
    VkBuffer host = VK_NULL_HANDLE;
    a.ret = dev->dispatch.CreateBuffer(a.device.handle, a.pCreateInfo, nullptr, &host);
    if (a.ret != VK_SUCCESS)
        return DecodeResult::Ok;
    VN_TRY(add_child<VkBuffer>(*dev, id, host));
    // Sparse buffers are bound piecewise through the queue, which the driver tracks itself.
    dev->buffers[host] = BufferShape{
        a.pCreateInfo->size, (a.pCreateInfo->flags & VK_BUFFER_CREATE_SPARSE_BINDING_BIT) != 0};
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkDestroyBuffer(protocol::Decoder& d, gen::DestroyBufferArgs& a) {
    if (!a.buffer.id)
        return DecodeResult::Ok;
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    VN_TRY(check_device_child(d, a.device, VK_OBJECT_TYPE_BUFFER, a.buffer.id));
    dev->dispatch.DestroyBuffer(a.device.handle, a.buffer.handle, nullptr);
    dev->buffers.erase(a.buffer.handle);
    return remove_child<VkBuffer>(*dev, a.buffer.id);
}

DecodeResult Executor::on_vkCreateBufferView(protocol::Decoder& d, gen::CreateBufferViewArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    const std::uint64_t id = protocol::handle_to_u64(*a.pView);
    VN_TRY(check_new_id(d, id));
    // Shaders reach the buffer through the view's range.
    const VkBufferViewCreateInfo& info = *a.pCreateInfo;
    VN_TRY(check_buffer_range(d, *dev, info.buffer, info.offset,
                              info.range == VK_WHOLE_SIZE ? 0 : info.range, "vkCreateBufferView"));
    VkBufferView host = VK_NULL_HANDLE;
    a.ret = dev->dispatch.CreateBufferView(a.device.handle, &info, nullptr, &host);
    if (a.ret != VK_SUCCESS)
        return DecodeResult::Ok;
    return add_child<VkBufferView>(*dev, id, host);
}

} // namespace vn::decoder
