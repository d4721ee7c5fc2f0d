// Physical-device queries: passed to the host driver, then trimmed to what Venus can carry.
#include "executor.h"
#include "exposed_chain.h"

#include <algorithm>
#include <vector>

namespace vn::decoder {

using protocol::DecodeResult;

namespace {
// Sparse binding is not offered: vkQueueBindSparse is not executed (every bind range would need
// checking against its memory, and lavapipe, the driver our tests run on, has no sparse support
// to test it with), so nothing sparse is advertised and a guest never gets to ask for it.
void cap_device_properties(VkPhysicalDeviceProperties& p) {
    p.apiVersion = Executor::cap_api_version(p.apiVersion);
    p.sparseProperties = {};
}
const std::vector<std::string>& exposed_names(const InstanceState& inst, VkPhysicalDevice pd) {
    return exposed_device_extension_names(inst, pd);
}
} // namespace

void hide_sparse_features(VkPhysicalDeviceFeatures& f) {
    f.sparseBinding = VK_FALSE;
    f.sparseResidencyBuffer = VK_FALSE;
    f.sparseResidencyImage2D = VK_FALSE;
    f.sparseResidencyImage3D = VK_FALSE;
    f.sparseResidency2Samples = VK_FALSE;
    f.sparseResidency4Samples = VK_FALSE;
    f.sparseResidency8Samples = VK_FALSE;
    f.sparseResidency16Samples = VK_FALSE;
    f.sparseResidencyAliased = VK_FALSE;
}

bool enables_sparse(const VkPhysicalDeviceFeatures& f) {
    return f.sparseBinding || f.sparseResidencyBuffer || f.sparseResidencyImage2D ||
           f.sparseResidencyImage3D || f.sparseResidency2Samples || f.sparseResidency4Samples ||
           f.sparseResidency8Samples || f.sparseResidency16Samples || f.sparseResidencyAliased;
}

#define VN_INSTANCE_DISPATCH(a, inst)                                                              \
    const InstanceState* inst = nullptr;                                                           \
    VN_TRY(instance_of(d, (a).physicalDevice.id, inst))

DecodeResult Executor::on_vkGetPhysicalDeviceProperties(protocol::Decoder& d,
                                                        gen::GetPhysicalDevicePropertiesArgs& a) {
    VN_INSTANCE_DISPATCH(a, inst);
    if (!a.pProperties)
        return d.in.fail("vkGetPhysicalDeviceProperties without pProperties");
    inst->dispatch.GetPhysicalDeviceProperties(a.physicalDevice.handle, a.pProperties);
    cap_device_properties(*a.pProperties);
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
    cap_device_properties(a.pProperties->properties);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkGetPhysicalDeviceFeatures(protocol::Decoder& d,
                                                      gen::GetPhysicalDeviceFeaturesArgs& a) {
    VN_INSTANCE_DISPATCH(a, inst);
    if (!a.pFeatures)
        return d.in.fail("vkGetPhysicalDeviceFeatures without pFeatures");
    inst->dispatch.GetPhysicalDeviceFeatures(a.physicalDevice.handle, a.pFeatures);
    hide_sparse_features(*a.pFeatures);
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
    hide_sparse_features(a.pFeatures->features);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkGetPhysicalDeviceQueueFamilyProperties2(
    protocol::Decoder& d, gen::GetPhysicalDeviceQueueFamilyProperties2Args& a) {
    VN_INSTANCE_DISPATCH(a, inst);
    if (!a.pQueueFamilyPropertyCount)
        return d.in.fail("vkGetPhysicalDeviceQueueFamilyProperties2 without a count");
    inst->dispatch.GetPhysicalDeviceQueueFamilyProperties2(
        a.physicalDevice.handle, a.pQueueFamilyPropertyCount, a.pQueueFamilyProperties);
    if (a.pQueueFamilyProperties)
        for (std::uint32_t i = 0; i < *a.pQueueFamilyPropertyCount; ++i)
            a.pQueueFamilyProperties[i].queueFamilyProperties.queueFlags &=
                ~VkQueueFlags{VK_QUEUE_SPARSE_BINDING_BIT};
    return DecodeResult::Ok;
}

namespace {
constexpr VkMemoryPropertyFlags kHostFlags = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                             VK_MEMORY_PROPERTY_HOST_COHERENT_BIT |
                                             VK_MEMORY_PROPERTY_HOST_CACHED_BIT;

} // namespace

DecodeResult
Executor::on_vkGetPhysicalDeviceMemoryProperties2(protocol::Decoder& d,
                                                  gen::GetPhysicalDeviceMemoryProperties2Args& a) {
    VN_INSTANCE_DISPATCH(a, inst);
    if (!a.pMemoryProperties)
        return d.in.fail("vkGetPhysicalDeviceMemoryProperties2 without pMemoryProperties");
    {
        const ExposedChain chain(a.pMemoryProperties,
                                 effective_api_version(*inst, a.physicalDevice.handle),
                                 exposed_names(*inst, a.physicalDevice.handle), true);
        inst->dispatch.GetPhysicalDeviceMemoryProperties2(a.physicalDevice.handle,
                                                          a.pMemoryProperties);
    }
    // A host-visible type whose memory we cannot hand the guest (NVIDIA's device-local
    // host-visible type takes no imported host memory) is offered as device memory only: the
    // guest would map it and wait forever for a blob that cannot be made.
    ObjectEntry<VkPhysicalDevice>* entry = nullptr;
    VN_TRY(m_objects.get<VkPhysicalDevice>(a.physicalDevice.id, entry));
    auto* pds = static_cast<PhysicalDeviceState*>(entry->state.get());
    VkPhysicalDeviceMemoryProperties& mem = a.pMemoryProperties->memoryProperties;
    if (!pds->mappable_types)
        pds->mappable_types = mappable_types_of(*inst, a.physicalDevice.handle, mem);
    for (std::uint32_t i = 0; i < mem.memoryTypeCount && i < VK_MAX_MEMORY_TYPES; ++i)
        if (!(*pds->mappable_types & (1u << i)))
            mem.memoryTypes[i].propertyFlags &= ~kHostFlags;
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
    const std::vector<VkExtensionProperties>& exposed =
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
    if (a.pImageFormatInfo->flags & kSparseImageFlags) {
        a.ret = VK_ERROR_FORMAT_NOT_SUPPORTED; // nothing sparse is offered (cap_device_properties)
        return DecodeResult::Ok;
    }
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
    // No format has sparse properties: nothing sparse is offered (cap_device_properties).
    if (!a.pPropertyCount)
        return d.in.fail("vkGetPhysicalDeviceSparseImageFormatProperties2 without a count");
    *a.pPropertyCount = 0;
    (void)inst;
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
    if (a.pExternalSemaphoreInfo->handleType == VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT &&
        emulates_semaphore_sync_fd(*inst, pd)) {
        // sync_resource.cpp does what the protocol asks of a binary semaphore's sync_fd; a
        // timeline semaphore has no sync_fd payload at all.
        bool timeline = false;
        for (auto* n = static_cast<const VkBaseInStructure*>(a.pExternalSemaphoreInfo->pNext); n;
             n = n->pNext)
            if (n->sType == VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO)
                timeline = reinterpret_cast<const VkSemaphoreTypeCreateInfo*>(n)->semaphoreType ==
                           VK_SEMAPHORE_TYPE_TIMELINE;
        VkExternalSemaphoreProperties& props = *a.pExternalSemaphoreProperties;
        const VkExternalSemaphoreHandleTypeFlags types =
            timeline ? 0 : VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT;
        props.exportFromImportedHandleTypes = types;
        props.compatibleHandleTypes = types;
        props.externalSemaphoreFeatures = timeline
                                              ? 0
                                              : VK_EXTERNAL_SEMAPHORE_FEATURE_EXPORTABLE_BIT |
                                                    VK_EXTERNAL_SEMAPHORE_FEATURE_IMPORTABLE_BIT;
        return DecodeResult::Ok;
    }
    const ExposedChain in = input_chain(*inst, pd, a.pExternalSemaphoreInfo);
    const ExposedChain out = output_chain(*inst, pd, a.pExternalSemaphoreProperties);
    inst->dispatch.GetPhysicalDeviceExternalSemaphoreProperties(pd, a.pExternalSemaphoreInfo,
                                                                a.pExternalSemaphoreProperties);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkGetPhysicalDeviceCalibrateableTimeDomainsKHR(
    protocol::Decoder& d, gen::GetPhysicalDeviceCalibrateableTimeDomainsKHRArgs& a) {
    VN_INSTANCE_DISPATCH(a, inst);
    if (!a.pTimeDomainCount)
        return d.in.fail("vkGetPhysicalDeviceCalibrateableTimeDomainsKHR without a count");
    // The loader answers for any physical device; only one that exposes the extension may be
    // asked (the entry point is the device extension's).
    const VkPhysicalDevice pd = a.physicalDevice.handle;
    if (!inst->dispatch.GetPhysicalDeviceCalibrateableTimeDomainsKHR ||
        (!exposes(*inst, pd, "VK_EXT_calibrated_timestamps") &&
         !exposes(*inst, pd, "VK_KHR_calibrated_timestamps")))
        return d.in.fail("vkGetPhysicalDeviceCalibrateableTimeDomainsKHR on a device without "
                         "calibrated timestamps");
    a.ret = inst->dispatch.GetPhysicalDeviceCalibrateableTimeDomainsKHR(pd, a.pTimeDomainCount,
                                                                        a.pTimeDomains);
    return DecodeResult::Ok;
}

#undef VN_INSTANCE_DISPATCH

} // namespace vn::decoder
