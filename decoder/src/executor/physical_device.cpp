// Physical-device queries: passed to the host driver, then trimmed to what Venus can carry.
#include "executor.h"
#include "exposed_chain.h"
#include "memory.h"
#include "vn/decoder/host_memory_probe.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
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

// The memory types whose host-visible memory we can hand the guest: those a host allocation
// (our memfd) can be imported into through VK_EXT_external_memory_host. Found the way the
// executor allocates, on a throwaway device. All ones when the driver cannot import host memory
// at all or no coherent type would be left (then nothing is hidden: Vulkan requires a
// host-visible, host-coherent type, and such a driver keeps today's behaviour).
std::uint32_t probe_mappable_types(const InstanceState& inst, VkPhysicalDevice pd,
                                   const VkPhysicalDeviceMemoryProperties& mem) {
    constexpr std::uint32_t kAll = ~0u;
    std::uint32_t count = 0;
    if (inst.dispatch.EnumerateDeviceExtensionProperties(pd, nullptr, &count, nullptr) !=
        VK_SUCCESS)
        return kAll;
    std::vector<VkExtensionProperties> props(count);
    if (inst.dispatch.EnumerateDeviceExtensionProperties(pd, nullptr, &count, props.data()) < 0)
        return kAll;
    const bool has_import = std::any_of(props.begin(), props.begin() + count, [](const auto& p) {
        return std::strcmp(p.extensionName, "VK_EXT_external_memory_host") == 0;
    });
    if (!has_import || !inst.dispatch.GetPhysicalDeviceProperties2)
        return kAll;
    VkPhysicalDeviceExternalMemoryHostPropertiesEXT host_props{};
    host_props.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_MEMORY_HOST_PROPERTIES_EXT;
    VkPhysicalDeviceProperties2 props2{};
    props2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
    props2.pNext = &host_props;
    inst.dispatch.GetPhysicalDeviceProperties2(pd, &props2);

    const float priority = 1.0f;
    VkDeviceQueueCreateInfo queue{};
    queue.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
    queue.queueCount = 1;
    queue.pQueuePriorities = &priority;
    const char* ext = "VK_EXT_external_memory_host";
    VkDeviceCreateInfo info{};
    info.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
    info.queueCreateInfoCount = 1;
    info.pQueueCreateInfos = &queue;
    info.enabledExtensionCount = 1;
    info.ppEnabledExtensionNames = &ext;
    VkDevice device = VK_NULL_HANDLE;
    if (inst.dispatch.CreateDevice(pd, &info, nullptr, &device) != VK_SUCCESS)
        return kAll;
    auto destroy =
        reinterpret_cast<PFN_vkDestroyDevice>(vkGetDeviceProcAddr(device, "vkDestroyDevice"));
    auto query = reinterpret_cast<PFN_vkGetMemoryHostPointerPropertiesEXT>(
        vkGetDeviceProcAddr(device, "vkGetMemoryHostPointerPropertiesEXT"));
    const auto page = static_cast<VkDeviceSize>(::sysconf(_SC_PAGESIZE));
    std::uint32_t bits = 0;
    if (query) {
        if (auto alloc = HostAllocation::create(static_cast<std::size_t>(
                std::max(host_props.minImportedHostPointerAlignment, page)))) {
            VkMemoryHostPointerPropertiesEXT pointer{};
            pointer.sType = VK_STRUCTURE_TYPE_MEMORY_HOST_POINTER_PROPERTIES_EXT;
            if (query(device, VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT, alloc->data(),
                      &pointer) == VK_SUCCESS)
                bits = pointer.memoryTypeBits;
        }
    }
    if (destroy)
        destroy(device, nullptr);
    constexpr VkMemoryPropertyFlags kCoherent =
        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    for (std::uint32_t i = 0; i < mem.memoryTypeCount; ++i)
        if ((bits & (1u << i)) && (mem.memoryTypes[i].propertyFlags & kCoherent) == kCoherent)
            return bits;
    return kAll;
}
// The device's and driver's UUIDs, where the instance can say (Vulkan 1.1's ID properties).
bool physical_device_uuids(const InstanceState& inst, VkPhysicalDevice pd,
                           VkPhysicalDeviceIDProperties& ids) {
    if (!inst.dispatch.GetPhysicalDeviceProperties2)
        return false;
    ids = {};
    ids.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES;
    VkPhysicalDeviceProperties2 props{};
    props.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
    props.pNext = &ids;
    inst.dispatch.GetPhysicalDeviceProperties2(pd, &props);
    // All zero: a 1.0 device ignored the struct, and zeros would match any other such device.
    return std::any_of(std::begin(ids.deviceUUID), std::end(ids.deviceUUID),
                       [](std::uint8_t b) { return b != 0; });
}

