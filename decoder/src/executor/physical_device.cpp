// Physical-device queries: passed to the host driver, then trimmed to what Venus can carry.
#include "executor.h"
#include "exposed_chain.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace vn::decoder {

using protocol::DecodeResult;

namespace {
void cap_device_version(VkPhysicalDeviceProperties& p) {
    p.apiVersion = Executor::cap_api_version(p.apiVersion);
}
std::vector<std::string> exposed_names(const InstanceState& inst, VkPhysicalDevice pd) {
    return extension_names(exposed_device_extensions(inst, pd));
}
} // namespace

#define VN_INSTANCE_DISPATCH(a, inst)                                                              \
    const InstanceState* inst = nullptr;                                                           \
    VN_TRY(instance_of(d, (a).physicalDevice.id, inst))

DecodeResult Executor::on_vkGetPhysicalDeviceProperties(protocol::Decoder& d,
                                                        gen::GetPhysicalDevicePropertiesArgs& a) {
    VN_INSTANCE_DISPATCH(a, inst);
    if (!a.pProperties)
        return d.in.fail("vkGetPhysicalDeviceProperties without pProperties");
    inst->dispatch.GetPhysicalDeviceProperties(a.physicalDevice.handle, a.pProperties);
    cap_device_version(*a.pProperties);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkGetPhysicalDeviceProperties2(protocol::Decoder& d,
                                                         gen::GetPhysicalDeviceProperties2Args& a) {
    VN_INSTANCE_DISPATCH(a, inst);
    if (!a.pProperties)
        return d.in.fail("vkGetPhysicalDeviceProperties2 without pProperties");
    // The decoder rebuilt the guest's pNext chain (only structs Venus knows); of those, the
    // driver fills the ones the guest may use on this device, and the others read as zero.
    {
        const ExposedChain chain(a.pProperties,
                                 effective_api_version(*inst, a.physicalDevice.handle),
                                 exposed_names(*inst, a.physicalDevice.handle), true);
        inst->dispatch.GetPhysicalDeviceProperties2(a.physicalDevice.handle, a.pProperties);
    }
    cap_device_version(a.pProperties->properties);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkGetPhysicalDeviceFeatures2(protocol::Decoder& d,
                                                       gen::GetPhysicalDeviceFeatures2Args& a) {
    VN_INSTANCE_DISPATCH(a, inst);
    if (!a.pFeatures)
        return d.in.fail("vkGetPhysicalDeviceFeatures2 without pFeatures");
    const ExposedChain chain(a.pFeatures, effective_api_version(*inst, a.physicalDevice.handle),
                             exposed_names(*inst, a.physicalDevice.handle), true);
    inst->dispatch.GetPhysicalDeviceFeatures2(a.physicalDevice.handle, a.pFeatures);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkGetPhysicalDeviceQueueFamilyProperties2(
    protocol::Decoder& d, gen::GetPhysicalDeviceQueueFamilyProperties2Args& a) {
    VN_INSTANCE_DISPATCH(a, inst);
    if (!a.pQueueFamilyPropertyCount)
        return d.in.fail("vkGetPhysicalDeviceQueueFamilyProperties2 without a count");
    inst->dispatch.GetPhysicalDeviceQueueFamilyProperties2(
        a.physicalDevice.handle, a.pQueueFamilyPropertyCount, a.pQueueFamilyProperties);
    return DecodeResult::Ok;
}

DecodeResult
Executor::on_vkGetPhysicalDeviceMemoryProperties2(protocol::Decoder& d,
                                                  gen::GetPhysicalDeviceMemoryProperties2Args& a) {
    VN_INSTANCE_DISPATCH(a, inst);
    if (!a.pMemoryProperties)
        return d.in.fail("vkGetPhysicalDeviceMemoryProperties2 without pMemoryProperties");
    const ExposedChain chain(a.pMemoryProperties,
                             effective_api_version(*inst, a.physicalDevice.handle),
                             exposed_names(*inst, a.physicalDevice.handle), true);
    inst->dispatch.GetPhysicalDeviceMemoryProperties2(a.physicalDevice.handle, a.pMemoryProperties);
    return DecodeResult::Ok;
}

DecodeResult
Executor::on_vkGetPhysicalDeviceFormatProperties2(protocol::Decoder& d,
                                                  gen::GetPhysicalDeviceFormatProperties2Args& a) {
    VN_INSTANCE_DISPATCH(a, inst);
    if (!a.pFormatProperties)
        return d.in.fail("vkGetPhysicalDeviceFormatProperties2 without pFormatProperties");
    const ExposedChain chain(a.pFormatProperties,
                             effective_api_version(*inst, a.physicalDevice.handle),
                             exposed_names(*inst, a.physicalDevice.handle), true);
    inst->dispatch.GetPhysicalDeviceFormatProperties2(a.physicalDevice.handle, a.format,
                                                      a.pFormatProperties);
    return DecodeResult::Ok;
}

DecodeResult
Executor::on_vkEnumerateDeviceExtensionProperties(protocol::Decoder& d,
                                                  gen::EnumerateDeviceExtensionPropertiesArgs& a) {
    VN_INSTANCE_DISPATCH(a, inst);
    if (!a.pPropertyCount)
        return d.in.fail("vkEnumerateDeviceExtensionProperties without pPropertyCount");
    if (a.pLayerName) {
        a.ret = VK_ERROR_LAYER_NOT_PRESENT;
        return DecodeResult::Ok;
    }
    // Exposed: what the host offers AND the protocol can encode AND may come from the host, at
    // the lower of the two spec versions (virglrenderer 1.3.0 does the same).
    std::uint32_t host_count = 0;
    a.ret = inst->dispatch.EnumerateDeviceExtensionProperties(a.physicalDevice.handle, nullptr,
                                                              &host_count, nullptr);
    if (a.ret != VK_SUCCESS)
        return DecodeResult::Ok;
    const std::vector<VkExtensionProperties> exposed =
        exposed_device_extensions(*inst, a.physicalDevice.handle);
    const auto total = static_cast<std::uint32_t>(exposed.size());
    if (!a.pProperties) {
        *a.pPropertyCount = total;
        a.ret = VK_SUCCESS;
        return DecodeResult::Ok;
    }
    const std::uint32_t n = std::min(*a.pPropertyCount, total);
    std::copy_n(exposed.begin(), n, a.pProperties);
    *a.pPropertyCount = n;
    a.ret = n < total ? VK_INCOMPLETE : VK_SUCCESS;
    return DecodeResult::Ok;
}

#undef VN_INSTANCE_DISPATCH

} // namespace vn::decoder
