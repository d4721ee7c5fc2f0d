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

namespace {
// A guest chain on its way into the driver: structs of extensions (or core versions) the guest
// cannot have on this device stay out of the call.
ExposedChain input_chain(const InstanceState& inst, VkPhysicalDevice pd, const void* head) {
    return ExposedChain(head, effective_api_version(inst, pd), exposed_names(inst, pd), false);
}
ExposedChain output_chain(const InstanceState& inst, VkPhysicalDevice pd, const void* head) {
    return ExposedChain(head, effective_api_version(inst, pd), exposed_names(inst, pd), true);
}
bool exposes(const InstanceState& inst, VkPhysicalDevice pd, const char* name) {
    const std::vector<std::string> names = exposed_names(inst, pd);
    return std::find(names.begin(), names.end(), name) != names.end();
}
} // namespace

DecodeResult Executor::on_vkGetPhysicalDeviceImageFormatProperties2(
    protocol::Decoder& d, gen::GetPhysicalDeviceImageFormatProperties2Args& a) {
    VN_INSTANCE_DISPATCH(a, inst);
    if (!a.pImageFormatInfo || !a.pImageFormatProperties)
        return d.in.fail("vkGetPhysicalDeviceImageFormatProperties2 without its info or output");
    const VkPhysicalDevice pd = a.physicalDevice.handle;
    const ExposedChain in = input_chain(*inst, pd, a.pImageFormatInfo);
    const ExposedChain out = output_chain(*inst, pd, a.pImageFormatProperties);
    a.ret = inst->dispatch.GetPhysicalDeviceImageFormatProperties2(pd, a.pImageFormatInfo,
                                                                   a.pImageFormatProperties);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkGetPhysicalDeviceSparseImageFormatProperties2(
    protocol::Decoder& d, gen::GetPhysicalDeviceSparseImageFormatProperties2Args& a) {
    VN_INSTANCE_DISPATCH(a, inst);
    if (!a.pFormatInfo)
        return d.in.fail("vkGetPhysicalDeviceSparseImageFormatProperties2 without pFormatInfo");
    // The decoder sized pProperties by the guest's count (or left it null for a count query),
    // so the driver writes no further than that.
    const ExposedChain in = input_chain(*inst, a.physicalDevice.handle, a.pFormatInfo);
    inst->dispatch.GetPhysicalDeviceSparseImageFormatProperties2(
        a.physicalDevice.handle, a.pFormatInfo, a.pPropertyCount, a.pProperties);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkGetPhysicalDeviceExternalBufferProperties(
    protocol::Decoder& d, gen::GetPhysicalDeviceExternalBufferPropertiesArgs& a) {
    VN_INSTANCE_DISPATCH(a, inst);
    if (!a.pExternalBufferInfo || !a.pExternalBufferProperties)
        return d.in.fail("vkGetPhysicalDeviceExternalBufferProperties without its info or output");
    const VkPhysicalDevice pd = a.physicalDevice.handle;
    const ExposedChain in = input_chain(*inst, pd, a.pExternalBufferInfo);
    const ExposedChain out = output_chain(*inst, pd, a.pExternalBufferProperties);
    inst->dispatch.GetPhysicalDeviceExternalBufferProperties(pd, a.pExternalBufferInfo,
                                                             a.pExternalBufferProperties);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkGetPhysicalDeviceExternalFenceProperties(
    protocol::Decoder& d, gen::GetPhysicalDeviceExternalFencePropertiesArgs& a) {
    VN_INSTANCE_DISPATCH(a, inst);
    if (!a.pExternalFenceInfo || !a.pExternalFenceProperties)
        return d.in.fail("vkGetPhysicalDeviceExternalFenceProperties without its info or output");
    const VkPhysicalDevice pd = a.physicalDevice.handle;
    const ExposedChain in = input_chain(*inst, pd, a.pExternalFenceInfo);
    const ExposedChain out = output_chain(*inst, pd, a.pExternalFenceProperties);
    inst->dispatch.GetPhysicalDeviceExternalFenceProperties(pd, a.pExternalFenceInfo,
                                                            a.pExternalFenceProperties);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkGetPhysicalDeviceExternalSemaphoreProperties(
    protocol::Decoder& d, gen::GetPhysicalDeviceExternalSemaphorePropertiesArgs& a) {
    VN_INSTANCE_DISPATCH(a, inst);
    if (!a.pExternalSemaphoreInfo || !a.pExternalSemaphoreProperties)
        return d.in.fail(
            "vkGetPhysicalDeviceExternalSemaphoreProperties without its info or output");
    const VkPhysicalDevice pd = a.physicalDevice.handle;
    const ExposedChain in = input_chain(*inst, pd, a.pExternalSemaphoreInfo);
    const ExposedChain out = output_chain(*inst, pd, a.pExternalSemaphoreProperties);
    inst->dispatch.GetPhysicalDeviceExternalSemaphoreProperties(pd, a.pExternalSemaphoreInfo,
                                                                a.pExternalSemaphoreProperties);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkGetPhysicalDeviceCalibrateableTimeDomainsEXT(
    protocol::Decoder& d, gen::GetPhysicalDeviceCalibrateableTimeDomainsEXTArgs& a) {
    VN_INSTANCE_DISPATCH(a, inst);
    if (!a.pTimeDomainCount)
        return d.in.fail("vkGetPhysicalDeviceCalibrateableTimeDomainsEXT without a count");
    // The loader answers for any physical device; only one that exposes the extension may be
    // asked (the entry point is the device extension's).
    const VkPhysicalDevice pd = a.physicalDevice.handle;
    if (!inst->dispatch.GetPhysicalDeviceCalibrateableTimeDomainsEXT ||
        (!exposes(*inst, pd, "VK_EXT_calibrated_timestamps") &&
         !exposes(*inst, pd, "VK_KHR_calibrated_timestamps")))
        return d.in.fail("vkGetPhysicalDeviceCalibrateableTimeDomainsEXT on a device without "
                         "calibrated timestamps");
    a.ret = inst->dispatch.GetPhysicalDeviceCalibrateableTimeDomainsEXT(pd, a.pTimeDomainCount,
                                                                        a.pTimeDomains);
    return DecodeResult::Ok;
}

#undef VN_INSTANCE_DISPATCH

} // namespace vn::decoder
