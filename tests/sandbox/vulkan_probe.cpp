// vn_sandbox_vulkan_probe: applies the exact worker jail in a forked child, then does with Vulkan
// what a worker will do (instance, device, host-visible memory, memfd import through
// VK_EXT_external_memory_host, opaque-fd / dma-buf export, a buffer, vkCmdFillBuffer, a fence,
// read back). Used to draft and check the seccomp policy against real drivers:
//
//   vn_sandbox_vulkan_probe [--no-jail] [--log] [--no-namespaces] [--policy FILE]
//
// --log installs the trap-mode filter whose SIGSYS handler prints each blocked syscall and fails it
// with ENOSYS, so one run lists everything a driver is missing. --policy compiles a policy text at
// run time instead of the built-in filter. Exit status 0: every step passed inside the jail.
#include "vn/sandbox/jail.h"
#include "vn/sandbox/policy.h"

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vulkan/vulkan.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

#define STEP(expr)                                                                                 \
    do {                                                                                           \
        const VkResult step_result = (expr);                                                       \
        if (step_result != VK_SUCCESS) {                                                           \
            std::printf("FAIL %s -> %d\n", #expr, static_cast<int>(step_result));                  \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

// Zero-initialised Vulkan struct with its sType.
template <typename T>
T vk(VkStructureType type) {
    T value{};
    value.sType = type;
    return value;
}

bool has_extension(const std::vector<VkExtensionProperties>& exts, const char* name) {
    for (const auto& e : exts) {
        if (std::strcmp(e.extensionName, name) == 0)
            return true;
    }
    return false;
}

std::uint32_t find_memory_type(const VkPhysicalDeviceMemoryProperties& props, std::uint32_t bits,
                               VkMemoryPropertyFlags flags) {
    for (std::uint32_t i = 0; i < props.memoryTypeCount; ++i) {
        if ((bits & (1u << i)) && (props.memoryTypes[i].propertyFlags & flags) == flags)
            return i;
    }
    return UINT32_MAX;
}

struct Device {
    VkPhysicalDevice physical = VK_NULL_HANDLE;
    VkDevice device = VK_NULL_HANDLE;
    VkQueue queue = VK_NULL_HANDLE;
    std::uint32_t family = 0;
    VkPhysicalDeviceMemoryProperties memory{};
};

// Fills `buffer` with a pattern on the GPU and waits for it.
int fill(const Device& d, VkBuffer buffer, VkDeviceSize size, std::uint32_t pattern) {
    auto pool_info = vk<VkCommandPoolCreateInfo>(VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO);
    pool_info.queueFamilyIndex = d.family;
    VkCommandPool pool;
    STEP(vkCreateCommandPool(d.device, &pool_info, nullptr, &pool));
    auto alloc = vk<VkCommandBufferAllocateInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO);
    alloc.commandPool = pool;
    alloc.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    alloc.commandBufferCount = 1;
    VkCommandBuffer cmd;
    STEP(vkAllocateCommandBuffers(d.device, &alloc, &cmd));
    auto begin = vk<VkCommandBufferBeginInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO);
    begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    STEP(vkBeginCommandBuffer(cmd, &begin));
    vkCmdFillBuffer(cmd, buffer, 0, size, pattern);
    auto barrier = vk<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
    barrier.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    barrier.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1,
                         &barrier, 0, nullptr, 0, nullptr);
    STEP(vkEndCommandBuffer(cmd));
    auto fence_info = vk<VkFenceCreateInfo>(VK_STRUCTURE_TYPE_FENCE_CREATE_INFO);
    VkFence fence;
    STEP(vkCreateFence(d.device, &fence_info, nullptr, &fence));
    auto submit = vk<VkSubmitInfo>(VK_STRUCTURE_TYPE_SUBMIT_INFO);
    submit.commandBufferCount = 1;
    submit.pCommandBuffers = &cmd;
    STEP(vkQueueSubmit(d.queue, 1, &submit, fence));
    STEP(vkWaitForFences(d.device, 1, &fence, VK_TRUE, 5'000'000'000ull));
    vkDestroyFence(d.device, fence, nullptr);
    vkDestroyCommandPool(d.device, pool, nullptr);
    return 0;
}

int check_pattern(const void* data, VkDeviceSize size, std::uint32_t pattern) {
    const auto* words = static_cast<const std::uint32_t*>(data);
    for (VkDeviceSize i = 0; i < size / 4; ++i) {
        if (words[i] != pattern) {
            std::printf("FAIL read back: word %llu is 0x%x, want 0x%x\n",
                        static_cast<unsigned long long>(i), words[i], pattern);
            return 1;
        }
    }
    return 0;
}

int run_vulkan() {
    auto app = vk<VkApplicationInfo>(VK_STRUCTURE_TYPE_APPLICATION_INFO);
    app.pApplicationName = "vn_sandbox_vulkan_probe";
    app.apiVersion = VK_API_VERSION_1_1;
    auto instance_info = vk<VkInstanceCreateInfo>(VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO);
    instance_info.pApplicationInfo = &app;
    VkInstance instance;
    STEP(vkCreateInstance(&instance_info, nullptr, &instance));
    std::printf("ok vkCreateInstance\n");

    std::uint32_t count = 0;
    STEP(vkEnumeratePhysicalDevices(instance, &count, nullptr));
    if (count == 0) {
        std::printf("FAIL no physical device\n");
        return 1;
    }
    std::vector<VkPhysicalDevice> physicals(count);
    STEP(vkEnumeratePhysicalDevices(instance, &count, physicals.data()));
    Device d;
    d.physical = physicals[0];
    VkPhysicalDeviceProperties props;
    vkGetPhysicalDeviceProperties(d.physical, &props);
    std::printf("ok device: %s (%u physical devices)\n", props.deviceName, count);
    vkGetPhysicalDeviceMemoryProperties(d.physical, &d.memory);

    std::uint32_t ext_count = 0;
    STEP(vkEnumerateDeviceExtensionProperties(d.physical, nullptr, &ext_count, nullptr));
    std::vector<VkExtensionProperties> exts(ext_count);
    STEP(vkEnumerateDeviceExtensionProperties(d.physical, nullptr, &ext_count, exts.data()));
    std::vector<const char*> enabled;
    const bool host_ptr = has_extension(exts, VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME);
    const bool opaque_fd = has_extension(exts, VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME);
    const bool dma_buf =
        opaque_fd && has_extension(exts, VK_EXT_EXTERNAL_MEMORY_DMA_BUF_EXTENSION_NAME);
    if (host_ptr)
        enabled.push_back(VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME);
    if (opaque_fd)
        enabled.push_back(VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME);
    if (dma_buf)
        enabled.push_back(VK_EXT_EXTERNAL_MEMORY_DMA_BUF_EXTENSION_NAME);
    std::printf("ok extensions: external_memory_host=%d external_memory_fd=%d dma_buf=%d\n",
                host_ptr, opaque_fd, dma_buf);

    std::uint32_t family_count = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(d.physical, &family_count, nullptr);
    std::vector<VkQueueFamilyProperties> families(family_count);
    vkGetPhysicalDeviceQueueFamilyProperties(d.physical, &family_count, families.data());
    d.family = UINT32_MAX;
    for (std::uint32_t i = 0; i < family_count; ++i) {
        if (families[i].queueFlags & (VK_QUEUE_GRAPHICS_BIT | VK_QUEUE_COMPUTE_BIT)) {
            d.family = i;
            break;
        }
    }
    if (d.family == UINT32_MAX) {
        std::printf("FAIL no graphics or compute queue\n");
        return 1;
    }
    const float priority = 1.0f;
    auto queue_info = vk<VkDeviceQueueCreateInfo>(VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO);
    queue_info.queueFamilyIndex = d.family;
    queue_info.queueCount = 1;
    queue_info.pQueuePriorities = &priority;
    auto device_info = vk<VkDeviceCreateInfo>(VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO);
    device_info.queueCreateInfoCount = 1;
    device_info.pQueueCreateInfos = &queue_info;
    device_info.enabledExtensionCount = static_cast<std::uint32_t>(enabled.size());
    device_info.ppEnabledExtensionNames = enabled.data();
    STEP(vkCreateDevice(d.physical, &device_info, nullptr, &d.device));
    vkGetDeviceQueue(d.device, d.family, 0, &d.queue);
    std::printf("ok vkCreateDevice\n");

    // 1. A host-visible buffer, exportable as an opaque fd (and a dma-buf) where supported.
    constexpr VkDeviceSize kSize = 64 * 1024;
    VkExternalMemoryHandleTypeFlags export_types = 0;
    if (opaque_fd)
        export_types |= VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT;
    auto external_buffer =
        vk<VkExternalMemoryBufferCreateInfo>(VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO);
    external_buffer.handleTypes = export_types;
    auto buffer_info = vk<VkBufferCreateInfo>(VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO);
    buffer_info.pNext = export_types ? &external_buffer : nullptr;
    buffer_info.size = kSize;
    buffer_info.usage = VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT;
    VkBuffer buffer;
    STEP(vkCreateBuffer(d.device, &buffer_info, nullptr, &buffer));
    VkMemoryRequirements reqs;
    vkGetBufferMemoryRequirements(d.device, buffer, &reqs);
    const std::uint32_t type = find_memory_type(d.memory, reqs.memoryTypeBits,
                                                VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                                    VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
    if (type == UINT32_MAX) {
        std::printf("FAIL no host-visible coherent memory type\n");
        return 1;
    }
    auto export_info =
        vk<VkExportMemoryAllocateInfo>(VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO);
    export_info.handleTypes = export_types;
    auto alloc = vk<VkMemoryAllocateInfo>(VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO);
    alloc.pNext = export_types ? &export_info : nullptr;
    alloc.allocationSize = reqs.size;
    alloc.memoryTypeIndex = type;
    VkDeviceMemory memory;
    STEP(vkAllocateMemory(d.device, &alloc, nullptr, &memory));
    STEP(vkBindBufferMemory(d.device, buffer, memory, 0));
    std::printf("ok host-visible memory (type %u)\n", type);
    if (opaque_fd) {
        auto get_fd = reinterpret_cast<PFN_vkGetMemoryFdKHR>(
            vkGetDeviceProcAddr(d.device, "vkGetMemoryFdKHR"));
        auto fd_info = vk<VkMemoryGetFdInfoKHR>(VK_STRUCTURE_TYPE_MEMORY_GET_FD_INFO_KHR);
        fd_info.memory = memory;
        fd_info.handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT;
        int fd = -1;
        STEP(get_fd(d.device, &fd_info, &fd));
        std::printf("ok exported an opaque fd\n");
        ::close(fd);
    }
    if (fill(d, buffer, kSize, 0xdeadbeefu) != 0)
        return 1;
    void* mapped = nullptr;
    STEP(vkMapMemory(d.device, memory, 0, kSize, 0, &mapped));
    if (check_pattern(mapped, kSize, 0xdeadbeefu) != 0)
        return 1;
    vkUnmapMemory(d.device, memory);
    std::printf("ok vkCmdFillBuffer + fence + read back\n");

    // 2. A dma-buf export, where the driver has one (real GPUs; lavapipe does not).
    if (dma_buf) {
        auto dma_external = vk<VkExternalMemoryBufferCreateInfo>(
            VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO);
        dma_external.handleTypes = VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT;
        VkBufferCreateInfo dma_info = buffer_info;
        dma_info.pNext = &dma_external;
        VkBuffer dma_buffer;
        STEP(vkCreateBuffer(d.device, &dma_info, nullptr, &dma_buffer));
        VkMemoryRequirements dma_reqs;
        vkGetBufferMemoryRequirements(d.device, dma_buffer, &dma_reqs);
        auto dma_export =
            vk<VkExportMemoryAllocateInfo>(VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO);
        dma_export.handleTypes = VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT;
        auto dma_alloc = vk<VkMemoryAllocateInfo>(VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO);
        dma_alloc.pNext = &dma_export;
        dma_alloc.allocationSize = dma_reqs.size;
        dma_alloc.memoryTypeIndex = find_memory_type(d.memory, dma_reqs.memoryTypeBits, 0);
        VkDeviceMemory dma_memory;
        STEP(vkAllocateMemory(d.device, &dma_alloc, nullptr, &dma_memory));
        auto get_fd = reinterpret_cast<PFN_vkGetMemoryFdKHR>(
            vkGetDeviceProcAddr(d.device, "vkGetMemoryFdKHR"));
        auto fd_info = vk<VkMemoryGetFdInfoKHR>(VK_STRUCTURE_TYPE_MEMORY_GET_FD_INFO_KHR);
        fd_info.memory = dma_memory;
        fd_info.handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT;
        int fd = -1;
        STEP(get_fd(d.device, &fd_info, &fd));
        std::printf("ok exported a dma-buf\n");
        ::close(fd);
        vkFreeMemory(d.device, dma_memory, nullptr);
        vkDestroyBuffer(d.device, dma_buffer, nullptr);
    }

    // 3. Guest memory arrives as a memfd: import its mapping with VK_EXT_external_memory_host.
    if (host_ptr) {
        auto host_props = vk<VkPhysicalDeviceExternalMemoryHostPropertiesEXT>(
            VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_MEMORY_HOST_PROPERTIES_EXT);
        auto props2 =
            vk<VkPhysicalDeviceProperties2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2);
        props2.pNext = &host_props;
        vkGetPhysicalDeviceProperties2(d.physical, &props2);
        const VkDeviceSize align = std::max<VkDeviceSize>(
            host_props.minImportedHostPointerAlignment, static_cast<VkDeviceSize>(::getpagesize()));
        const VkDeviceSize size = (kSize + align - 1) / align * align;
        const int memfd = ::memfd_create("vn-probe-guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (memfd < 0 || ::ftruncate(memfd, static_cast<off_t>(size)) != 0) {
            std::printf("FAIL memfd: %s\n", std::strerror(errno));
            return 1;
        }
        void* host = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
        if (host == MAP_FAILED) {
            std::printf("FAIL mmap memfd: %s\n", std::strerror(errno));
            return 1;
        }
        auto get_host_props = reinterpret_cast<PFN_vkGetMemoryHostPointerPropertiesEXT>(
            vkGetDeviceProcAddr(d.device, "vkGetMemoryHostPointerPropertiesEXT"));
        auto ptr_props = vk<VkMemoryHostPointerPropertiesEXT>(
            VK_STRUCTURE_TYPE_MEMORY_HOST_POINTER_PROPERTIES_EXT);
        STEP(get_host_props(d.device, VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT, host,
                            &ptr_props));
        auto host_external = vk<VkExternalMemoryBufferCreateInfo>(
            VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO);
        host_external.handleTypes = VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT;
        VkBufferCreateInfo host_info = buffer_info;
        host_info.pNext = &host_external;
        host_info.size = size;
        VkBuffer host_buffer;
        STEP(vkCreateBuffer(d.device, &host_info, nullptr, &host_buffer));
        VkMemoryRequirements host_reqs;
        vkGetBufferMemoryRequirements(d.device, host_buffer, &host_reqs);
        auto import = vk<VkImportMemoryHostPointerInfoEXT>(
            VK_STRUCTURE_TYPE_IMPORT_MEMORY_HOST_POINTER_INFO_EXT);
        import.handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT;
        import.pHostPointer = host;
        auto host_alloc = vk<VkMemoryAllocateInfo>(VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO);
        host_alloc.pNext = &import;
        host_alloc.allocationSize = size;
        host_alloc.memoryTypeIndex =
            find_memory_type(d.memory, ptr_props.memoryTypeBits & host_reqs.memoryTypeBits, 0);
        VkDeviceMemory host_memory;
        STEP(vkAllocateMemory(d.device, &host_alloc, nullptr, &host_memory));
        STEP(vkBindBufferMemory(d.device, host_buffer, host_memory, 0));
        if (fill(d, host_buffer, size, 0x5a5a0001u) != 0)
            return 1;
        if (check_pattern(host, size, 0x5a5a0001u) != 0)
            return 1;
        std::printf("ok memfd imported with VK_EXT_external_memory_host, filled and read back\n");
        vkFreeMemory(d.device, host_memory, nullptr);
        vkDestroyBuffer(d.device, host_buffer, nullptr);
        ::munmap(host, size);
        ::close(memfd);
    }

    vkFreeMemory(d.device, memory, nullptr);
    vkDestroyBuffer(d.device, buffer, nullptr);
    vkDestroyDevice(d.device, nullptr);
    vkDestroyInstance(instance, nullptr);
    std::printf("ok teardown\n");
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    bool jail = true;
    vn::sandbox::JailConfig config;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--no-jail") {
            jail = false;
        } else if (arg == "--log") {
            config.seccomp = vn::sandbox::SeccompMode::Log;
        } else if (arg == "--no-namespaces") {
            config.namespaces = false;
        } else if (arg == "--policy" && i + 1 < argc) {
            std::ifstream file(argv[++i]);
            std::stringstream text;
            text << file.rdbuf();
            std::string error;
            const auto policy = vn::sandbox::Policy::parse(text.str(), error);
            if (policy) {
                config.filter = policy->compile(vn::sandbox::native_arch(),
                                                config.seccomp == vn::sandbox::SeccompMode::Log
                                                    ? vn::sandbox::DefaultAction::Trap
                                                    : vn::sandbox::DefaultAction::KillProcess,
                                                error);
            }
            if (!config.filter) {
                std::fprintf(stderr, "%s: %s\n", argv[i], error.c_str());
                return 2;
            }
        } else {
            std::fprintf(stderr, "usage: vn_sandbox_vulkan_probe [--no-jail] [--log] "
                                 "[--no-namespaces] [--policy FILE]\n");
            return 2;
        }
    }
    if (!jail)
        return run_vulkan();

    const auto ns = vn::sandbox::Jail::probe_namespaces();
    std::printf("namespaces: user=%d mount/ipc/net=%d pid=%d %s\n", ns.user, ns.others, ns.pid,
                ns.detail.c_str());
    vn::sandbox::Jail the_jail(std::move(config));
    std::fflush(stdout);
    const pid_t child = ::fork();
    if (child == 0) {
        // The jail points stdout at stderr, so the report below lands there.
        if (!the_jail.setup() || !the_jail.narrow())
            ::_exit(3);
        const int rc = run_vulkan();
        std::fflush(stdout);
        ::_exit(rc);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    if (WIFEXITED(status)) {
        std::printf("jailed probe exited with status %d\n", WEXITSTATUS(status));
        return WEXITSTATUS(status);
    }
    std::printf("jailed probe killed by signal %d (%s)\n", WTERMSIG(status),
                sigabbrev_np(WTERMSIG(status)));
    return 1;
}
