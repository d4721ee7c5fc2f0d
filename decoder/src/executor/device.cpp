// Device family: creation with the exposed extensions only, queues (and their fence timelines),
// and destruction that takes every remaining child with it.
#include "executor.h"
#include "exposed_chain.h"
#include "ring.h"

#include <cstring>
#include <vector>

namespace vn::decoder {

using protocol::DecodeResult;

namespace {
bool host_supports(const InstanceState& inst, VkPhysicalDevice pd, const char* name) {
    std::uint32_t count = 0;
    if (inst.dispatch.EnumerateDeviceExtensionProperties(pd, nullptr, &count, nullptr) !=
        VK_SUCCESS)
        return false;
    std::vector<VkExtensionProperties> props(count);
    if (inst.dispatch.EnumerateDeviceExtensionProperties(pd, nullptr, &count, props.data()) < 0)
        return false;
    for (std::uint32_t i = 0; i < count; ++i)
        if (std::strcmp(props[i].extensionName, name) == 0)
            return true;
    return false;
}

bool exposed_device_extension(const char* name) {
    for (const auto& info : gen::extensions)
        if (std::strcmp(info.name, name) == 0)
            return extension_exposable(info);
    return false;
}
} // namespace

DecodeResult Executor::check_new_id(protocol::Decoder& d, std::uint64_t id) {
    if (id == 0 || m_objects.type_of(id))
        return d.in.fail("object id " + std::to_string(id) + " is not free for a new object");
    // Creates that can return VK_ERROR_OUT_OF_HOST_MEMORY refuse before they get here
    // (refuse_new_object); the others (vkCreateInstance, pools, sets) have no such answer for
    // every case, and a guest that reaches the quota through them loses the context.
    if (at_object_quota())
        return d.in.fail("the context's object quota of " + std::to_string(m_quotas.objects) +
                         " objects is reached");
    return DecodeResult::Ok;
}

bool Executor::refuse_new_object() {
    if (!at_object_quota())
        return false;
    refused("object", 1);
    return true;
}

void Executor::refused(const char* what, std::uint64_t bytes) {
    m_counters->quota_refusals.fetch_add(1, std::memory_order_relaxed);
    const unsigned bit = what[0] == 'o' ? 1u : what[0] == 'd' ? 2u : 4u;
    if ((m_refusals_reported & bit) || !m_on_refusal)
        return;
    m_refusals_reported |= bit;
    const std::uint64_t held = bit == 1   ? m_objects.size()
                               : bit == 2 ? m_counters->device_memory.load()
                                          : m_counters->host_memory.load();
    const std::uint64_t limit = bit == 1   ? m_quotas.objects
                                : bit == 2 ? m_quotas.device_memory
                                           : m_quotas.host_memory;
    m_on_refusal(std::string(what) + " quota: refused " + std::to_string(bytes) +
                 (bit == 1 ? " object" : " bytes") + " with " + std::to_string(held) + " of " +
                 std::to_string(limit) + " held (further refusals are only counted)");
}

DecodeResult Executor::device_of(protocol::Decoder& d, std::uint64_t device_id, DeviceState*& out) {
    ObjectEntry<VkDevice>* entry = nullptr;
    VN_TRY(m_objects.get<VkDevice>(device_id, entry));
    out = static_cast<DeviceState*>(entry->state.get());
    (void)d;
    return DecodeResult::Ok;
}

DecodeResult Executor::queue_device(protocol::Decoder& d, std::uint64_t queue_id,
                                    DeviceState*& out) {
    ObjectEntry<VkQueue>* entry = nullptr;
    VN_TRY(m_objects.get<VkQueue>(queue_id, entry));
    out = static_cast<DeviceChildState*>(entry->state.get())->device;
    (void)d;
    return DecodeResult::Ok;
}

namespace {
// Whether the guest enabled hostImageCopy, and if so the two entry points only the private
// commands reach (host_image_copy.cpp). Registries before VK_EXT_host_image_copy have neither.
void load_host_image_copy(DeviceState& state, VkDevice host, const gen::EnabledApi& api,
                          const VkDeviceCreateInfo& info) {
#ifdef VN_GEN_HAS_vkCopyMemoryToImageMESA
    const bool core = api.version >= VK_MAKE_API_VERSION(0, 1, 4, 0);
    if (!core && !api.has("VK_EXT_host_image_copy"))
        return;
    bool enabled = false;
    for (auto* n = static_cast<const VkBaseInStructure*>(info.pNext); n; n = n->pNext) {
        if (n->sType == VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_HOST_IMAGE_COPY_FEATURES_EXT)
            enabled |= reinterpret_cast<const VkPhysicalDeviceHostImageCopyFeaturesEXT*>(n)
                           ->hostImageCopy != VK_FALSE;
#ifdef VK_VERSION_1_4
        if (n->sType == VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_4_FEATURES)
            enabled |=
                reinterpret_cast<const VkPhysicalDeviceVulkan14Features*>(n)->hostImageCopy !=
                VK_FALSE;
#endif
    }
    if (!enabled)
        return;
    state.copy_memory_to_image =
        vkGetDeviceProcAddr(host, core ? "vkCopyMemoryToImage" : "vkCopyMemoryToImageEXT");
    state.copy_image_to_memory =
        vkGetDeviceProcAddr(host, core ? "vkCopyImageToMemory" : "vkCopyImageToMemoryEXT");
    state.host_image_copy = state.copy_memory_to_image && state.copy_image_to_memory;
#else
    (void)state, (void)host, (void)api, (void)info;
#endif
}
} // namespace

DecodeResult Executor::on_vkCreateDevice(protocol::Decoder& d, gen::CreateDeviceArgs& a) {
    const std::uint64_t id = protocol::handle_to_u64(*a.pDevice);
    VN_TRY(check_new_id(d, id));
    const InstanceState* inst = nullptr;
    VN_TRY(instance_of(d, a.physicalDevice.id, inst));
    // Only what we expose may be enabled: the host may support more (WSI, extensions whose
    // structs Venus cannot carry), and enabling those would change what the driver expects.
    for (std::uint32_t i = 0; i < a.pCreateInfo->enabledExtensionCount; ++i) {
        if (!exposed_device_extension(a.pCreateInfo->ppEnabledExtensionNames[i])) {
            a.ret = VK_ERROR_EXTENSION_NOT_PRESENT;
            return DecodeResult::Ok;
        }
    }
    // Nothing sparse is offered (physical_device.cpp); a guest asking for it gets what a driver
    // without the feature answers.
    bool sparse =
        a.pCreateInfo->pEnabledFeatures && enables_sparse(*a.pCreateInfo->pEnabledFeatures);
    for (auto* n = static_cast<const VkBaseInStructure*>(a.pCreateInfo->pNext); n; n = n->pNext)
        if (n->sType == VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2)
            sparse |=
                enables_sparse(reinterpret_cast<const VkPhysicalDeviceFeatures2*>(n)->features);
    if (sparse) {
        a.ret = VK_ERROR_FEATURE_NOT_PRESENT;
        return DecodeResult::Ok;
    }
    VkDeviceCreateInfo info = *a.pCreateInfo;
    info.enabledLayerCount = 0;
    info.ppEnabledLayerNames = nullptr;
    // Feature structs of extensions the guest did not enable (or of a core version it does not
    // have) stay away from the driver.
    const ExposedChain chain(
        &info, effective_api_version(*inst, a.physicalDevice.handle),
        std::vector<std::string>(info.ppEnabledExtensionNames,
                                 info.ppEnabledExtensionNames + info.enabledExtensionCount),
        false);

    // Guest-mappable memory needs VK_EXT_external_memory_host on the host side: enable it
    // whether or not the guest asked (the guest never sees it).
    std::vector<const char*> extensions(info.ppEnabledExtensionNames,
                                        info.ppEnabledExtensionNames + info.enabledExtensionCount);
    VkDeviceSize import_alignment = 0;
    if (inst->dispatch.GetPhysicalDeviceProperties2 &&
        host_supports(*inst, a.physicalDevice.handle, "VK_EXT_external_memory_host")) {
        bool asked = false;
        for (const char* e : extensions)
            asked |= std::strcmp(e, "VK_EXT_external_memory_host") == 0;
        if (!asked)
            extensions.push_back("VK_EXT_external_memory_host");
        VkPhysicalDeviceExternalMemoryHostPropertiesEXT host_props{};
        host_props.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_MEMORY_HOST_PROPERTIES_EXT;
        VkPhysicalDeviceProperties2 props{};
        props.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
        props.pNext = &host_props;
        inst->dispatch.GetPhysicalDeviceProperties2(a.physicalDevice.handle, &props);
        import_alignment = host_props.minImportedHostPointerAlignment;
    }
    // An emulated VK_KHR_external_semaphore_fd (exposed_chain.h) is ours, not the driver's,
    // where the driver does not have it at all.
    const bool emulated_sync_fd = emulates_semaphore_sync_fd(*inst, a.physicalDevice.handle);
    bool semaphore_fd_enabled = false;
    for (const char* e : extensions)
        semaphore_fd_enabled |= std::strcmp(e, kSemaphoreFdExtension) == 0;
    if (semaphore_fd_enabled && emulated_sync_fd &&
        !host_supports(*inst, a.physicalDevice.handle, kSemaphoreFdExtension))
        std::erase_if(extensions,
                      [](const char* e) { return std::strcmp(e, kSemaphoreFdExtension) == 0; });
    info.enabledExtensionCount = static_cast<std::uint32_t>(extensions.size());
    info.ppEnabledExtensionNames = extensions.data();

    VkDevice host = VK_NULL_HANDLE;
    a.ret = inst->dispatch.CreateDevice(a.physicalDevice.handle, &info, nullptr, &host);
    if (a.ret != VK_SUCCESS)
        return DecodeResult::Ok;
    auto state = std::make_unique<DeviceState>();
    state->instance = inst;
    state->host_import_alignment = import_alignment;
    state->emulated_semaphore_sync_fd = semaphore_fd_enabled && emulated_sync_fd;
    state->strip_semaphore_sync_fd_export = emulated_sync_fd;
    inst->dispatch.GetPhysicalDeviceMemoryProperties(a.physicalDevice.handle, &state->memory);
    VkPhysicalDeviceProperties props{};
    inst->dispatch.GetPhysicalDeviceProperties(a.physicalDevice.handle, &props);
    state->limits = props.limits;
    state->gate_last_batch = std::strncmp(props.deviceName, "llvmpipe", 8) == 0;
    state->handle = host;
    // Entry points through the names the device was created for: a command promoted to core
    // after the device's version resolves only by its extension name (vkCmdSetStencilOpEXT on a
    // 1.2 device), and one the guest did not enable stays null.
    gen::EnabledApi api;
    api.version = effective_api_version(*inst, a.physicalDevice.handle);
    api.extensions.assign(a.pCreateInfo->ppEnabledExtensionNames,
                          a.pCreateInfo->ppEnabledExtensionNames +
                              a.pCreateInfo->enabledExtensionCount);
    gen::load(state->dispatch, vkGetDeviceProcAddr, host, api);
    if (gen::missing_core_entry(state->dispatch) != nullptr) {
        // Handlers call core 1.0 entries without looking: a driver that does not resolve one
        // cannot serve this device.
        if (state->dispatch.DestroyDevice)
            state->dispatch.DestroyDevice(host, nullptr);
        a.ret = VK_ERROR_INITIALIZATION_FAILED;
        return DecodeResult::Ok;
    }
    for (std::uint32_t type = 0; type < gen::command_type_count; ++type)
        state->entries[type] = gen::entry_present(state->dispatch, gen::CommandType(type));
    state->get_host_pointer_properties = reinterpret_cast<PFN_vkGetMemoryHostPointerPropertiesEXT>(
        vkGetDeviceProcAddr(host, "vkGetMemoryHostPointerPropertiesEXT"));
    if (!state->get_host_pointer_properties)
        state->host_import_alignment = 0;
    // Entry points of extensions the guest enabled, outside the protocol's dispatch table.
    state->get_memory_fd_properties = reinterpret_cast<PFN_vkGetMemoryFdPropertiesKHR>(
        vkGetDeviceProcAddr(host, "vkGetMemoryFdPropertiesKHR"));
    state->get_fence_fd =
        reinterpret_cast<PFN_vkGetFenceFdKHR>(vkGetDeviceProcAddr(host, "vkGetFenceFdKHR"));
    state->get_semaphore_fd =
        reinterpret_cast<PFN_vkGetSemaphoreFdKHR>(vkGetDeviceProcAddr(host, "vkGetSemaphoreFdKHR"));
    state->import_semaphore_fd = reinterpret_cast<PFN_vkImportSemaphoreFdKHR>(
        vkGetDeviceProcAddr(host, "vkImportSemaphoreFdKHR"));
    for (const char* e : extensions)
        state->dma_buf_import |= std::strcmp(e, "VK_EXT_external_memory_dma_buf") == 0;
    load_host_image_copy(*state, host, api, info);
    for (auto* n = static_cast<const VkBaseInStructure*>(info.pNext); n; n = n->pNext)
        if (n->sType == VK_STRUCTURE_TYPE_DEVICE_GROUP_DEVICE_CREATE_INFO)
            state->group_size = std::max(
                1u, reinterpret_cast<const VkDeviceGroupDeviceCreateInfo*>(n)->physicalDeviceCount);
    if (api.has("VK_EXT_transform_feedback") && inst->dispatch.GetPhysicalDeviceProperties2) {
        VkPhysicalDeviceTransformFeedbackPropertiesEXT xfb{};
        xfb.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TRANSFORM_FEEDBACK_PROPERTIES_EXT;
        VkPhysicalDeviceProperties2 props2{};
        props2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
        props2.pNext = &xfb;
        inst->dispatch.GetPhysicalDeviceProperties2(a.physicalDevice.handle, &props2);
        state->xfb_buffers = xfb.maxTransformFeedbackBuffers;
        state->xfb_streams = xfb.maxTransformFeedbackStreams;
    }
    return m_objects.add<VkDevice>(id, host, std::move(state));
}

void Executor::destroy_children(DeviceState& dev, VkDevice host) {
    // Fence-thread waits on this device end before it does.
    for (auto& [ring_idx, thread] : m_fence_threads)
        thread->drain(host);
    // Pools take the command buffers allocated from them; queues and command buffers have no
    // destroy of their own and are only forgotten.
    std::vector<std::pair<std::uint64_t, VkObjectType>> children(dev.children.begin(),
                                                                 dev.children.end());
    for (const auto& [id, type] : children) {
        std::uint64_t handle = 0;
        // type_of first: a failed resolve would mark the context fatal during cleanup.
        if (m_objects.type_of(id) == type &&
            m_objects.resolve(type, id, handle) == DecodeResult::Ok)
            (void)gen::destroy_device_child(dev.dispatch, host, type, handle);
        (void)m_objects.remove(type, id);
    }
    dev.children.clear();
    dev.memory_sizes.clear();
    dev.buffers.clear();
    dev.images.clear();
    dev.query_pools.clear();
    dev.views.clear();
    dev.render_passes.clear();
    dev.framebuffers.clear();
    dev.sets.clear();
    dev.pipeline_layouts.clear();
    dev.set_layouts.clear();
    dev.semaphores.clear();
    dev.signalled_imports = 0;
    dev.timeline_semaphores = 0;
    for (const auto& [queue, gate] : dev.batch_gates)
        dev.dispatch.DestroySemaphore(host, gate, nullptr);
    dev.batch_gates.clear();
}

DecodeResult Executor::device_entry(protocol::Decoder& d, const protocol::Ref<VkDevice>& device,
                                    const gen::DeviceDispatch*& out) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, device.id, dev));
    out = &dev->dispatch;
    return DecodeResult::Ok;
}

