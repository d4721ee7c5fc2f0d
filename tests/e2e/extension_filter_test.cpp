// What our renderer advertises to the guest is what both the host driver and the protocol
// support, at the lower of the two spec versions; checked against lavapipe itself, queried here
// directly through the Vulkan loader.
#include "backends.h"
#include "exposed_chain.h"
#include "vn/scenarios/instance_queries.h"

#include <cstring>
#include <map>
#include <string>

using namespace vn;

namespace {

// Device extensions of the host's lavapipe, by name. VK_KHR_external_semaphore_fd is entered
// with spec version 0 where the executor emulates it (exposed_chain.h): the driver has it not,
// or cannot import a binary semaphore's sync_fd.
std::map<std::string, std::uint32_t> host_device_extensions(const std::string& device_name) {
    VkApplicationInfo app{};
    app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
    app.apiVersion = VK_API_VERSION_1_1;
    VkInstanceCreateInfo ici{};
    ici.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
    ici.pApplicationInfo = &app;
    VkInstance instance = VK_NULL_HANDLE;
    REQUIRE(vkCreateInstance(&ici, nullptr, &instance) == VK_SUCCESS);
    std::uint32_t count = 0;
    REQUIRE(vkEnumeratePhysicalDevices(instance, &count, nullptr) == VK_SUCCESS);
    std::vector<VkPhysicalDevice> pds(count);
    REQUIRE(vkEnumeratePhysicalDevices(instance, &count, pds.data()) == VK_SUCCESS);
    std::map<std::string, std::uint32_t> out;
    for (VkPhysicalDevice pd : pds) {
        VkPhysicalDeviceProperties props;
        vkGetPhysicalDeviceProperties(pd, &props);
        if (device_name != props.deviceName)
            continue;
        std::uint32_t n = 0;
        REQUIRE(vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, nullptr) == VK_SUCCESS);
        std::vector<VkExtensionProperties> ext(n);
        REQUIRE(vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, ext.data()) == VK_SUCCESS);
        for (const auto& e : ext)
            out[e.extensionName] = e.specVersion;
        VkPhysicalDeviceExternalSemaphoreInfo info{};
        info.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_SEMAPHORE_INFO;
        info.handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT;
        VkExternalSemaphoreProperties sync_fd{};
        sync_fd.sType = VK_STRUCTURE_TYPE_EXTERNAL_SEMAPHORE_PROPERTIES;
        vkGetPhysicalDeviceExternalSemaphoreProperties(pd, &info, &sync_fd);
        if (!out.count(decoder::kSemaphoreFdExtension) ||
            !(sync_fd.externalSemaphoreFeatures & VK_EXTERNAL_SEMAPHORE_FEATURE_IMPORTABLE_BIT))
            out[decoder::kSemaphoreFdExtension] = 0;
    }
    vkDestroyInstance(instance, nullptr);
    return out;
}

const gen::ExtensionInfo* protocol_entry(const char* name) {
    for (const auto& info : gen::extensions)
        if (std::strcmp(info.name, name) == 0)
            return &info;
    return nullptr;
}

} // namespace

TEST_CASE("every advertised device extension is in the protocol table and lavapipe's",
          "[scenario][extensions]") {
    client::ProxyTransport transport(test::spawn(test::ours()));
    client::Guest guest(transport);
    const auto instance = scenarios::create_instance(guest);
    const auto pds = scenarios::enumerate_physical_devices(guest, instance);
    const auto info = scenarios::query_physical_device(guest, pds[0]);
    const auto host = host_device_extensions(info.name());
    REQUIRE_FALSE(host.empty());

    std::size_t advertised = 0;
    for (const auto& e : info.extensions) {
        INFO(e.extensionName);
        const gen::ExtensionInfo* entry = protocol_entry(e.extensionName);
        REQUIRE(entry != nullptr);
        CHECK(entry->in_registry);
        CHECK(entry->host);
        CHECK(decoder::extension_exposable(*entry));
        const auto it = host.find(e.extensionName);
        REQUIRE(it != host.end());
        if (it->second == 0) // emulated: the protocol's version
            CHECK(e.specVersion == entry->spec_version);
        else
            CHECK(e.specVersion == std::min(it->second, entry->spec_version));
        ++advertised;
    }
    // And nothing both support is held back.
    for (const auto& [name, version] : host) {
        const gen::ExtensionInfo* entry = protocol_entry(name.c_str());
        if (!entry || !decoder::extension_exposable(*entry))
            continue;
        INFO(name);
        CHECK(info.has_extension(name.c_str()));
    }
    CHECK(advertised > 0);
}

