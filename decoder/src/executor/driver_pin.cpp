#include "driver_pin.h"

#include "vn/decoder/driver_preload.h"

#include <dlfcn.h>
#include <link.h>
#include <mutex>
#include <set>
#include <string>

namespace vn::decoder {

std::set<std::string> loaded_objects() {
    std::set<std::string> names;
    dl_iterate_phdr(
        [](dl_phdr_info* info, std::size_t, void* data) {
            if (info->dlpi_name && info->dlpi_name[0])
                static_cast<std::set<std::string>*>(data)->insert(info->dlpi_name);
            return 0;
        },
        &names);
    return names;
}

namespace {

// RTLD_NOLOAD finds the already loaded object by its path (no file access, so nothing the worker's
// seccomp policy has to allow); RTLD_NODELETE then keeps it. The handle is deliberately never
// closed: it is the pin.
void pin_objects_loaded_since(const std::set<std::string>& before) {
    for (const auto& name : loaded_objects())
        if (!before.contains(name))
            dlopen(name.c_str(), RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

} // namespace

VkResult create_instance_with_drivers_pinned(const std::function<VkResult()>& create_instance) {
    static std::mutex mutex;
    static bool pinned = false;
    std::unique_lock lock(mutex);
    if (pinned) {
        lock.unlock();
        return create_instance();
    }
    const auto before = loaded_objects();
    const VkResult result = create_instance();
    if (result == VK_SUCCESS) {
        pin_objects_loaded_since(before);
        pinned = true;
    }
    return result;
}

VkResult create_server_instance(const char* application, std::uint32_t api_version,
                                VkInstance& out) {
    VkApplicationInfo app{};
    app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
    app.pApplicationName = application;
    app.apiVersion = api_version;
    VkInstanceCreateInfo info{};
    info.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
    info.pApplicationInfo = &app;
    return vkCreateInstance(&info, nullptr, &out);
}

bool preload_host_drivers(std::string& error) {
    VkInstance instance = VK_NULL_HANDLE;
    const VkResult result = create_instance_with_drivers_pinned([&] {
        return create_server_instance("venus-render-server driver preload", VK_API_VERSION_1_0,
                                      instance);
    });
    if (result != VK_SUCCESS) {
        error = "vkCreateInstance returned " + std::to_string(static_cast<int>(result));
        return false;
    }
    vkDestroyInstance(instance, nullptr);
    // The loader is initialized now: workers forked from here inherit the answer.
    (void)host_instance_version();
    return true;
}

std::uint32_t host_instance_version() {
    static const std::uint32_t version = [] {
        std::uint32_t v = VK_API_VERSION_1_0;
        // A 1.0 loader has no vkEnumerateInstanceVersion: 1.0 is the answer then.
        const auto enumerate = reinterpret_cast<PFN_vkEnumerateInstanceVersion>(
            vkGetInstanceProcAddr(nullptr, "vkEnumerateInstanceVersion"));
        if (!enumerate || enumerate(&v) != VK_SUCCESS)
            v = VK_API_VERSION_1_0;
        return v;
    }();
    return version;
}

} // namespace vn::decoder