DecodeResult Executor::entry_missing(protocol::Decoder& d, gen::CommandType type) {
    const char* name = gen::command_name(static_cast<std::uint32_t>(type));
    return d.in.fail(std::string(name ? name : "command") +
                     " is not enabled on this device (it needs " + gen::entry_requirement(type) +
                     ")");
}

DecodeResult Executor::require_entry(protocol::Decoder& d, gen::CommandType type,
                                     const protocol::Ref<VkDevice>& device) {
    if (device.id == 0)
        return DecodeResult::Ok; // a null device: the handler decides (destroy of null is a no-op)
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, device.id, dev));
    return dev->entries[static_cast<std::size_t>(type)] ? DecodeResult::Ok : entry_missing(d, type);
}

DecodeResult Executor::require_entry(protocol::Decoder& d, gen::CommandType type,
                                     const protocol::Ref<VkQueue>& queue) {
    DeviceState* dev = nullptr;
    VN_TRY(queue_device(d, queue.id, dev));
    return dev->entries[static_cast<std::size_t>(type)] ? DecodeResult::Ok : entry_missing(d, type);
}

DecodeResult Executor::new_device_child(protocol::Decoder& d, std::uint64_t id) {
    // At the quota, the generated create refuses right after this (refuse_new_object).
    if (at_object_quota())
        return DecodeResult::Ok;
    return check_new_id(d, id);
}

