#include "exposed_chain.h"

#include <algorithm>
#include <cstring>

namespace vn::decoder {

bool extension_exposable(const gen::ExtensionInfo& info) {
    // Which commands the executor implements, read from its class at compile time.
    static constexpr auto implemented = gen::implemented_commands<Executor>();
    if (!info.in_registry || !info.host || !info.decodable)
        return false;
    for (std::uint32_t i = 0; i < info.command_count; ++i)
        if (!implemented[info.command_ids[i]])
            return false;
    return true;
}

std::vector<VkExtensionProperties> exposed_device_extensions(const InstanceState& inst,
                                                             VkPhysicalDevice pd) {
    std::uint32_t count = 0;
    if (inst.dispatch.EnumerateDeviceExtensionProperties(pd, nullptr, &count, nullptr) !=
        VK_SUCCESS)
        return {};
    std::vector<VkExtensionProperties> host(count);
    if (inst.dispatch.EnumerateDeviceExtensionProperties(pd, nullptr, &count, host.data()) < 0)
        return {};
    host.resize(count);
    std::vector<VkExtensionProperties> exposed;
    for (VkExtensionProperties e : host) {
        bool allowed = false;
        for (const auto& info : gen::extensions)
            if (std::strcmp(info.name, e.extensionName) == 0)
                allowed = extension_exposable(info);
        if (!allowed)
            continue;
        e.specVersion = std::min(e.specVersion, gen::extension_spec_version(e.extensionName));
        exposed.push_back(e);
    }
    return exposed;
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
