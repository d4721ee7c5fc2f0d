// The native baseline: the same command mix, queries, submits and copies issued in this process
// straight to the host driver through the Vulkan loader, no Venus in between.
#include "bench.h"
#include "bench_comp.spv.h"

#include <vulkan/vulkan.h>

#include <cstdio>
#include <cstring>

namespace vn::bench {

namespace {

void check(VkResult r, const char* what) {
    if (r != VK_SUCCESS)
        throw Unavailable(std::string("native: ") + what + " returned VkResult " +
                          std::to_string(r));
}

double micros(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::micro>(b - a).count();
}

} // namespace

struct Native::State {
    VkInstance instance = VK_NULL_HANDLE;
    VkPhysicalDevice pd = VK_NULL_HANDLE;
    VkDevice device = VK_NULL_HANDLE;
    VkQueue queue = VK_NULL_HANDLE;
    VkPhysicalDeviceMemoryProperties memory{};
    struct Buffer {
        VkBuffer buffer = VK_NULL_HANDLE;
        VkDeviceMemory memory = VK_NULL_HANDLE;
        void* mapped = nullptr;
    };
    Buffer storage, src, dst;
    VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
    VkPipelineLayout layout = VK_NULL_HANDLE;
    VkShaderModule shader = VK_NULL_HANDLE;
    VkPipeline pipeline = VK_NULL_HANDLE;
    VkDescriptorPool desc_pool = VK_NULL_HANDLE;
    VkDescriptorSet set = VK_NULL_HANDLE;
    VkCommandPool pool = VK_NULL_HANDLE;
    VkCommandBuffer record_cb = VK_NULL_HANDLE;
    VkCommandBuffer copy_cb = VK_NULL_HANDLE;
    VkFence fence = VK_NULL_HANDLE;

    State() {
        // Same choices as the Venus guest: Vulkan 1.3 instance, the first physical device, one
        // queue of family 0.
        VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO,
                              nullptr,
                              "venus-bench",
                              1,
                              "venus-bench",
                              1,
                              VK_API_VERSION_1_3};
        VkInstanceCreateInfo ici{};
        ici.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
        ici.pApplicationInfo = &app;
        check(vkCreateInstance(&ici, nullptr, &instance), "vkCreateInstance");
        std::uint32_t count = 1;
        const VkResult r = vkEnumeratePhysicalDevices(instance, &count, &pd);
        if ((r != VK_SUCCESS && r != VK_INCOMPLETE) || count < 1)
            throw Unavailable("native: no physical device");
        const float priority = 1.0f;
        VkDeviceQueueCreateInfo qci{};
        qci.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
        qci.queueCount = 1;
        qci.pQueuePriorities = &priority;
        VkDeviceCreateInfo dci{};
        dci.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
        dci.queueCreateInfoCount = 1;
        dci.pQueueCreateInfos = &qci;
        check(vkCreateDevice(pd, &dci, nullptr, &device), "vkCreateDevice");
        vkGetDeviceQueue(device, 0, 0, &queue);
        vkGetPhysicalDeviceMemoryProperties(pd, &memory);

        storage = make_buffer(Shape::kStorageBytes, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                                                        VK_BUFFER_USAGE_VERTEX_BUFFER_BIT);
        src = make_buffer(Shape::kBulkBytes, VK_BUFFER_USAGE_TRANSFER_SRC_BIT);
        dst = make_buffer(Shape::kBulkBytes, VK_BUFFER_USAGE_TRANSFER_DST_BIT);
        make_pipeline();

        VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO, nullptr,
                                    VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT, 0};
        check(vkCreateCommandPool(device, &pci, nullptr, &pool), "vkCreateCommandPool");
        VkCommandBufferAllocateInfo cai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, nullptr,
                                        pool, VK_COMMAND_BUFFER_LEVEL_PRIMARY, 1};
        check(vkAllocateCommandBuffers(device, &cai, &record_cb), "vkAllocateCommandBuffers");
        check(vkAllocateCommandBuffers(device, &cai, &copy_cb), "vkAllocateCommandBuffers");
        VkCommandBufferBeginInfo bi{};
        bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
        check(vkBeginCommandBuffer(copy_cb, &bi), "vkBeginCommandBuffer");
        const VkBufferCopy region{0, 0, Shape::kBulkBytes};
        vkCmdCopyBuffer(copy_cb, src.buffer, dst.buffer, 1, &region);
        check(vkEndCommandBuffer(copy_cb), "vkEndCommandBuffer");
        VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO, nullptr, 0};
        check(vkCreateFence(device, &fci, nullptr, &fence), "vkCreateFence");
    }

    ~State() {
        if (device) {
            vkDeviceWaitIdle(device);
            vkDestroyFence(device, fence, nullptr);
            vkDestroyCommandPool(device, pool, nullptr);
            vkDestroyDescriptorPool(device, desc_pool, nullptr);
            vkDestroyPipeline(device, pipeline, nullptr);
            vkDestroyShaderModule(device, shader, nullptr);
            vkDestroyPipelineLayout(device, layout, nullptr);
            vkDestroyDescriptorSetLayout(device, set_layout, nullptr);
            for (Buffer* b : {&storage, &src, &dst}) {
                vkDestroyBuffer(device, b->buffer, nullptr);
                vkFreeMemory(device, b->memory, nullptr);
            }
            vkDestroyDevice(device, nullptr);
        }
        if (instance)
            vkDestroyInstance(instance, nullptr);
    }

    Buffer make_buffer(VkDeviceSize size, VkBufferUsageFlags usage) {
        Buffer b;
        VkBufferCreateInfo bci{};
        bci.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
        bci.size = size;
        bci.usage = usage;
        check(vkCreateBuffer(device, &bci, nullptr, &b.buffer), "vkCreateBuffer");
        VkMemoryRequirements req;
        vkGetBufferMemoryRequirements(device, b.buffer, &req);
        const VkMemoryPropertyFlags want =
            VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
        std::uint32_t type = UINT32_MAX;
        for (std::uint32_t i = 0; i < memory.memoryTypeCount && type == UINT32_MAX; ++i)
            if ((req.memoryTypeBits & (1u << i)) &&
                (memory.memoryTypes[i].propertyFlags & want) == want)
                type = i;
        if (type == UINT32_MAX)
            throw Unavailable("native: no host-visible coherent memory type");
        VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, nullptr, req.size, type};
        check(vkAllocateMemory(device, &ai, nullptr, &b.memory), "vkAllocateMemory");
        check(vkBindBufferMemory(device, b.buffer, b.memory, 0), "vkBindBufferMemory");
        check(vkMapMemory(device, b.memory, 0, VK_WHOLE_SIZE, 0, &b.mapped), "vkMapMemory");
        return b;
    }

    void make_pipeline() {
        VkDescriptorSetLayoutBinding binding{0, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1,
                                             VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
        VkDescriptorSetLayoutCreateInfo dslci{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                              nullptr, 0, 1, &binding};
        check(vkCreateDescriptorSetLayout(device, &dslci, nullptr, &set_layout),
              "vkCreateDescriptorSetLayout");
        VkPushConstantRange range{VK_SHADER_STAGE_COMPUTE_BIT, 0, 16};
        VkPipelineLayoutCreateInfo plci{
            VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, nullptr, 0, 1, &set_layout, 1, &range};
        check(vkCreatePipelineLayout(device, &plci, nullptr, &layout), "vkCreatePipelineLayout");
        VkShaderModuleCreateInfo smci{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, nullptr, 0,
                                      sizeof(vn_bench_comp_spv), vn_bench_comp_spv};
        check(vkCreateShaderModule(device, &smci, nullptr, &shader), "vkCreateShaderModule");
        VkComputePipelineCreateInfo cpci{};
        cpci.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO;
        cpci.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                      nullptr,
                      0,
                      VK_SHADER_STAGE_COMPUTE_BIT,
                      shader,
                      "main",
                      nullptr};
        cpci.layout = layout;
        check(vkCreateComputePipelines(device, VK_NULL_HANDLE, 1, &cpci, nullptr, &pipeline),
              "vkCreateComputePipelines");
        VkDescriptorPoolSize pool_size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1};
        VkDescriptorPoolCreateInfo dpci{
            VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO, nullptr, 0, 1, 1, &pool_size};
        check(vkCreateDescriptorPool(device, &dpci, nullptr, &desc_pool), "vkCreateDescriptorPool");
        VkDescriptorSetAllocateInfo dsai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO, nullptr,
                                         desc_pool, 1, &set_layout};
        check(vkAllocateDescriptorSets(device, &dsai, &set), "vkAllocateDescriptorSets");
        VkDescriptorBufferInfo info{storage.buffer, 0, VK_WHOLE_SIZE};
        VkWriteDescriptorSet write{};
        write.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
        write.dstSet = set;
        write.descriptorCount = 1;
        write.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        write.pBufferInfo = &info;
        vkUpdateDescriptorSets(device, 1, &write, 0, nullptr);
    }

    // The same command buffer the Venus guest encodes (venus_workloads.cpp encode_recording).
    void record() {
        VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO, nullptr,
                                    VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT, nullptr};
        check(vkBeginCommandBuffer(record_cb, &bi), "vkBeginCommandBuffer");
        const float constants[4] = {1, 2, 3, 4};
        const VkDeviceSize offset = 0;
        const VkRect2D rect{{0, 0}, {256, 256}};
        VkBufferMemoryBarrier barrier{VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER,
                                      nullptr,
                                      VK_ACCESS_SHADER_WRITE_BIT,
                                      VK_ACCESS_SHADER_READ_BIT,
                                      VK_QUEUE_FAMILY_IGNORED,
                                      VK_QUEUE_FAMILY_IGNORED,
                                      storage.buffer,
                                      0,
                                      VK_WHOLE_SIZE};
        for (std::uint32_t i = 0; i < Shape::kBatches; ++i) {
            vkCmdBindPipeline(record_cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
            vkCmdBindDescriptorSets(record_cb, VK_PIPELINE_BIND_POINT_COMPUTE, layout, 0, 1, &set,
                                    0, nullptr);
            vkCmdPushConstants(record_cb, layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(constants),
                               constants);
            vkCmdBindVertexBuffers(record_cb, 0, 1, &storage.buffer, &offset);
            vkCmdSetScissor(record_cb, 0, 1, &rect);
            vkCmdDraw(record_cb, 3, 1, 0, 0);
            vkCmdDispatch(record_cb, 16, 1, 1);
            vkCmdPipelineBarrier(record_cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                                 VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 0, nullptr, 1, &barrier,
                                 0, nullptr);
        }
        check(vkEndCommandBuffer(record_cb), "vkEndCommandBuffer");
    }

    VkMemoryRequirements memory_requirements() {
        VkBufferMemoryRequirementsInfo2 ri{VK_STRUCTURE_TYPE_BUFFER_MEMORY_REQUIREMENTS_INFO_2,
                                           nullptr, storage.buffer};
        VkMemoryRequirements2 req{VK_STRUCTURE_TYPE_MEMORY_REQUIREMENTS_2, nullptr, {}};
        vkGetBufferMemoryRequirements2(device, &ri, &req);
        return req.memoryRequirements;
    }
};