DecodeResult Executor::device_child_created(protocol::Decoder& d,
                                            const protocol::Ref<VkDevice>& device,
                                            VkObjectType type, std::uint64_t id,
                                            std::uint64_t host) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, device.id, dev));
    VN_TRY(m_objects.add(type, id, host));
    // The generic add has no state hook: attach the owner the same way the typed one does.
    dev->children.emplace(id, type);
    return DecodeResult::Ok;
}

DecodeResult Executor::check_device_child(protocol::Decoder& d,
                                          const protocol::Ref<VkDevice>& device, VkObjectType type,
                                          std::uint64_t id) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, device.id, dev));
    const auto it = dev->children.find(id);
    if (it == dev->children.end() || it->second != type)
        return d.in.fail("object id " + std::to_string(id) +
                         " is not an object of that type on this device");
    return DecodeResult::Ok;
}

DecodeResult Executor::device_child_destroyed(protocol::Decoder& d,
                                              const protocol::Ref<VkDevice>& device,
                                              VkObjectType type, std::uint64_t id) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, device.id, dev));
    dev->children.erase(id);
    return m_objects.remove(type, id);
}

DecodeResult Executor::on_vkDestroyDevice(protocol::Decoder& d, gen::DestroyDeviceArgs& a) {
    if (!a.device.id)
        return DecodeResult::Ok;
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    destroy_children(*dev, a.device.handle);
    dev->dispatch.DestroyDevice(a.device.handle, nullptr);
    return m_objects.remove<VkDevice>(a.device.id);
}

