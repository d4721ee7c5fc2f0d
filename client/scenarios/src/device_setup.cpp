#include "vn/scenarios/device_setup.h"

#include <chrono>
#include <thread>

namespace vn::scenarios {

Device create_device(Commands guest, const DeviceOptions& options) {
    Device dev;
    dev.instance = create_instance(guest, options.api_version);
    const auto pds = enumerate_physical_devices(guest, dev.instance);
    dev.physical_device = query_physical_device(guest, pds.front());

    const auto& families = dev.physical_device.queue_families;
    std::uint32_t family = UINT32_MAX;
    for (std::uint32_t i = 0; i < families.size() && family == UINT32_MAX; ++i)
        if (families[i].queueFlags & VK_QUEUE_COMPUTE_BIT && families[i].queueCount > 0)
            family = i;
    if (family == UINT32_MAX)
        throw Failure("no queue family with compute");
    dev.queue_family = family;

    const float priority = 1.0f;
    VkDeviceQueueCreateInfo qci{};
    qci.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
    qci.queueFamilyIndex = family;
    qci.queueCount = 1;
    qci.pQueuePriorities = &priority;
    VkPhysicalDeviceVulkan12Features f12{};
    f12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
    f12.timelineSemaphore = options.timeline_semaphore ? VK_TRUE : VK_FALSE;
    VkDeviceCreateInfo dci{};
    dci.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
    dci.pNext = options.timeline_semaphore ? &f12 : nullptr;
    dci.queueCreateInfoCount = 1;
    dci.pQueueCreateInfos = &qci;
    dev.id = guest.new_id();
    VkDevice device = handle<VkDevice>(dev.id);
    gen::CreateDeviceArgs cd;
    cd.physicalDevice = ref<VkPhysicalDevice>(dev.physical_device.id);
    cd.pCreateInfo = &dci;
    cd.pDevice = &device;
    const auto r = call(guest, cd);
    expect_success(r.ret, "vkCreateDevice");

    dev.queue = guest.new_id();
    dev.queue_ring_idx = options.queue_ring_idx;
    VkDeviceQueueTimelineInfoMESA timeline{};
    timeline.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_TIMELINE_INFO_MESA;
    timeline.ringIdx = options.queue_ring_idx;
    VkDeviceQueueInfo2 qi{};
    qi.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_INFO_2;
    qi.pNext = options.queue_ring_idx ? &timeline : nullptr;
    qi.queueFamilyIndex = family;
    VkQueue queue = handle<VkQueue>(dev.queue);
    gen::GetDeviceQueue2Args gq;
    gq.device = dev.ref();
    gq.pQueueInfo = &qi;
    gq.pQueue = &queue;
    send(guest, gq);

    VkCommandPoolCreateInfo pci{};
    pci.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
    pci.flags = options.command_pool_flags;
    pci.queueFamilyIndex = family;
    dev.command_pool = guest.new_id();
    VkCommandPool pool = handle<VkCommandPool>(dev.command_pool);
    gen::CreateCommandPoolArgs cp;
    cp.device = dev.ref();
    cp.pCreateInfo = &pci;
    cp.pCommandPool = &pool;
    expect_success(call(guest, cp).ret, "vkCreateCommandPool");
    return dev;
}

void destroy_device(client::Guest& guest, const Device& device) {
    gen::DestroyDeviceArgs dd;
    dd.device = device.ref();
    send(guest, dd);
    destroy_instance(guest, device.instance);
    if (guest.sync() != client::Status::Ok)
        throw Failure("destroying the device: " + guest.last_error());
}

std::uint32_t find_memory_type(const Device& device, std::uint32_t type_bits,
                               VkMemoryPropertyFlags flags) {
    const auto& mem = device.physical_device.memory;
    for (std::uint32_t i = 0; i < mem.memoryTypeCount; ++i)
        if ((type_bits & (1u << i)) && (mem.memoryTypes[i].propertyFlags & flags) == flags)
            return i;
    throw Failure("no memory type with the flags asked for");
}

HostBuffer create_host_buffer(client::Guest& guest, const Device& device, VkDeviceSize size,
                              VkBufferUsageFlags usage) {
    HostBuffer out;
    out.buffer = guest.new_id();
    out.memory = guest.new_id();
    VkBufferCreateInfo bci{};
    bci.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
    bci.size = size;
    bci.usage = usage;
    VkBuffer buffer = handle<VkBuffer>(out.buffer);
    gen::CreateBufferArgs cb;
    cb.device = device.ref();
    cb.pCreateInfo = &bci;
    cb.pBuffer = &buffer;
    expect_success(call(guest, cb).ret, "vkCreateBuffer");

    VkBufferMemoryRequirementsInfo2 ri{};
    ri.sType = VK_STRUCTURE_TYPE_BUFFER_MEMORY_REQUIREMENTS_INFO_2;
    ri.buffer = buffer;
    VkMemoryRequirements2 req{};
    req.sType = VK_STRUCTURE_TYPE_MEMORY_REQUIREMENTS_2;
    gen::GetBufferMemoryRequirements2Args gr;
    gr.device = device.ref();
    gr.pInfo = &ri;
    gr.pMemoryRequirements = &req;
    const VkMemoryRequirements mr = call(guest, gr).pMemoryRequirements->memoryRequirements;
    if (mr.size < size)
        throw Failure("vkGetBufferMemoryRequirements2: smaller than the buffer");
    // Mappable memory in whole pages, as Mesa's driver allocates it: a blob maps pages.
    out.size = (mr.size + 4095) & ~VkDeviceSize{4095};

    VkMemoryAllocateInfo ai{};
    ai.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
    ai.allocationSize = out.size;
    ai.memoryTypeIndex = find_memory_type(device, mr.memoryTypeBits,
                                          VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                              VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
    VkDeviceMemory memory = handle<VkDeviceMemory>(out.memory);
    gen::AllocateMemoryArgs am;
    am.device = device.ref();
    am.pAllocateInfo = &ai;
    am.pMemory = &memory;
    expect_success(call(guest, am).ret, "vkAllocateMemory");

    // The guest maps the memory as a blob, as Mesa does for host-visible memory.
    if (guest.map_blob(out.memory, out.size, out.mapping) != client::Status::Ok)
        throw Failure("mapping device memory: " + guest.last_error());

    VkBindBufferMemoryInfo bind{};
    bind.sType = VK_STRUCTURE_TYPE_BIND_BUFFER_MEMORY_INFO;
    bind.buffer = buffer;
    bind.memory = memory;
    gen::BindBufferMemory2Args bm;
    bm.device = device.ref();
    bm.bindInfoCount = 1;
    bm.pBindInfos = &bind;
    expect_success(call(guest, bm).ret, "vkBindBufferMemory2");
    return out;
}

void destroy_host_buffer(client::Guest& guest, const Device& device, HostBuffer& buffer) {
    gen::DestroyBufferArgs db;
    db.device = device.ref();
    db.buffer = ref<VkBuffer>(buffer.buffer);
    send(guest, db);
    gen::FreeMemoryArgs fm;
    fm.device = device.ref();
    fm.memory = ref<VkDeviceMemory>(buffer.memory);
    send(guest, fm);
    buffer.mapping.reset();
}

std::uint64_t begin_command_buffer(client::Guest& guest, const Device& device) {
    const std::uint64_t id = guest.new_id();
    VkCommandBufferAllocateInfo cai{};
    cai.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
    cai.commandPool = handle<VkCommandPool>(device.command_pool);
    cai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    cai.commandBufferCount = 1;
    VkCommandBuffer cmd = handle<VkCommandBuffer>(id);
    gen::AllocateCommandBuffersArgs acb;
    acb.device = device.ref();
    acb.pAllocateInfo = &cai;
    acb.pCommandBuffers = &cmd;
    expect_success(call(guest, acb).ret, "vkAllocateCommandBuffers");
    VkCommandBufferBeginInfo bi{};
    bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    gen::BeginCommandBufferArgs begin;
    begin.commandBuffer = ref<VkCommandBuffer>(id);
    begin.pBeginInfo = &bi;
    send(guest, begin);
    return id;
}

void end_command_buffer(client::Guest& guest, std::uint64_t command_buffer) {
    gen::EndCommandBufferArgs end;
    end.commandBuffer = ref<VkCommandBuffer>(command_buffer);
    expect_success(call(guest, end).ret, "vkEndCommandBuffer");
}

void free_command_buffer(client::Guest& guest, const Device& device, std::uint64_t command_buffer) {
    VkCommandBuffer h = handle<VkCommandBuffer>(command_buffer);
    gen::FreeCommandBuffersArgs fcb;
    fcb.device = device.ref();
    fcb.commandPool = ref<VkCommandPool>(device.command_pool);
    fcb.commandBufferCount = 1;
    fcb.pCommandBuffers = &h;
    send(guest, fcb);
}

std::uint64_t create_fence(client::Guest& guest, const Device& device, bool signaled) {
    const std::uint64_t id = guest.new_id();
    VkFenceCreateInfo fci{};
    fci.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
    fci.flags = signaled ? VK_FENCE_CREATE_SIGNALED_BIT : 0;
    VkFence fence = handle<VkFence>(id);
    gen::CreateFenceArgs cf;
    cf.device = device.ref();
    cf.pCreateInfo = &fci;
    cf.pFence = &fence;
    expect_success(call(guest, cf).ret, "vkCreateFence");
    return id;
}

void submit(client::Guest& guest, const Device& device, std::span<const std::uint64_t> commands,
            std::uint64_t fence) {
    std::vector<VkCommandBuffer> handles;
    for (const std::uint64_t c : commands)
        handles.push_back(handle<VkCommandBuffer>(c));
    VkSubmitInfo si{};
    si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
    si.commandBufferCount = static_cast<std::uint32_t>(handles.size());
    si.pCommandBuffers = handles.data();
    gen::QueueSubmitArgs qs;
    qs.queue = ref<VkQueue>(device.queue);
    qs.submitCount = 1;
    qs.pSubmits = &si;
    qs.fence = ref<VkFence>(fence);
    expect_success(call(guest, qs).ret, "vkQueueSubmit");
}

VkResult fence_status(client::Guest& guest, const Device& device, std::uint64_t fence) {
    gen::GetFenceStatusArgs gs;
    gs.device = device.ref();
    gs.fence = ref<VkFence>(fence);
    return call(guest, gs).ret;
}

void wait_fence(client::Guest& guest, const Device& device, std::uint64_t fence, int timeout_ms) {
    if (device.queue_ring_idx &&
        guest.wait_timeline(device.queue_ring_idx, timeout_ms) != client::Status::Ok)
        throw Failure("queue timeline fence: " + guest.last_error());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        const VkResult r = fence_status(guest, device, fence);
        if (r == VK_SUCCESS)
            return;
        if (r != VK_NOT_READY)
            throw Failure("vkGetFenceStatus returned VkResult " + std::to_string(r));
        if (std::chrono::steady_clock::now() > deadline)
            throw Failure("fence still unsignalled after " + std::to_string(timeout_ms) + " ms");
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
}

} // namespace vn::scenarios