std::vector<MappableMemoryTypes>& known_types() {
    static std::vector<MappableMemoryTypes> known;
    return known;
}

std::uint32_t mappable_types_of(const InstanceState& inst, VkPhysicalDevice pd,
                                const VkPhysicalDeviceMemoryProperties& mem) {
    VkPhysicalDeviceIDProperties ids;
    if (physical_device_uuids(inst, pd, ids))
        if (auto bits = known_mappable_types(ids.driverUUID, ids.deviceUUID, mem.memoryTypeCount))
            return *bits;
    return probe_mappable_types(inst, pd, mem);
}
} // namespace

std::vector<MappableMemoryTypes> probe_host_mappable_types() {
    std::vector<MappableMemoryTypes> out;
    VkApplicationInfo app{};
    app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
    app.pApplicationName = "venus-render-server memory probe";
    app.apiVersion = VK_API_VERSION_1_1;
    VkInstanceCreateInfo info{};
    info.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
    info.pApplicationInfo = &app;
    VkInstance instance = VK_NULL_HANDLE;
    if (vkCreateInstance(&info, nullptr, &instance) != VK_SUCCESS)
        return out;
    InstanceState inst;
    gen::load(inst.dispatch, vkGetInstanceProcAddr, instance);
    if (!inst.dispatch.EnumeratePhysicalDevices ||
        !inst.dispatch.GetPhysicalDeviceMemoryProperties || !inst.dispatch.DestroyInstance ||
        !inst.dispatch.CreateDevice)
        return out; // a loader missing core 1.0 entries; workers probe for themselves
    std::uint32_t count = 0;
    std::vector<VkPhysicalDevice> devices;
    if (inst.dispatch.EnumeratePhysicalDevices(instance, &count, nullptr) == VK_SUCCESS) {
        devices.resize(count);
        if (inst.dispatch.EnumeratePhysicalDevices(instance, &count, devices.data()) < 0)
            count = 0;
    }
    for (std::uint32_t i = 0; i < count; ++i) {
        VkPhysicalDeviceIDProperties ids;
        if (!physical_device_uuids(inst, devices[i], ids))
            continue;
        VkPhysicalDeviceMemoryProperties mem{};
        inst.dispatch.GetPhysicalDeviceMemoryProperties(devices[i], &mem);
        MappableMemoryTypes entry;
        std::copy(std::begin(ids.driverUUID), std::end(ids.driverUUID), entry.driver_uuid.begin());
        std::copy(std::begin(ids.deviceUUID), std::end(ids.deviceUUID), entry.device_uuid.begin());
        entry.memory_type_count = mem.memoryTypeCount;
        entry.bits = probe_mappable_types(inst, devices[i], mem);
        out.push_back(entry);
    }
    inst.dispatch.DestroyInstance(instance, nullptr);
    return out;
}

void remember_mappable_types(std::vector<MappableMemoryTypes> known) {
    known_types() = std::move(known);
}

std::optional<std::uint32_t> known_mappable_types(const std::uint8_t* driver_uuid,
                                                  const std::uint8_t* device_uuid,
                                                  std::uint32_t memory_type_count) {
    for (const auto& k : known_types())
        if (std::equal(k.driver_uuid.begin(), k.driver_uuid.end(), driver_uuid) &&
            std::equal(k.device_uuid.begin(), k.device_uuid.end(), device_uuid) &&
            k.memory_type_count == memory_type_count)
            return k.bits;
    return std::nullopt;
}

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
