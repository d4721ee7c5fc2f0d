// Keeps the host driver's libraries loaded for the life of the process.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <vulkan/vulkan.h>

namespace vn::decoder {

// Runs `create_instance` (a host vkCreateInstance); the first time one succeeds in this process,
// every shared object it loaded (the ICD and what the ICD pulls in) is made unloadable.
//
// Why: the loader dlopens the ICD for each instance and dlcloses it with the last one. NVIDIA's
// driver 580 (H100) refuses vkCreateInstance with VK_ERROR_INCOMPATIBLE_DRIVER after about 30
// such load/unload cycles in one process, even in a ten-line program; keeping one instance alive
// avoids it. A thread-mode worker, or any process that serves context after context, would hit
// that limit, so the first instance's libraries are pinned instead (RTLD_NODELETE), which costs no
// extra instance.
VkResult create_instance_with_drivers_pinned(const std::function<VkResult()>& create_instance);

// An instance of the server's own, no layers or extensions, to ask the host before any guest
// exists (the driver preload, the memory probe).
VkResult create_server_instance(const char* application, std::uint32_t api_version,
                                VkInstance& out);

// The paths of the shared objects loaded in this process now.
std::set<std::string> loaded_objects();

} // namespace vn::decoder
