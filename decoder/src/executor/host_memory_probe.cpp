// Which memory types' host-visible memory a guest may map (vn/decoder/host_memory_probe.h): the
// probe on a throwaway device, the table a server learns once, and the lookup contexts make.
#include "vn/decoder/host_memory_probe.h"

#include "driver_pin.h"
#include "executor.h"
#include "memory.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace vn::decoder {

namespace {

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

} // namespace

std::uint32_t mappable_types_of(const InstanceState& inst, VkPhysicalDevice pd,
                                const VkPhysicalDeviceMemoryProperties& mem) {
    VkPhysicalDeviceIDProperties ids;
    if (physical_device_uuids(inst, pd, ids))
        if (auto bits = known_mappable_types(ids.driverUUID, ids.deviceUUID, mem.memoryTypeCount))
            return *bits;
    return probe_mappable_types(inst, pd, mem);
}

std::vector<MappableMemoryTypes> probe_host_mappable_types() {
    std::vector<MappableMemoryTypes> out;
    VkInstance instance = VK_NULL_HANDLE;
    if (create_server_instance("venus-render-server memory probe", VK_API_VERSION_1_1, instance) !=
        VK_SUCCESS)
        return out;
    InstanceState inst;
    gen::load(inst.dispatch, vkGetInstanceProcAddr, instance);
    if (!inst.dispatch.EnumeratePhysicalDevices ||
        !inst.dispatch.GetPhysicalDeviceMemoryProperties || !inst.dispatch.CreateDevice) {
        vkDestroyInstance(instance, nullptr); // missing core 1.0 entries: workers probe themselves
        return out;
    }
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
    vkDestroyInstance(instance, nullptr);
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

} // namespace vn::decoder
