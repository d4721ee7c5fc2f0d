// Instance family: the only commands a guest can send before it has any object.
#include "driver_pin.h"
#include "executor.h"
#include "vn/decoder/driver_preload.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace vn::decoder {

using protocol::DecodeResult;

namespace {

// The instance extensions a Venus renderer itself provides; the guest driver asks for them, the
// host driver never sees them.
struct VenusExtension {
    const char* name;
};
constexpr VenusExtension venus_instance_extensions[] = {
    {"VK_EXT_command_serialization"},
    {"VK_MESA_venus_protocol"},
};

// The Venus extensions are implemented here, not described by the registry in use (which may
// only have a placeholder for them), so their versions come straight from the protocol table.
std::uint32_t venus_spec_version(const char* name) {
    for (const auto& info : gen::extensions)
        if (std::strcmp(info.name, name) == 0)
            return info.spec_version;
    return 0;
}

bool is_venus_extension(const char* name) {
    for (const auto& e : venus_instance_extensions)
        if (std::strcmp(e.name, name) == 0)
            return true;
    return false;
}

} // namespace

std::uint32_t guest_instance_version() {
    return Executor::cap_api_version(host_instance_version());
}

DecodeResult Executor::on_vkEnumerateInstanceVersion(protocol::Decoder& d,
                                                     gen::EnumerateInstanceVersionArgs& a) {
    if (!a.pApiVersion)
        return d.in.fail("vkEnumerateInstanceVersion without pApiVersion");
    // The loader's answer, asked once per process (driver_preload.h).
    a.ret = VK_SUCCESS;
    *a.pApiVersion = guest_instance_version();
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkEnumerateInstanceExtensionProperties(
    protocol::Decoder& d, gen::EnumerateInstanceExtensionPropertiesArgs& a) {
    if (!a.pPropertyCount)
        return d.in.fail("vkEnumerateInstanceExtensionProperties without pPropertyCount");
    if (a.pLayerName) {
        // No layers are exposed to guests.
        a.ret = VK_ERROR_LAYER_NOT_PRESENT;
        return DecodeResult::Ok;
    }
    constexpr std::uint32_t total = std::size(venus_instance_extensions);
    if (!a.pProperties) {
        *a.pPropertyCount = total;
        a.ret = VK_SUCCESS;
        return DecodeResult::Ok;
    }
    const std::uint32_t n = std::min(*a.pPropertyCount, total);
    for (std::uint32_t i = 0; i < n; ++i) {
        VkExtensionProperties& p = a.pProperties[i];
        std::memset(p.extensionName, 0, sizeof(p.extensionName));
        std::strncpy(p.extensionName, venus_instance_extensions[i].name,
                     sizeof(p.extensionName) - 1);
        p.specVersion = venus_spec_version(venus_instance_extensions[i].name);
    }
    *a.pPropertyCount = n;
    a.ret = n < total ? VK_INCOMPLETE : VK_SUCCESS;
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCreateInstance(protocol::Decoder& d, gen::CreateInstanceArgs& a) {
    const std::uint64_t id = protocol::handle_to_u64(*a.pInstance);
    if (id == 0 || m_objects.type_of(id))
        return d.in.fail("vkCreateInstance: object id " + std::to_string(id) + " is not free");

    // The Venus extensions are ours; everything else is passed on for the host to accept or not.
    VkInstanceCreateInfo info = *a.pCreateInfo;
    std::vector<const char*> extensions;
    for (std::uint32_t i = 0; i < info.enabledExtensionCount; ++i)
        if (!is_venus_extension(info.ppEnabledExtensionNames[i]))
            extensions.push_back(info.ppEnabledExtensionNames[i]);
    info.enabledExtensionCount = static_cast<std::uint32_t>(extensions.size());
    info.ppEnabledExtensionNames = extensions.data();
    // Layers are a host-side debugging tool, never a guest's choice.
    info.enabledLayerCount = 0;
    info.ppEnabledLayerNames = nullptr;

    VkApplicationInfo app{};
    std::uint32_t api = VK_API_VERSION_1_0;
    if (info.pApplicationInfo) {
        app = *info.pApplicationInfo;
        api = cap_api_version(app.apiVersion ? app.apiVersion : VK_API_VERSION_1_0);
        app.apiVersion = api;
        info.pApplicationInfo = &app;
    }

    VkInstance host = VK_NULL_HANDLE;
    a.ret = create_instance_with_drivers_pinned(
        [&] { return m_global.CreateInstance(&info, nullptr, &host); });
    if (a.ret != VK_SUCCESS)
        return DecodeResult::Ok;
    auto state = std::make_unique<InstanceState>();
    gen::load(state->dispatch, vkGetInstanceProcAddr, host);
    state->api_version = api;
    return m_objects.add<VkInstance>(id, host, std::move(state));
}

DecodeResult Executor::on_vkDestroyInstance(protocol::Decoder& d, gen::DestroyInstanceArgs& a) {
    if (!a.instance.id)
        return DecodeResult::Ok;
    ObjectEntry<VkInstance>* entry = nullptr;
    VN_TRY(m_objects.get<VkInstance>(a.instance.id, entry));
    auto* state = static_cast<InstanceState*>(entry->state.get());
    // Physical devices die with their instance: forget every one that came from it.
    std::vector<std::uint64_t> children;
    for (const auto& [pd_id, pd] : m_objects.table<VkPhysicalDevice>())
        if (static_cast<const PhysicalDeviceState*>(pd.state.get())->instance == state)
            children.push_back(pd_id);
    for (std::uint64_t child : children)
        VN_TRY(m_objects.remove<VkPhysicalDevice>(child));
    state->dispatch.DestroyInstance(a.instance.handle, nullptr);
    (void)d;
    return m_objects.remove<VkInstance>(a.instance.id);
}

DecodeResult Executor::on_vkEnumeratePhysicalDevices(protocol::Decoder& d,
                                                     gen::EnumeratePhysicalDevicesArgs& a) {
    if (!a.pPhysicalDeviceCount)
        return d.in.fail("vkEnumeratePhysicalDevices without pPhysicalDeviceCount");
    ObjectEntry<VkInstance>* entry = nullptr;
    VN_TRY(m_objects.get<VkInstance>(a.instance.id, entry));
    const auto& inst = *static_cast<const InstanceState*>(entry->state.get());

    std::uint32_t count = 0;
    a.ret = inst.dispatch.EnumeratePhysicalDevices(a.instance.handle, &count, nullptr);
    if (a.ret != VK_SUCCESS)
        return DecodeResult::Ok;
    if (!a.pPhysicalDevices) {
        *a.pPhysicalDeviceCount = count;
        return DecodeResult::Ok;
    }
    std::vector<VkPhysicalDevice> hosts(count);
    a.ret = inst.dispatch.EnumeratePhysicalDevices(a.instance.handle, &count, hosts.data());
    if (a.ret < 0)
        return DecodeResult::Ok;
    const std::uint32_t n = std::min(count, *a.pPhysicalDeviceCount);
    for (std::uint32_t i = 0; i < n; ++i) {
        const std::uint64_t id = protocol::handle_to_u64(a.pPhysicalDevices[i]);
        // The guest names the same devices again on every enumeration: an id already bound to
        // this host device is fine, one bound to anything else is not.
        if (auto* known = m_objects.find<VkPhysicalDevice>(id)) {
            if (known->handle != hosts[i])
                return d.in.fail("vkEnumeratePhysicalDevices: id " + std::to_string(id) +
                                 " names another physical device");
            continue;
        }
        VN_TRY(m_objects.add<VkPhysicalDevice>(id, hosts[i],
                                               std::make_unique<PhysicalDeviceState>(inst)));
    }
    *a.pPhysicalDeviceCount = n;
    a.ret = n < count ? VK_INCOMPLETE : VK_SUCCESS;
    return DecodeResult::Ok;
}

DecodeResult
Executor::on_vkEnumeratePhysicalDeviceGroups(protocol::Decoder& d,
                                             gen::EnumeratePhysicalDeviceGroupsArgs& a) {
    if (!a.pPhysicalDeviceGroupCount)
        return d.in.fail("vkEnumeratePhysicalDeviceGroups without pPhysicalDeviceGroupCount");
    ObjectEntry<VkInstance>* entry = nullptr;
    VN_TRY(m_objects.get<VkInstance>(a.instance.id, entry));
    const auto& inst = *static_cast<const InstanceState*>(entry->state.get());
    if (!inst.dispatch.EnumeratePhysicalDeviceGroups) {
        // A host instance below 1.1 without VK_KHR_device_group_creation: the guest learns there
        // are no groups rather than the worker calling through a null pointer.
        a.ret = VK_ERROR_INITIALIZATION_FAILED;
        return DecodeResult::Ok;
    }

    std::uint32_t count = 0;
    a.ret = inst.dispatch.EnumeratePhysicalDeviceGroups(a.instance.handle, &count, nullptr);
    if (a.ret != VK_SUCCESS)
        return DecodeResult::Ok;
    if (!a.pPhysicalDeviceGroupProperties) {
        *a.pPhysicalDeviceGroupCount = count;
        return DecodeResult::Ok;
    }
    // The guest's structs hold its placeholder ids; the driver fills structs of our own, whose
    // host handles are then turned into the ids the guest gave those devices when it enumerated
    // them.
    VkPhysicalDeviceGroupProperties blank{};
    blank.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_GROUP_PROPERTIES;
    std::vector<VkPhysicalDeviceGroupProperties> hosts(count, blank);
    a.ret = inst.dispatch.EnumeratePhysicalDeviceGroups(a.instance.handle, &count, hosts.data());
    if (a.ret < 0)
        return DecodeResult::Ok;
    const std::uint32_t n = std::min(count, *a.pPhysicalDeviceGroupCount);
    for (std::uint32_t i = 0; i < n; ++i) {
        const VkPhysicalDeviceGroupProperties& host = hosts[i];
        VkPhysicalDeviceGroupProperties& out = a.pPhysicalDeviceGroupProperties[i];
        if (host.physicalDeviceCount > VK_MAX_DEVICE_GROUP_SIZE)
            return d.in.fail("vkEnumeratePhysicalDeviceGroups: the driver reported " +
                             std::to_string(host.physicalDeviceCount) + " devices in a group");
        out.physicalDeviceCount = host.physicalDeviceCount;
        out.subsetAllocation = host.subsetAllocation;
        std::fill(std::begin(out.physicalDevices), std::end(out.physicalDevices),
                  VkPhysicalDevice{});
        for (std::uint32_t j = 0; j < host.physicalDeviceCount; ++j) {
            std::uint64_t id = 0;
            for (const auto& [pd_id, pd] : m_objects.table<VkPhysicalDevice>())
                if (pd.handle == host.physicalDevices[j] &&
                    static_cast<const PhysicalDeviceState*>(pd.state.get())->instance == &inst)
                    id = pd_id;
            // Ids come only from vkEnumeratePhysicalDevices (Mesa always calls it first, and
            // virglrenderer requires the same).
            if (!id)
                return d.in.fail(
                    "vkEnumeratePhysicalDeviceGroups before vkEnumeratePhysicalDevices listed "
                    "every device");
            out.physicalDevices[j] = protocol::handle_from_u64<VkPhysicalDevice>(id);
        }
    }
    *a.pPhysicalDeviceGroupCount = n;
    a.ret = n < count ? VK_INCOMPLETE : VK_SUCCESS;
    return DecodeResult::Ok;
}

DecodeResult Executor::require_entry(protocol::Decoder& d, gen::CommandType type,
                                     const protocol::Ref<VkInstance>& instance) {
    if (instance.id == 0)
        return DecodeResult::Ok; // vkDestroyInstance(NULL) is a no-op; the handler decides
    ObjectEntry<VkInstance>* entry = nullptr;
    VN_TRY(m_objects.get<VkInstance>(instance.id, entry));
    const auto* inst = static_cast<const InstanceState*>(entry->state.get());
    if (gen::entry_present(inst->dispatch, type))
        return DecodeResult::Ok;
    const char* name = gen::command_name(static_cast<std::uint32_t>(type));
    return d.in.fail(std::string(name ? name : "command") + " is not available on this instance");
}

DecodeResult Executor::require_entry(protocol::Decoder& d, gen::CommandType type,
                                     const protocol::Ref<VkPhysicalDevice>& pd) {
    const InstanceState* inst = nullptr;
    VN_TRY(instance_of(d, pd.id, inst));
    if (gen::entry_present(inst->dispatch, type))
        return DecodeResult::Ok;
    const char* name = gen::command_name(static_cast<std::uint32_t>(type));
    return d.in.fail(std::string(name ? name : "command") +
                     " is not available on this physical device's instance");
}

DecodeResult Executor::instance_of(protocol::Decoder& d, std::uint64_t physical_device_id,
                                   const InstanceState*& out) {
    ObjectEntry<VkPhysicalDevice>* entry = nullptr;
    VN_TRY(m_objects.get<VkPhysicalDevice>(physical_device_id, entry));
    out = static_cast<const PhysicalDeviceState*>(entry->state.get())->instance;
    (void)d;
    return DecodeResult::Ok;
}

} // namespace vn::decoder