TEST_CASE("instance extensions are exactly Venus's own", "[scenario][extensions]") {
    client::ProxyTransport transport(test::spawn(test::ours()));
    client::Guest guest(transport);
    const auto ext = scenarios::enumerate_instance_extensions(guest);
    REQUIRE(ext.size() == 2);
    for (const auto& e : ext) {
        INFO(e.extensionName);
        const gen::ExtensionInfo* entry = protocol_entry(e.extensionName);
        REQUIRE(entry != nullptr);
        CHECK(e.specVersion == entry->spec_version);
    }
}

namespace {
struct ChainedFeatures {
    VkPhysicalDeviceVulkan12Features v12{};
    VkPhysicalDeviceRobustness2FeaturesEXT robustness2{};
};

ChainedFeatures query_chained_features(std::uint32_t instance_api_version) {
    client::ProxyTransport transport(test::spawn(test::ours()));
    client::Guest guest(transport);
    const auto instance = scenarios::create_instance(guest, instance_api_version);
    const auto pds = scenarios::enumerate_physical_devices(guest, instance);
    const auto info = scenarios::query_physical_device(guest, pds[0]);
    REQUIRE(info.has_extension("VK_EXT_robustness2"));

    VkPhysicalDeviceRobustness2FeaturesEXT r2{};
    r2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ROBUSTNESS_2_FEATURES_EXT;
    VkPhysicalDeviceVulkan12Features v12{};
    v12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
    v12.pNext = &r2;
    VkPhysicalDeviceFeatures2 features{};
    features.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
    features.pNext = &v12;
    gen::GetPhysicalDeviceFeatures2Args a;
    a.physicalDevice = scenarios::ref<VkPhysicalDevice>(pds[0]);
    a.pFeatures = &features;
    const auto r = scenarios::call(guest, a);
    ChainedFeatures out;
    const auto* v = static_cast<const VkPhysicalDeviceVulkan12Features*>(
        scenarios::find_in_chain(r.pFeatures->pNext, v12.sType));
    const auto* rb = static_cast<const VkPhysicalDeviceRobustness2FeaturesEXT*>(
        scenarios::find_in_chain(r.pFeatures->pNext, r2.sType));
    // Hidden structs still come back (zeroed), so the guest's chain decodes as it sent it.
    REQUIRE(v);
    REQUIRE(rb);
    out.v12 = *v;
    out.robustness2 = *rb;
    return out;
}
} // namespace

TEST_CASE("feature structs of a core version the instance lacks never reach the driver",
          "[scenario][extensions]") {
    // Vulkan 1.2 structs belong to a 1.2 instance: under a 1.1 instance they read as zero even
    // though lavapipe (1.3) would fill them; an exposed extension's struct is filled either way.
    const ChainedFeatures v11 = query_chained_features(VK_API_VERSION_1_1);
    CHECK(v11.v12.timelineSemaphore == VK_FALSE);
    CHECK(v11.v12.bufferDeviceAddress == VK_FALSE);
    CHECK(v11.robustness2.nullDescriptor == VK_TRUE);
    const ChainedFeatures v12 = query_chained_features(VK_API_VERSION_1_2);
    CHECK(v12.v12.timelineSemaphore == VK_TRUE);
    CHECK(v12.v12.bufferDeviceAddress == VK_TRUE);
    CHECK(v12.robustness2.nullDescriptor == VK_TRUE);
}
