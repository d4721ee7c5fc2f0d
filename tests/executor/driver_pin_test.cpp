// The host driver's libraries outlive the instances that loaded them (see driver_pin.h for why).
#include "driver_pin.h"

#include <catch2/catch.hpp>
#include <set>
#include <string>

using vn::decoder::loaded_objects;

TEST_CASE("the host driver stays loaded after the last instance is destroyed") {
    // ctest runs each case in a fresh process, so no instance has been created before this one.
    const auto before = loaded_objects();
    VkInstanceCreateInfo info{};
    info.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
    VkInstance instance = VK_NULL_HANDLE;
    REQUIRE(vn::decoder::create_instance_with_drivers_pinned(
                [&] { return vkCreateInstance(&info, nullptr, &instance); }) == VK_SUCCESS);
    vkDestroyInstance(instance, nullptr);

    std::set<std::string> stayed;
    for (const auto& name : loaded_objects())
        if (!before.contains(name))
            stayed.insert(name);
    INFO("objects the driver loaded that stayed: " << stayed.size());
    // The ICD itself is a shared object named in its manifest; lavapipe's is libvulkan_lvp.so.
    bool icd_stayed = false;
    for (const auto& name : stayed)
        icd_stayed = icd_stayed || name.find("libvulkan_") != std::string::npos ||
                     name.find("nvidia") != std::string::npos;
    CHECK(icd_stayed);
}
