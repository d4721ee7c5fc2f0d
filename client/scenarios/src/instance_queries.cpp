#include "vn/scenarios/instance_queries.h"

#include <cstring>

namespace vn::scenarios {

bool PhysicalDeviceInfo::has_extension(const char* ext) const {
    for (const auto& e : extensions)
        if (std::strcmp(e.extensionName, ext) == 0)
            return true;
    return false;
}

namespace {
// A reply's extension names come from the server: each must hold its NUL.
void check_names(const std::vector<VkExtensionProperties>& list, const char* what) {
    for (const auto& e : list)
        if (::strnlen(e.extensionName, VK_MAX_EXTENSION_NAME_SIZE) == VK_MAX_EXTENSION_NAME_SIZE)
            throw Failure(std::string(what) + ": an extension name without NUL");
}

template <typename T>
T copy_from_chain(const void* chain, VkStructureType type, const char* what) {
    const auto* s = static_cast<const T*>(find_in_chain(chain, type));
    if (!s)
        throw Failure(std::string(what) + " missing from the reply's pNext chain");
    T out = *s;
    out.pNext = nullptr;
    return out;
}
} // namespace

std::uint32_t enumerate_instance_version(client::Guest& guest) {
    std::uint32_t version = 0;
    gen::EnumerateInstanceVersionArgs a;
    a.pApiVersion = &version;
    const auto r = call(guest, a);
    expect_success(r.ret, "vkEnumerateInstanceVersion");
    return *r.pApiVersion;
}

std::vector<VkExtensionProperties> enumerate_instance_extensions(client::Guest& guest) {
    std::uint32_t count = 0;
    gen::EnumerateInstanceExtensionPropertiesArgs a;
    a.pPropertyCount = &count;
    auto r = call(guest, a);
    expect_success(r.ret, "vkEnumerateInstanceExtensionProperties");
    count = *r.pPropertyCount;
    if (count > 1024)
        throw Failure("vkEnumerateInstanceExtensionProperties: implausible count");
    std::vector<VkExtensionProperties> list(count);
    a.pProperties = list.data();
    r = call(guest, a);
    expect_success(r.ret, "vkEnumerateInstanceExtensionProperties");
    if (*r.pPropertyCount > count)
        throw Failure("vkEnumerateInstanceExtensionProperties: more than asked for");
    list.assign(r.pProperties, r.pProperties + *r.pPropertyCount);
    check_names(list, "vkEnumerateInstanceExtensionProperties");
    return list;
}

Instance create_instance(Commands guest, std::uint32_t api_version) {
    Instance instance{guest.new_id(), api_version};
    VkApplicationInfo app{};
    app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
    app.pApplicationName = "vn-client";
    app.pEngineName = "vn-scenarios";
    app.apiVersion = api_version;
    VkInstanceCreateInfo info{};
    info.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
    info.pApplicationInfo = &app;
    VkInstance h = handle<VkInstance>(instance.id);
    gen::CreateInstanceArgs a;
    a.pCreateInfo = &info;
    a.pInstance = &h;
    const auto r = call(guest, a);
    expect_success(r.ret, "vkCreateInstance");
    if (protocol::handle_to_u64(*r.pInstance) != instance.id)
        throw Failure("vkCreateInstance: the reply names another instance");
    return instance;
}

void destroy_instance(client::Guest& guest, const Instance& instance) {
    gen::DestroyInstanceArgs a;
    a.instance = ref<VkInstance>(instance.id);
    send(guest, a);
}

std::vector<std::uint64_t> enumerate_physical_devices(Commands guest, const Instance& instance) {
    std::uint32_t count = 0;
    gen::EnumeratePhysicalDevicesArgs a;
    a.instance = ref<VkInstance>(instance.id);
    a.pPhysicalDeviceCount = &count;
    auto r = call(guest, a);
    expect_success(r.ret, "vkEnumeratePhysicalDevices");
    count = *r.pPhysicalDeviceCount;
    if (count == 0 || count > 64)
        throw Failure("vkEnumeratePhysicalDevices: " + std::to_string(count) + " devices");
    std::vector<std::uint64_t> ids(count);
    std::vector<VkPhysicalDevice> handles(count);
    for (std::uint32_t i = 0; i < count; ++i) {
        ids[i] = guest.new_id();
        handles[i] = handle<VkPhysicalDevice>(ids[i]);
    }
    a.pPhysicalDevices = handles.data();
    r = call(guest, a);
    expect_success(r.ret, "vkEnumeratePhysicalDevices");
    if (*r.pPhysicalDeviceCount != count)
        throw Failure("vkEnumeratePhysicalDevices: the count changed");
    for (std::uint32_t i = 0; i < count; ++i)
        if (protocol::handle_to_u64(r.pPhysicalDevices[i]) != ids[i])
            throw Failure("vkEnumeratePhysicalDevices: the reply renamed a device");
    return ids;
}

PhysicalDeviceInfo query_physical_device(Commands guest, std::uint64_t physical_device) {
    PhysicalDeviceInfo info;
    info.id = physical_device;
    const auto pd = ref<VkPhysicalDevice>(physical_device);

    {
        VkPhysicalDeviceVulkan12Properties p12{};
        p12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_PROPERTIES;
        VkPhysicalDeviceVulkan11Properties p11{};
        p11.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_PROPERTIES;
        p11.pNext = &p12;
        VkPhysicalDeviceProperties2 props{};
        props.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
        props.pNext = &p11;
        gen::GetPhysicalDeviceProperties2Args a;
        a.physicalDevice = pd;
        a.pProperties = &props;
        const auto r = call(guest, a);
        info.properties = r.pProperties->properties;
        info.properties11 = copy_from_chain<VkPhysicalDeviceVulkan11Properties>(
            r.pProperties->pNext, p11.sType, "VkPhysicalDeviceVulkan11Properties");
        info.properties12 = copy_from_chain<VkPhysicalDeviceVulkan12Properties>(
            r.pProperties->pNext, p12.sType, "VkPhysicalDeviceVulkan12Properties");
        if (::strnlen(info.properties.deviceName, VK_MAX_PHYSICAL_DEVICE_NAME_SIZE) ==
            VK_MAX_PHYSICAL_DEVICE_NAME_SIZE)
            throw Failure("vkGetPhysicalDeviceProperties2: deviceName without NUL");
    }
    {
        VkPhysicalDeviceVulkan12Features f12{};
        f12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
        VkPhysicalDeviceVulkan11Features f11{};
        f11.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES;
        f11.pNext = &f12;
        VkPhysicalDeviceFeatures2 features{};
        features.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
        features.pNext = &f11;
        gen::GetPhysicalDeviceFeatures2Args a;
        a.physicalDevice = pd;
        a.pFeatures = &features;
        const auto r = call(guest, a);
        info.features = r.pFeatures->features;
        info.features11 = copy_from_chain<VkPhysicalDeviceVulkan11Features>(
            r.pFeatures->pNext, f11.sType, "VkPhysicalDeviceVulkan11Features");
        info.features12 = copy_from_chain<VkPhysicalDeviceVulkan12Features>(
            r.pFeatures->pNext, f12.sType, "VkPhysicalDeviceVulkan12Features");
    }
    {
        std::uint32_t count = 0;
        gen::EnumerateDeviceExtensionPropertiesArgs a;
        a.physicalDevice = pd;
        a.pPropertyCount = &count;
        auto r = call(guest, a);
        expect_success(r.ret, "vkEnumerateDeviceExtensionProperties");
        count = *r.pPropertyCount;
        if (count > 4096)
            throw Failure("vkEnumerateDeviceExtensionProperties: implausible count");
        std::vector<VkExtensionProperties> list(count);
        a.pProperties = list.data();
        r = call(guest, a);
        expect_success(r.ret, "vkEnumerateDeviceExtensionProperties");
        if (*r.pPropertyCount > count)
            throw Failure("vkEnumerateDeviceExtensionProperties: more than asked for");
        info.extensions.assign(r.pProperties, r.pProperties + *r.pPropertyCount);
        check_names(info.extensions, "vkEnumerateDeviceExtensionProperties");
    }
    {
        std::uint32_t count = 0;
        gen::GetPhysicalDeviceQueueFamilyProperties2Args a;
        a.physicalDevice = pd;
        a.pQueueFamilyPropertyCount = &count;
        auto r = call(guest, a);
        count = *r.pQueueFamilyPropertyCount;
        if (count == 0 || count > 64)
            throw Failure("vkGetPhysicalDeviceQueueFamilyProperties2: implausible count");
        std::vector<VkQueueFamilyProperties2> families(count);
        for (auto& f : families)
            f.sType = VK_STRUCTURE_TYPE_QUEUE_FAMILY_PROPERTIES_2;
        a.pQueueFamilyProperties = families.data();
        r = call(guest, a);
        if (*r.pQueueFamilyPropertyCount > count)
            throw Failure("vkGetPhysicalDeviceQueueFamilyProperties2: more than asked for");
        for (std::uint32_t i = 0; i < *r.pQueueFamilyPropertyCount; ++i)
            info.queue_families.push_back(r.pQueueFamilyProperties[i].queueFamilyProperties);
    }
    {
        VkPhysicalDeviceMemoryProperties2 memory{};
        memory.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2;
        gen::GetPhysicalDeviceMemoryProperties2Args a;
        a.physicalDevice = pd;
        a.pMemoryProperties = &memory;
        info.memory = call(guest, a).pMemoryProperties->memoryProperties;
        if (info.memory.memoryTypeCount > VK_MAX_MEMORY_TYPES ||
            info.memory.memoryHeapCount > VK_MAX_MEMORY_HEAPS)
            throw Failure("vkGetPhysicalDeviceMemoryProperties2: counts out of range");
    }
    return info;
}

} // namespace vn::scenarios