DecodeResult Executor::on_vkGetDeviceQueue2(protocol::Decoder& d, gen::GetDeviceQueue2Args& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    const std::uint64_t id = protocol::handle_to_u64(*a.pQueue);
    // The Venus timeline binding is ours; the host driver gets the chain without it.
    VkDeviceQueueInfo2 info = *a.pQueueInfo;
    std::uint32_t ring_idx = 0;
    info.pNext = nullptr;
    for (auto* n = static_cast<const VkBaseInStructure*>(a.pQueueInfo->pNext); n; n = n->pNext) {
        if (n->sType == VK_STRUCTURE_TYPE_DEVICE_QUEUE_TIMELINE_INFO_MESA)
            ring_idx = reinterpret_cast<const VkDeviceQueueTimelineInfoMESA*>(n)->ringIdx;
    }
    VkQueue host = VK_NULL_HANDLE;
    dev->dispatch.GetDeviceQueue2(a.device.handle, &info, &host);
    if (!host)
        return d.in.fail("vkGetDeviceQueue2: the device has no such queue");
    if (auto* known = m_objects.find<VkQueue>(id)) {
        // Asking for the same queue again is allowed, under the same id only.
        if (known->handle != host)
            return d.in.fail("vkGetDeviceQueue2: id " + std::to_string(id) +
                             " names another queue");
        return DecodeResult::Ok;
    }
    VN_TRY(check_new_id(d, id));
    VN_TRY(add_child<VkQueue>(*dev, id, host));
    static_cast<DeviceChildState*>(m_objects.find<VkQueue>(id)->state.get())->ring_idx = ring_idx;
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkDeviceWaitIdle(protocol::Decoder& d, gen::DeviceWaitIdleArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    a.ret = dev->dispatch.DeviceWaitIdle(a.device.handle);
    return DecodeResult::Ok;
}

DecodeResult
Executor::on_vkGetDeviceGroupPeerMemoryFeatures(protocol::Decoder& d,
                                                gen::GetDeviceGroupPeerMemoryFeaturesArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    // Drivers look the answer up in per-heap, per-device tables.
    if (a.heapIndex >= dev->memory.memoryHeapCount || a.localDeviceIndex >= dev->group_size ||
        a.remoteDeviceIndex >= dev->group_size || !a.pPeerMemoryFeatures)
        return d.in.fail("vkGetDeviceGroupPeerMemoryFeatures: heap " + std::to_string(a.heapIndex) +
                         ", devices " + std::to_string(a.localDeviceIndex) + " and " +
                         std::to_string(a.remoteDeviceIndex) + " of a device with " +
                         std::to_string(dev->memory.memoryHeapCount) + " heaps and " +
                         std::to_string(dev->group_size) + " devices");
    dev->dispatch.GetDeviceGroupPeerMemoryFeatures(a.device.handle, a.heapIndex, a.localDeviceIndex,
                                                   a.remoteDeviceIndex, a.pPeerMemoryFeatures);
    return DecodeResult::Ok;
}

} // namespace vn::decoder
