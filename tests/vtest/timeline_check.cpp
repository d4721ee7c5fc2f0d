// vn-timeline-check: a plain Vulkan program (through the loader, on whatever driver it picks) that
// plays dEQP-VK.synchronization.timeline_semaphore.device_host.*'s game with a timeline semaphore:
// one submission of 2N batches, where each write batch waits for a value that a host thread
// signals only after it has waited for, and checked, the read batch before it. Through Mesa's
// Venus driver the waits are for values signalled later (the driver must not block in the
// submission: our batch gate once did), and vkSignalSemaphore and vkWaitSemaphores reach the
// server from a second guest thread while the queue is busy.
//
// usage: vn-timeline-check [ROUNDS]   (each round: a fresh semaphore and 12 write/read pairs)
#include <vulkan/vulkan.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

void check(VkResult r, const char* what) {
    if (r != VK_SUCCESS)
        throw std::runtime_error(std::string(what) + " returned VkResult " + std::to_string(r));
}

constexpr std::uint32_t kPairs = 12;
// A hang becomes a failure with a line that says where, instead of a test killed at its timeout.
constexpr std::uint64_t kTimeoutNs = 20'000'000'000;

struct Values {
    std::uint64_t write, read, host;
};

class TimelineCheck {
  public:
    TimelineCheck() {
        VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO,
                              nullptr,
                              "vn-timeline-check",
                              1,
                              nullptr,
                              0,
                              VK_API_VERSION_1_2};
        VkInstanceCreateInfo ici{};
        ici.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
        ici.pApplicationInfo = &app;
        check(vkCreateInstance(&ici, nullptr, &m_instance), "vkCreateInstance");
        std::uint32_t n = 1;
        VkPhysicalDevice pd = VK_NULL_HANDLE;
        if (vkEnumeratePhysicalDevices(m_instance, &n, &pd) < 0 || n == 0)
            throw std::runtime_error("no physical device");
        VkPhysicalDeviceProperties props{};
        vkGetPhysicalDeviceProperties(pd, &props);
        std::printf("device: %s\n", props.deviceName);
        VkPhysicalDeviceMemoryProperties memory{};
        vkGetPhysicalDeviceMemoryProperties(pd, &memory);

        std::uint32_t families = 0;
        vkGetPhysicalDeviceQueueFamilyProperties(pd, &families, nullptr);
        std::vector<VkQueueFamilyProperties> fp(families);
        vkGetPhysicalDeviceQueueFamilyProperties(pd, &families, fp.data());
        std::uint32_t family = families;
        for (std::uint32_t i = 0; i < families && family == families; ++i)
            if (fp[i].queueFlags & (VK_QUEUE_GRAPHICS_BIT | VK_QUEUE_COMPUTE_BIT))
                family = i; // both imply transfer
        if (family == families)
            throw std::runtime_error("no queue family with transfers");

        const float priority = 1.0f;
        VkDeviceQueueCreateInfo qci{};
        qci.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
        qci.queueFamilyIndex = family;
        qci.queueCount = 1;
        qci.pQueuePriorities = &priority;
        VkPhysicalDeviceVulkan12Features features12{};
        features12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
        features12.timelineSemaphore = VK_TRUE;
        VkDeviceCreateInfo dci{};
        dci.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
        dci.pNext = &features12;
        dci.queueCreateInfoCount = 1;
        dci.pQueueCreateInfos = &qci;
        check(vkCreateDevice(pd, &dci, nullptr, &m_device), "vkCreateDevice");
        vkGetDeviceQueue(m_device, family, 0, &m_queue);

        // The device fills `m_work`; each read batch copies it into the host-visible `m_readback`.
        create_buffer(memory, VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT,
                      0, m_work, m_work_memory);
        create_buffer(memory, VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                      VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                      m_readback, m_readback_memory);
        check(vkMapMemory(m_device, m_readback_memory, 0, VK_WHOLE_SIZE, 0, &m_mapped),
              "vkMapMemory");

