#pragma once
// Device objects the executor tests build again and again (buffers, memory, command buffers,
// shader modules, pipeline layouts), each created through the context as the guest driver would,
// with the ids the test names. Header-only, like guest_context.h.
#include "guest_context.h"

#include <sys/mman.h>
#include <unistd.h>

namespace vn::test_guest {

inline protocol::Ref<VkBuffer> create_buffer(Context& c, const protocol::Ref<VkDevice>& dev,
                                             std::uint64_t buffer_id, VkDeviceSize size,
                                             VkBufferUsageFlags usage) {
    VkBufferCreateInfo bci{};
    bci.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
    bci.size = size;
    bci.usage = usage;
    VkBuffer buffer = id<VkBuffer>(buffer_id);
    gen::CreateBufferArgs cb;
    cb.device = dev;
    cb.pCreateInfo = &bci;
    cb.pBuffer = &buffer;
    send(c, cb);
    return {buffer_id, buffer};
}

// The physical device's memory properties as a guest sees them through Venus.
inline VkPhysicalDeviceMemoryProperties memory_properties(Context& c) {
    VkPhysicalDeviceMemoryProperties2 mem{};
    mem.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2;
    gen::GetPhysicalDeviceMemoryProperties2Args gm;
    gm.physicalDevice = {physical_device_id, id<VkPhysicalDevice>(physical_device_id)};
    gm.pMemoryProperties = &mem;
    gen::GetPhysicalDeviceMemoryProperties2Args gm_reply;
    REQUIRE(c.call(gm, gm_reply) == DecodeResult::Ok);
    return gm_reply.pMemoryProperties->memoryProperties;
}

// The index of a memory type in `type_bits`: host-visible, or when `any_if_not_host_visible`
// and no host-visible type is allowed (an optimal-tiling image on a discrete GPU such as
// NVIDIA's), any allowed type: such memory is read back through a buffer copy.
inline std::uint32_t memory_type(Context& c, std::uint32_t type_bits,
                                 bool any_if_not_host_visible) {
    const VkPhysicalDeviceMemoryProperties props = memory_properties(c);
    std::uint32_t type = UINT32_MAX;
    for (const bool need_host_visible : {true, false}) {
        if (!need_host_visible && !any_if_not_host_visible)
            break;
        for (std::uint32_t i = 0; i < props.memoryTypeCount && type == UINT32_MAX; ++i)
            if ((type_bits & (1u << i)) &&
                (!need_host_visible ||
                 (props.memoryTypes[i].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT)))
                type = i;
    }
    REQUIRE(type != UINT32_MAX);
    return type;
}

// Allocates memory of `size` bytes of type `type` (`chain` goes into VkMemoryAllocateInfo) and
// returns what the driver said.
inline VkResult try_allocate_memory(Context& c, const protocol::Ref<VkDevice>& dev,
                                    std::uint64_t memory_id, VkDeviceSize size, std::uint32_t type,
                                    const void* chain = nullptr) {
    VkMemoryAllocateInfo ai{};
    ai.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
    ai.pNext = chain;
    ai.allocationSize = size;
    ai.memoryTypeIndex = type;
    VkDeviceMemory memory = id<VkDeviceMemory>(memory_id);
    gen::AllocateMemoryArgs am;
    am.device = dev;
    am.pAllocateInfo = &ai;
    am.pMemory = &memory;
    return c.call(am).ret;
}

// Memory of `size` bytes of type `type`; the allocation must succeed.
inline protocol::Ref<VkDeviceMemory>
allocate_memory_of_type(Context& c, const protocol::Ref<VkDevice>& dev, std::uint64_t memory_id,
                        VkDeviceSize size, std::uint32_t type) {
    REQUIRE(try_allocate_memory(c, dev, memory_id, size, type) == VK_SUCCESS);
    return {memory_id, id<VkDeviceMemory>(memory_id)};
}

// Memory of `size` bytes of a type in `type_bits`, host-visible where that is allowed.
inline protocol::Ref<VkDeviceMemory> allocate_memory(Context& c, const protocol::Ref<VkDevice>& dev,
                                                     std::uint64_t memory_id, VkDeviceSize size,
                                                     std::uint32_t type_bits) {
    return allocate_memory_of_type(c, dev, memory_id, size, memory_type(c, type_bits, true));
}

// A buffer bound to host-visible memory of exactly its required size.
struct BoundBuffer {
    protocol::Ref<VkBuffer> buffer;
    protocol::Ref<VkDeviceMemory> memory;
    VkMemoryRequirements requirements;
};

inline BoundBuffer create_bound_buffer(Context& c, const protocol::Ref<VkDevice>& dev,
                                       std::uint64_t buffer_id, std::uint64_t memory_id,
                                       VkDeviceSize size, VkBufferUsageFlags usage) {
    const auto buffer = create_buffer(c, dev, buffer_id, size, usage);

    VkBufferMemoryRequirementsInfo2 ri{};
    ri.sType = VK_STRUCTURE_TYPE_BUFFER_MEMORY_REQUIREMENTS_INFO_2;
    ri.buffer = buffer.handle;
    VkMemoryRequirements2 req{};
    req.sType = VK_STRUCTURE_TYPE_MEMORY_REQUIREMENTS_2;
    gen::GetBufferMemoryRequirements2Args gr;
    gr.device = dev;
    gr.pInfo = &ri;
    gr.pMemoryRequirements = &req;
    gen::GetBufferMemoryRequirements2Args gr_reply;
    REQUIRE(c.call(gr, gr_reply) == DecodeResult::Ok);
    const VkMemoryRequirements mr = gr_reply.pMemoryRequirements->memoryRequirements;

    const auto memory = allocate_memory_of_type(c, dev, memory_id, mr.size,
                                                memory_type(c, mr.memoryTypeBits, false));

    VkBindBufferMemoryInfo bind{};
    bind.sType = VK_STRUCTURE_TYPE_BIND_BUFFER_MEMORY_INFO;
    bind.buffer = buffer.handle;
    bind.memory = memory.handle;
    gen::BindBufferMemory2Args bm;
    bm.device = dev;
    bm.bindInfoCount = 1;
    bm.pBindInfos = &bind;
    send(c, bm);
    return {buffer, memory, mr};
}

// A command pool with one primary command buffer.
inline protocol::Ref<VkCommandBuffer> allocate_command_buffer(Context& c,
                                                              const protocol::Ref<VkDevice>& dev,
                                                              std::uint64_t pool_id,
                                                              std::uint64_t cb_id) {
    VkCommandPoolCreateInfo pci{};
    pci.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
    VkCommandPool pool = id<VkCommandPool>(pool_id);
    gen::CreateCommandPoolArgs cp;
    cp.device = dev;
    cp.pCreateInfo = &pci;
    cp.pCommandPool = &pool;
    send(c, cp);
    VkCommandBufferAllocateInfo cai{};
    cai.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
    cai.commandPool = pool;
    cai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    cai.commandBufferCount = 1;
    VkCommandBuffer cmd = id<VkCommandBuffer>(cb_id);
    gen::AllocateCommandBuffersArgs acb;
    acb.device = dev;
    acb.pAllocateInfo = &cai;
    acb.pCommandBuffers = &cmd;
    send(c, acb);
    return {cb_id, cmd};
}

// The same, recording.
inline protocol::Ref<VkCommandBuffer> begin_commands(Context& c, const protocol::Ref<VkDevice>& dev,
                                                     std::uint64_t pool_id, std::uint64_t cb_id) {
    const auto cb = allocate_command_buffer(c, dev, pool_id, cb_id);
    VkCommandBufferBeginInfo bi{};
    bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
    gen::BeginCommandBufferArgs begin;
    begin.commandBuffer = cb;
    begin.pBeginInfo = &bi;
    send(c, begin);
    return cb;
}

// Ends the command buffer, submits it and waits for the device to go idle.
inline void end_submit_wait(Context& c, const protocol::Ref<VkDevice>& dev,
                            const protocol::Ref<VkQueue>& queue,
                            const protocol::Ref<VkCommandBuffer>& cb) {
    gen::EndCommandBufferArgs end;
    end.commandBuffer = cb;
    send(c, end);
    VkSubmitInfo si{};
    si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cb.handle;
    gen::QueueSubmitArgs qs;
    qs.queue = queue;
    qs.submitCount = 1;
    qs.pSubmits = &si;
    send(c, qs);
    gen::DeviceWaitIdleArgs idle;
    idle.device = dev;
    send(c, idle);
}

inline VkShaderModule create_shader_module(Context& c, const protocol::Ref<VkDevice>& dev,
                                           std::uint64_t module_id, const std::uint32_t* code,
                                           std::size_t code_size) {
    VkShaderModuleCreateInfo smci{};
    smci.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO;
    smci.codeSize = code_size;
    smci.pCode = code;
    VkShaderModule module = id<VkShaderModule>(module_id);
    gen::CreateShaderModuleArgs csm;
    csm.device = dev;
    csm.pCreateInfo = &smci;
    csm.pShaderModule = &module;
    send(c, csm);
    return module;
}

// A pipeline layout of `set_layouts` and no push constants.
inline VkPipelineLayout
create_pipeline_layout(Context& c, const protocol::Ref<VkDevice>& dev, std::uint64_t layout_id,
                       std::vector<VkDescriptorSetLayout> set_layouts = {}) {
    VkPipelineLayoutCreateInfo plci{};
    plci.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO;
    plci.setLayoutCount = static_cast<std::uint32_t>(set_layouts.size());
    plci.pSetLayouts = set_layouts.data();
    VkPipelineLayout layout = id<VkPipelineLayout>(layout_id);
    gen::CreatePipelineLayoutArgs cpl;
    cpl.device = dev;
    cpl.pCreateInfo = &plci;
    cpl.pPipelineLayout = &layout;
    send(c, cpl);
    return layout;
}

inline VkFence create_fence(Context& c, const protocol::Ref<VkDevice>& dev,
                            std::uint64_t fence_id) {
    VkFenceCreateInfo fci{};
    fci.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
    VkFence fence = id<VkFence>(fence_id);
    gen::CreateFenceArgs cf;
    cf.device = dev;
    cf.pCreateInfo = &fci;
    cf.pFence = &fence;
    send(c, cf);
    return fence;
}

// A semaphore; `chain` (a VkSemaphoreTypeCreateInfo) makes it a timeline semaphore.
inline VkSemaphore create_semaphore(Context& c, const protocol::Ref<VkDevice>& dev,
                                    std::uint64_t sem_id, const void* chain = nullptr) {
    VkSemaphoreCreateInfo sci{};
    sci.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO;
    sci.pNext = chain;
    VkSemaphore sem = id<VkSemaphore>(sem_id);
    gen::CreateSemaphoreArgs cs;
    cs.device = dev;
    cs.pCreateInfo = &sci;
    cs.pSemaphore = &sem;
    send(c, cs);
    return sem;
}

// A timeline semaphore starting at `initial`.
inline VkSemaphore create_timeline_semaphore(Context& c, const protocol::Ref<VkDevice>& dev,
                                             std::uint64_t sem_id, std::uint64_t initial = 0) {
    VkSemaphoreTypeCreateInfo type{};
    type.sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO;
    type.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE;
    type.initialValue = initial;
    return create_semaphore(c, dev, sem_id, &type);
}

// vkSignalSemaphore from the host, as a guest's would come: the driver's result.
inline VkResult signal_semaphore(Context& c, const protocol::Ref<VkDevice>& dev, VkSemaphore sem,
                                 std::uint64_t value) {
    VkSemaphoreSignalInfo signal{};
    signal.sType = VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO;
    signal.semaphore = sem;
    signal.value = value;
    gen::SignalSemaphoreArgs ss;
    ss.device = dev;
    ss.pSignalInfo = &signal;
    gen::SignalSemaphoreArgs reply;
    REQUIRE(c.call(ss, reply) == DecodeResult::Ok);
    return reply.ret;
}

// The words of a memory object as the guest sees them through the exported memfd.
inline std::vector<std::uint32_t> read_memory(Context& c, std::uint64_t memory_id,
                                              std::size_t words) {
    const auto blob = c.executor.export_memory(memory_id);
    REQUIRE(blob.has_value());
    REQUIRE(blob->size >= words * 4);
    void* map = ::mmap(nullptr, blob->size, PROT_READ, MAP_SHARED, blob->fd, 0);
    ::close(blob->fd);
    REQUIRE(map != MAP_FAILED);
    const auto* p = static_cast<const std::uint32_t*>(map);
    std::vector<std::uint32_t> out(p, p + words);
    ::munmap(map, blob->size);
    return out;
}

} // namespace vn::test_guest
