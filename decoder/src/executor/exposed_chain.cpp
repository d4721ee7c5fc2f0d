#include "exposed_chain.h"

#include <algorithm>
#include <cstring>

namespace vn::decoder {

namespace {
// Which commands the executor implements, read from its class at compile time.
constexpr auto implemented = gen::implemented_commands<Executor>();

bool all_implemented(const std::uint32_t* ids, std::uint32_t count) {
    return std::all_of(ids, ids + count, [](std::uint32_t id) { return implemented[id]; });
}
} // namespace

bool extension_exposable(const gen::ExtensionInfo& info) {
    return info.in_registry && info.host && info.decodable &&
           all_implemented(info.command_ids, info.command_count);
}

std::uint32_t Executor::max_api_version() {
    static const std::uint32_t version = [] {
        std::uint32_t newest = VK_API_VERSION_1_0;
        for (const auto& v : gen::core_versions) {
            if (!v.decodable || !all_implemented(v.command_ids, v.command_count))
                break;
            newest = v.api_version;
        }
        return newest;
    }();
    return version;
}

namespace {
std::vector<VkExtensionProperties> host_device_extensions(const InstanceState& inst,
                                                          VkPhysicalDevice pd) {
    std::uint32_t count = 0;
    if (inst.dispatch.EnumerateDeviceExtensionProperties(pd, nullptr, &count, nullptr) !=
        VK_SUCCESS)
        return {};
    std::vector<VkExtensionProperties> host(count);
    if (inst.dispatch.EnumerateDeviceExtensionProperties(pd, nullptr, &count, host.data()) < 0)
        return {};
    host.resize(count);
    return host;
}

bool listed(const std::vector<VkExtensionProperties>& list, const char* name) {
    return std::any_of(list.begin(), list.end(),
                       [name](const auto& e) { return std::strcmp(e.extensionName, name) == 0; });
}

bool emulates_sync_fd(const InstanceState& inst, VkPhysicalDevice pd,
                      const std::vector<VkExtensionProperties>& host) {
    const auto* info =
        std::find_if(std::begin(gen::extensions), std::end(gen::extensions),
                     [](const auto& e) { return std::strcmp(e.name, kSemaphoreFdExtension) == 0; });
    if (info == std::end(gen::extensions) || !extension_exposable(*info) ||
        !inst.dispatch.GetPhysicalDeviceExternalSemaphoreProperties)
        return false;
    // External semaphores, and the query that answers for them, are Vulkan 1.1's.
    if (effective_api_version(inst, pd) < VK_API_VERSION_1_1)
        return false;
    if (!listed(host, kSemaphoreFdExtension))
        return true;
    VkPhysicalDeviceExternalSemaphoreInfo query{};
    query.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_SEMAPHORE_INFO;
    query.handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT;
    VkExternalSemaphoreProperties props{};
    props.sType = VK_STRUCTURE_TYPE_EXTERNAL_SEMAPHORE_PROPERTIES;
    inst.dispatch.GetPhysicalDeviceExternalSemaphoreProperties(pd, &query, &props);
    return (props.externalSemaphoreFeatures & VK_EXTERNAL_SEMAPHORE_FEATURE_IMPORTABLE_BIT) == 0;
}
} // namespace

namespace {
// Worked out on first use per physical device and kept (InstanceState::exposure). A failed host
// query is not kept: it is asked again next time.
const DeviceExposure& exposure_of(const InstanceState& inst, VkPhysicalDevice pd) {
    if (const auto it = inst.exposure.find(pd); it != inst.exposure.end())
        return it->second;
    static const DeviceExposure kNone;
    std::vector<VkExtensionProperties> host = host_device_extensions(inst, pd);
    if (host.empty())
        return kNone;
    DeviceExposure out;
    out.emulates_sync_fd = emulates_sync_fd(inst, pd, host);
    if (!listed(host, kSemaphoreFdExtension) && out.emulates_sync_fd) {
        VkExtensionProperties e{};
        std::strncpy(e.extensionName, kSemaphoreFdExtension, VK_MAX_EXTENSION_NAME_SIZE - 1);
        e.specVersion = gen::extension_spec_version(kSemaphoreFdExtension);
        host.push_back(e);
    }
    for (VkExtensionProperties e : host) {
        bool allowed = false;
        for (const auto& info : gen::extensions)
            if (std::strcmp(info.name, e.extensionName) == 0)
                allowed = extension_exposable(info);
        if (!allowed)
            continue;
        e.specVersion = std::min(e.specVersion, gen::extension_spec_version(e.extensionName));
        out.extensions.push_back(e);
    }
    out.names = extension_names(out.extensions);
    return inst.exposure.emplace(pd, std::move(out)).first->second;
}
} // namespace

bool emulates_semaphore_sync_fd(const InstanceState& inst, VkPhysicalDevice pd) {
    return exposure_of(inst, pd).emulates_sync_fd;
}

const std::vector<VkExtensionProperties>& exposed_device_extensions(const InstanceState& inst,
                                                                    VkPhysicalDevice pd) {
    return exposure_of(inst, pd).extensions;
}

const std::vector<std::string>& exposed_device_extension_names(const InstanceState& inst,
                                                               VkPhysicalDevice pd) {
    return exposure_of(inst, pd).names;
}

std::uint32_t effective_api_version(const InstanceState& inst, VkPhysicalDevice pd) {
    VkPhysicalDeviceProperties props{};
    inst.dispatch.GetPhysicalDeviceProperties(pd, &props);
    return std::min(Executor::cap_api_version(props.apiVersion), inst.api_version);
}

std::vector<std::string> extension_names(const std::vector<VkExtensionProperties>& list) {
    std::vector<std::string> names;
    names.reserve(list.size());
    for (const auto& e : list)
        names.emplace_back(e.extensionName);
    return names;
}

namespace {
bool allowed(VkStructureType stype, std::uint32_t api_version,
             const std::vector<std::string>& extensions) {
    const gen::StructOrigin* origin = gen::struct_origin(stype);
    // Venus's own structs (queue timelines, ring options) are the executor's, not the driver's
    // business, and are handled before any chain reaches it.
    if (!origin)
        return true;
    if (origin->core_version &&
        origin->core_version <= api_version - VK_API_VERSION_PATCH(api_version))
        return true;
    for (const char* const* e = origin->extensions; *e; ++e)
        if (std::find(extensions.begin(), extensions.end(), *e) != extensions.end())
            return true;
    return false;
}
} // namespace

ExposedChain::ExposedChain(const void* head, std::uint32_t api_version,
                           const std::vector<std::string>& extensions, bool zero_hidden)
    // The chain lives in the per-command arena: the decoder built it, so it is ours to relink.
    : m_head(static_cast<VkBaseOutStructure*>(const_cast<void*>(head))) {
    if (!m_head)
        return;
    m_first = m_head->pNext;
    VkBaseOutStructure* kept_tail = m_head;
    for (VkBaseOutStructure* node = m_first; node;) {
        VkBaseOutStructure* next = node->pNext;
        m_links.emplace_back(node, next);
        if (allowed(node->sType, api_version, extensions)) {
            kept_tail->pNext = node;
            kept_tail = node;
        } else {
            ++m_hidden;
            if (zero_hidden) {
                const gen::StructOrigin* origin = gen::struct_origin(node->sType);
                std::memset(reinterpret_cast<std::byte*>(node) + sizeof(VkBaseOutStructure), 0,
                            origin->size - sizeof(VkBaseOutStructure));
            }
        }
        node = next;
    }
    kept_tail->pNext = nullptr;
}

ExposedChain::~ExposedChain() {
    if (!m_head)
        return;
    m_head->pNext = m_first;
    for (const auto& [node, next] : m_links)
        node->pNext = next;
}

} // namespace vn::decoder