Native::Native() : m_state(new State) {}

std::string Native::device_name() const {
    VkPhysicalDeviceProperties props{};
    vkGetPhysicalDeviceProperties(m_state->pd, &props);
    return props.deviceName;
}

Native::~Native() {
    delete m_state;
}

void Native::run_round(const Options& o, TargetResult& out) {
    State& s = *m_state;
    auto attempt = [&](const char* key, auto&& f) {
        if (!o.wants(key))
            return;
        try {
            f();
        } catch (const Unavailable& e) {
            std::fprintf(stderr, "venus-bench: %s\n", e.what());
            out.mark_unavailable(key, e.what());
        }
    };

    attempt("round_trip", [&] {
        for (int i = 0; i < 10; ++i)
            s.memory_requirements();
        Budget budget(o);
        for (std::size_t n = 0; budget.more(n); ++n) {
            const auto t0 = Clock::now();
            const VkMemoryRequirements req = s.memory_requirements();
            const auto t1 = Clock::now();
            if (req.size < Shape::kStorageBytes)
                throw Unavailable("native: short memory requirements");
            out.round_trip_us.push_back(micros(t0, t1));
        }
    });

    attempt("submit_fence", [&] {
        Budget budget(o);
        for (std::size_t n = 0; budget.more(n); ++n) {
            const auto t0 = Clock::now();
            check(vkQueueSubmit(s.queue, 0, nullptr, s.fence), "vkQueueSubmit");
            check(vkWaitForFences(s.device, 1, &s.fence, VK_TRUE, 30'000'000'000ull),
                  "vkWaitForFences");
            out.submit_fence_us.push_back(micros(t0, Clock::now()));
            check(vkResetFences(s.device, 1, &s.fence), "vkResetFences");
        }
    });

    attempt("throughput", [&] {
        s.record(); // warm-up, as for the servers
        Budget budget(o);
        const auto t0 = Clock::now();
        std::size_t buffers = 0;
        for (; budget.more(buffers); ++buffers)
            s.record();
        const double seconds = seconds_between(t0, Clock::now());
        out.throughput.push_back(static_cast<double>(buffers * Shape::kCommandsPerBuffer) /
                                 seconds);
        out.transport = "direct calls";
    });

    attempt("bulk", [&] {
        VkSubmitInfo si{};
        si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
        si.commandBufferCount = 1;
        si.pCommandBuffers = &s.copy_cb;
        Budget budget(o);
        const auto t0 = Clock::now();
        std::size_t n = 0;
        for (; budget.more(n); ++n) {
            const auto pattern = static_cast<std::uint8_t>(n * 37 + 1);
            std::memset(s.src.mapped, pattern, Shape::kBulkBytes);
            // What the application asks for; a Venus guest driver turns the wait into polls.
            check(vkQueueSubmit(s.queue, 1, &si, s.fence), "vkQueueSubmit");
            check(vkWaitForFences(s.device, 1, &s.fence, VK_TRUE, 30'000'000'000ull),
                  "vkWaitForFences");
            check(vkResetFences(s.device, 1, &s.fence), "vkResetFences");
            const auto* words = static_cast<const std::uint64_t*>(s.dst.mapped);
            std::uint64_t any_diff = 0, expect = 0;
            std::memset(&expect, pattern, sizeof(expect));
            for (std::size_t i = 0; i < Shape::kBulkBytes / 8; ++i)
                any_diff |= words[i] ^ expect;
            if (any_diff)
                throw Unavailable("native: the copied bytes differ from what was written");
        }
        const double seconds = seconds_between(t0, Clock::now());
        out.bulk_bytes_per_s.push_back(static_cast<double>(n * Shape::kBulkBytes) / seconds);
    });
}

} // namespace vn::bench