        VkCommandPoolCreateInfo cpci{};
        cpci.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
        cpci.queueFamilyIndex = family;
        check(vkCreateCommandPool(m_device, &cpci, nullptr, &m_pool), "vkCreateCommandPool");
        m_commands.resize(kPairs + 1);
        VkCommandBufferAllocateInfo cai{};
        cai.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
        cai.commandPool = m_pool;
        cai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
        cai.commandBufferCount = kPairs + 1;
        check(vkAllocateCommandBuffers(m_device, &cai, m_commands.data()),
              "vkAllocateCommandBuffers");
        // Write pair i: fill with i + 1. Read (the last one): copy, then make it visible to the
        // host, whose wait on the semaphore comes after.
        for (std::uint32_t i = 0; i <= kPairs; ++i) {
            VkCommandBufferBeginInfo begin{};
            begin.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
            check(vkBeginCommandBuffer(m_commands[i], &begin), "vkBeginCommandBuffer");
            if (i < kPairs) {
                vkCmdFillBuffer(m_commands[i], m_work, 0, kBytes, i + 1);
            } else {
                VkBufferCopy region{0, 0, kBytes};
                vkCmdCopyBuffer(m_commands[i], m_work, m_readback, 1, &region);
                VkMemoryBarrier barrier{};
                barrier.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
                barrier.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
                barrier.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
                vkCmdPipelineBarrier(m_commands[i], VK_PIPELINE_STAGE_TRANSFER_BIT,
                                     VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &barrier, 0, nullptr, 0,
                                     nullptr);
            }
            check(vkEndCommandBuffer(m_commands[i]), "vkEndCommandBuffer");
        }
        VkFenceCreateInfo fci{};
        fci.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
        check(vkCreateFence(m_device, &fci, nullptr, &m_fence), "vkCreateFence");
    }

    ~TimelineCheck() {
        if (m_device) {
            (void)vkDeviceWaitIdle(m_device);
            vkDestroyFence(m_device, m_fence, nullptr);
            vkDestroyCommandPool(m_device, m_pool, nullptr);
            vkDestroyBuffer(m_device, m_work, nullptr);
            vkDestroyBuffer(m_device, m_readback, nullptr);
            vkFreeMemory(m_device, m_work_memory, nullptr);
            vkFreeMemory(m_device, m_readback_memory, nullptr);
            vkDestroyDevice(m_device, nullptr);
        }
        if (m_instance)
            vkDestroyInstance(m_instance, nullptr);
    }
    TimelineCheck(const TimelineCheck&) = delete;
    TimelineCheck& operator=(const TimelineCheck&) = delete;

    // One round: a fresh semaphore, random increasing values as the CTS draws them.
    void round(std::uint32_t seed) {
        VkSemaphoreTypeCreateInfo type{};
        type.sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO;
        type.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE;
        VkSemaphoreCreateInfo sci{};
        sci.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO;
        sci.pNext = &type;
        VkSemaphore semaphore = VK_NULL_HANDLE;
        check(vkCreateSemaphore(m_device, &sci, nullptr, &semaphore), "vkCreateSemaphore");

        std::srand(seed);
        std::vector<Values> values(kPairs);
        std::uint64_t last = 0;
        for (auto& v : values) {
            v.write = last += 1 + static_cast<std::uint64_t>(std::rand() % 100);
            v.read = last += 1 + static_cast<std::uint64_t>(std::rand() % 100);
            v.host = last += 1 + static_cast<std::uint64_t>(std::rand() % 100);
        }

        std::string host_error;
        std::thread host([&] { host_error = host_side(semaphore, values); });

        const std::uint32_t batches = 2 * kPairs;
        std::vector<VkSubmitInfo> submits(batches);
        std::vector<VkTimelineSemaphoreSubmitInfo> timeline(batches);
        std::vector<std::uint64_t> waits(batches), signals(batches);
        const VkPipelineStageFlags stage = VK_PIPELINE_STAGE_ALL_COMMANDS_BIT;
        for (std::uint32_t b = 0; b < batches; ++b) {
            const std::uint32_t i = b / 2;
            const bool write = b % 2 == 0;
            // Write i waits for the host's value after read i - 1; read i for write i.
            waits[b] = write ? (i ? values[i - 1].host : 0) : values[i].write;
            signals[b] = write ? values[i].write : values[i].read;
            timeline[b].sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO;
            timeline[b].waitSemaphoreValueCount = b ? 1 : 0;
            timeline[b].pWaitSemaphoreValues = &waits[b];
            timeline[b].signalSemaphoreValueCount = 1;
            timeline[b].pSignalSemaphoreValues = &signals[b];
            submits[b].sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
            submits[b].pNext = &timeline[b];
            submits[b].waitSemaphoreCount = b ? 1 : 0;
            submits[b].pWaitSemaphores = &semaphore;
            submits[b].pWaitDstStageMask = &stage;
            submits[b].commandBufferCount = 1;
            submits[b].pCommandBuffers = write ? &m_commands[i] : &m_commands[kPairs];
            submits[b].signalSemaphoreCount = 1;
            submits[b].pSignalSemaphores = &semaphore;
        }
        const VkResult submitted = vkQueueSubmit(m_queue, batches, submits.data(), m_fence);
        host.join();
        check(submitted, "vkQueueSubmit");
        if (!host_error.empty())
            throw std::runtime_error(host_error);
        check(vkWaitForFences(m_device, 1, &m_fence, VK_TRUE, kTimeoutNs),
              "vkWaitForFences after the last read");
        check(vkResetFences(m_device, 1, &m_fence), "vkResetFences");
        std::uint64_t counter = 0;
        check(vkGetSemaphoreCounterValue(m_device, semaphore, &counter),
              "vkGetSemaphoreCounterValue");
        if (counter != values.back().host)
            throw std::runtime_error("the counter ends at " + std::to_string(counter) +
                                     ", not at the host's last value " +
                                     std::to_string(values.back().host));
        vkDestroySemaphore(m_device, semaphore, nullptr);
    }

  private:
    static constexpr VkDeviceSize kBytes = 4096;

    // The host thread: wait for read i, check that it saw write i (and not write i + 1, which
    // must wait for this thread), then let write i + 1 go. Returns what went wrong, if anything.
    std::string host_side(VkSemaphore semaphore, const std::vector<Values>& values) {
        for (std::uint32_t i = 0; i < kPairs; ++i) {
            VkSemaphoreWaitInfo wait{};
            wait.sType = VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO;
            wait.semaphoreCount = 1;
            wait.pSemaphores = &semaphore;
            wait.pValues = &values[i].read;
            const VkResult r = vkWaitSemaphores(m_device, &wait, kTimeoutNs);
            if (r != VK_SUCCESS) {
                std::uint64_t counter = 0;
                (void)vkGetSemaphoreCounterValue(m_device, semaphore, &counter);
                return "host wait for read " + std::to_string(i) + " (value " +
                       std::to_string(values[i].read) + ") returned VkResult " + std::to_string(r) +
                       "; the counter reads " + std::to_string(counter);
            }
            const auto* words = static_cast<const std::uint32_t*>(m_mapped);
            for (std::uint32_t w = 0; w < kBytes / 4; ++w)
                if (words[w] != i + 1)
                    return "read " + std::to_string(i) + " saw " + std::to_string(words[w]) +
                           " at word " + std::to_string(w) + ", not " + std::to_string(i + 1);
            VkSemaphoreSignalInfo signal{};
            signal.sType = VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO;
            signal.semaphore = semaphore;
            signal.value = values[i].host;
            if (const VkResult s = vkSignalSemaphore(m_device, &signal); s != VK_SUCCESS)
                return "vkSignalSemaphore returned VkResult " + std::to_string(s);
        }
        return "";
    }

    void create_buffer(const VkPhysicalDeviceMemoryProperties& memory, VkBufferUsageFlags usage,
                       VkMemoryPropertyFlags wanted, VkBuffer& buffer, VkDeviceMemory& bound) {
        VkBufferCreateInfo bci{};
        bci.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
        bci.size = kBytes;
        bci.usage = usage;
        check(vkCreateBuffer(m_device, &bci, nullptr, &buffer), "vkCreateBuffer");
        VkMemoryRequirements req{};
        vkGetBufferMemoryRequirements(m_device, buffer, &req);
        VkMemoryAllocateInfo mai{};
        mai.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
        mai.allocationSize = req.size;
        mai.memoryTypeIndex = memory.memoryTypeCount;
        for (std::uint32_t t = 0; t < memory.memoryTypeCount; ++t)
            if ((req.memoryTypeBits & (1u << t)) &&
                (memory.memoryTypes[t].propertyFlags & wanted) == wanted) {
                mai.memoryTypeIndex = t;
                break;
            }
        if (mai.memoryTypeIndex == memory.memoryTypeCount)
            throw std::runtime_error("no memory type for a buffer");
        check(vkAllocateMemory(m_device, &mai, nullptr, &bound), "vkAllocateMemory");
        check(vkBindBufferMemory(m_device, buffer, bound, 0), "vkBindBufferMemory");
    }

    VkInstance m_instance = VK_NULL_HANDLE;
    VkDevice m_device = VK_NULL_HANDLE;
    VkQueue m_queue = VK_NULL_HANDLE;
    VkBuffer m_work = VK_NULL_HANDLE;
    VkBuffer m_readback = VK_NULL_HANDLE;
    VkDeviceMemory m_work_memory = VK_NULL_HANDLE;
    VkDeviceMemory m_readback_memory = VK_NULL_HANDLE;
    void* m_mapped = nullptr;
    VkCommandPool m_pool = VK_NULL_HANDLE;
    std::vector<VkCommandBuffer> m_commands;
    VkFence m_fence = VK_NULL_HANDLE;
};

} // namespace

int main(int argc, char** argv) {
    const int rounds = argc > 1 ? std::atoi(argv[1]) : 20;
    // Outside the try: on a failure its destructor must not run, since it waits for a device that
    // may never be idle then.
    std::unique_ptr<TimelineCheck> check;
    try {
        check = std::make_unique<TimelineCheck>();
        for (int r = 0; r < rounds; ++r)
            check->round(1234u + static_cast<std::uint32_t>(r));
        std::printf("device-host timeline: %d rounds of %u write/read pairs ok\n", rounds, kPairs);
    } catch (const std::exception& e) {
        std::printf("FAILED: %s\n", e.what());
        std::fflush(stdout);
        std::_Exit(1);
    }
    return 0;
}
