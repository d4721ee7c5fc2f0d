// vn-offscreen-check: a plain Vulkan program (through the loader, on whatever driver it picks) that
// draws a triangle into an image and runs a compute shader, then reads both back and checks every
// value. Run on Mesa's Venus ICD through venus-vtest it drives render passes, graphics and compute
// pipelines, descriptor sets, image copies and fenced submits through the whole stack.
#include <cstdint>
// clang-format off
#include "fill_comp.spv.h" // the generated arrays need <cstdint> first
#include "triangle_frag.spv.h"
#include "triangle_vert.spv.h"
// clang-format on

#include <vulkan/vulkan.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

void check(VkResult r, const char* what) {
    if (r != VK_SUCCESS)
        throw std::runtime_error(std::string(what) + " returned VkResult " + std::to_string(r));
}

constexpr std::uint32_t kSize = 64;          // image side, pixels
constexpr std::uint32_t kInvocations = 1024; // compute: 16 groups of 64

class Offscreen {
  public:
    Offscreen() {
        VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO,
                              nullptr,
                              "vn-offscreen-check",
                              1,
                              nullptr,
                              0,
                              VK_API_VERSION_1_2};
        VkInstanceCreateInfo ici{};
        ici.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
        ici.pApplicationInfo = &app;
        check(vkCreateInstance(&ici, nullptr, &m_instance), "vkCreateInstance");
        std::uint32_t n = 1;
        if (vkEnumeratePhysicalDevices(m_instance, &n, &m_pd) < 0 || n == 0)
            throw std::runtime_error("no physical device");
        VkPhysicalDeviceProperties props{};
        vkGetPhysicalDeviceProperties(m_pd, &props);
        std::printf("device: %s\n", props.deviceName);
        vkGetPhysicalDeviceMemoryProperties(m_pd, &m_memory);

        std::uint32_t families = 0;
        vkGetPhysicalDeviceQueueFamilyProperties(m_pd, &families, nullptr);
        std::vector<VkQueueFamilyProperties> fp(families);
        vkGetPhysicalDeviceQueueFamilyProperties(m_pd, &families, fp.data());
        m_family = families;
        for (std::uint32_t i = 0; i < families; ++i)
            if ((fp[i].queueFlags & (VK_QUEUE_GRAPHICS_BIT | VK_QUEUE_COMPUTE_BIT)) ==
                (VK_QUEUE_GRAPHICS_BIT | VK_QUEUE_COMPUTE_BIT)) {
                m_family = i;
                break;
            }
        if (m_family == families)
            throw std::runtime_error("no graphics+compute queue family");
        const float priority = 1.0f;
        VkDeviceQueueCreateInfo qci{
            VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO, nullptr, 0, m_family, 1, &priority};
        VkDeviceCreateInfo dci{};
        dci.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
        dci.queueCreateInfoCount = 1;
        dci.pQueueCreateInfos = &qci;
        VkPhysicalDeviceVulkan12Features v12{};
        v12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
        v12.timelineSemaphore = VK_TRUE;
        dci.pNext = &v12;
        check(vkCreateDevice(m_pd, &dci, nullptr, &m_device), "vkCreateDevice");
        vkGetDeviceQueue(m_device, m_family, 0, &m_queue);
        VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO, nullptr, 0,
                                    m_family};
        check(vkCreateCommandPool(m_device, &pci, nullptr, &m_pool), "vkCreateCommandPool");
        VkCommandBufferAllocateInfo cai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, nullptr,
                                        m_pool, VK_COMMAND_BUFFER_LEVEL_PRIMARY, 1};
        check(vkAllocateCommandBuffers(m_device, &cai, &m_cb), "vkAllocateCommandBuffers");
        VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO, nullptr, 0};
        check(vkCreateFence(m_device, &fci, nullptr, &m_fence), "vkCreateFence");
    }

    ~Offscreen() {
        if (m_device) {
            vkDeviceWaitIdle(m_device);
            for (auto p : m_pipelines)
                vkDestroyPipeline(m_device, p, nullptr);
            for (auto s : m_shaders)
                vkDestroyShaderModule(m_device, s, nullptr);
            for (auto l : m_layouts)
                vkDestroyPipelineLayout(m_device, l, nullptr);
            if (m_desc_pool)
                vkDestroyDescriptorPool(m_device, m_desc_pool, nullptr);
            if (m_set_layout)
                vkDestroyDescriptorSetLayout(m_device, m_set_layout, nullptr);
            if (m_framebuffer)
                vkDestroyFramebuffer(m_device, m_framebuffer, nullptr);
            if (m_render_pass)
                vkDestroyRenderPass(m_device, m_render_pass, nullptr);
            if (m_view)
                vkDestroyImageView(m_device, m_view, nullptr);
            if (m_image)
                vkDestroyImage(m_device, m_image, nullptr);
            for (auto b : m_buffers)
                vkDestroyBuffer(m_device, b, nullptr);
            for (auto m : m_memories)
                vkFreeMemory(m_device, m, nullptr);
            vkDestroyFence(m_device, m_fence, nullptr);
            vkDestroyCommandPool(m_device, m_pool, nullptr);
            vkDestroyDevice(m_device, nullptr);
        }
        if (m_instance)
            vkDestroyInstance(m_instance, nullptr);
    }
    Offscreen(const Offscreen&) = delete;
    Offscreen& operator=(const Offscreen&) = delete;

    // Compute: every invocation writes a value only the shader produces.
    bool compute() {
        void* mapped = nullptr;
        const VkDeviceSize size = kInvocations * sizeof(std::uint32_t);
        VkBuffer out = buffer(size, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, &mapped);
        std::memset(mapped, 0, size);

        VkDescriptorSetLayoutBinding binding{0, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1,
                                             VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
        VkDescriptorSetLayoutCreateInfo dslci{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                              nullptr, 0, 1, &binding};
        check(vkCreateDescriptorSetLayout(m_device, &dslci, nullptr, &m_set_layout),
              "vkCreateDescriptorSetLayout");
        VkPipelineLayout layout = pipeline_layout(1, &m_set_layout);
        VkDescriptorPoolSize ps{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1};
        VkDescriptorPoolCreateInfo dpci{
            VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO, nullptr, 0, 1, 1, &ps};
        check(vkCreateDescriptorPool(m_device, &dpci, nullptr, &m_desc_pool),
              "vkCreateDescriptorPool");
        VkDescriptorSetAllocateInfo dsai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO, nullptr,
                                         m_desc_pool, 1, &m_set_layout};
        VkDescriptorSet set = VK_NULL_HANDLE;
        check(vkAllocateDescriptorSets(m_device, &dsai, &set), "vkAllocateDescriptorSets");
        VkDescriptorBufferInfo info{out, 0, VK_WHOLE_SIZE};
        VkWriteDescriptorSet write{};
        write.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
        write.dstSet = set;
        write.descriptorCount = 1;
        write.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        write.pBufferInfo = &info;
        vkUpdateDescriptorSets(m_device, 1, &write, 0, nullptr);

        VkComputePipelineCreateInfo cpci{};
        cpci.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO;
        cpci.stage =
            stage(VK_SHADER_STAGE_COMPUTE_BIT, shader(vn_fill_comp_spv, sizeof(vn_fill_comp_spv)));
        cpci.layout = layout;
        VkPipeline pipeline = VK_NULL_HANDLE;
        check(vkCreateComputePipelines(m_device, VK_NULL_HANDLE, 1, &cpci, nullptr, &pipeline),
              "vkCreateComputePipelines");
        m_pipelines.push_back(pipeline);

        begin();
        vkCmdBindPipeline(m_cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
        vkCmdBindDescriptorSets(m_cb, VK_PIPELINE_BIND_POINT_COMPUTE, layout, 0, 1, &set, 0,
                                nullptr);
        vkCmdDispatch(m_cb, kInvocations / 64, 1, 1);
        host_barrier();
        submit();

        const auto* values = static_cast<const std::uint32_t*>(mapped);
        for (std::uint32_t i = 0; i < kInvocations; ++i)
            if (values[i] != i * 3u + 1u) {
                std::printf("compute: value %u is %u, not %u\n", i, values[i], i * 3u + 1u);
                return false;
            }
        std::printf("compute: %u values ok\n", kInvocations);
        return true;
    }

    // Graphics: a green triangle over a red clear, copied to a buffer; a pixel inside and one
    // outside it are checked, and a fill and a buffer copy on the way.
    bool draw() {
        const VkFormat format = VK_FORMAT_R8G8B8A8_UNORM;
        VkImageCreateInfo ici{};
        ici.sType = VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO;
        ici.imageType = VK_IMAGE_TYPE_2D;
        ici.format = format;
        ici.extent = {kSize, kSize, 1};
        ici.mipLevels = 1;
        ici.arrayLayers = 1;
        ici.samples = VK_SAMPLE_COUNT_1_BIT;
        ici.tiling = VK_IMAGE_TILING_OPTIMAL;
        ici.usage = VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT | VK_IMAGE_USAGE_TRANSFER_SRC_BIT;
        check(vkCreateImage(m_device, &ici, nullptr, &m_image), "vkCreateImage");
        VkMemoryRequirements req{};
        vkGetImageMemoryRequirements(m_device, m_image, &req);
        VkDeviceMemory mem = allocate(req, 0);
        check(vkBindImageMemory(m_device, m_image, mem, 0), "vkBindImageMemory");
        VkImageViewCreateInfo vci{};
        vci.sType = VK_STRUCTURE_TYPE_IMAGE_VIEW_CREATE_INFO;
        vci.image = m_image;
        vci.viewType = VK_IMAGE_VIEW_TYPE_2D;
        vci.format = format;
        vci.subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1};
        check(vkCreateImageView(m_device, &vci, nullptr, &m_view), "vkCreateImageView");

        VkAttachmentDescription att{};
        att.format = format;
        att.samples = VK_SAMPLE_COUNT_1_BIT;
        att.loadOp = VK_ATTACHMENT_LOAD_OP_CLEAR;
        att.storeOp = VK_ATTACHMENT_STORE_OP_STORE;
        att.stencilLoadOp = VK_ATTACHMENT_LOAD_OP_DONT_CARE;
        att.stencilStoreOp = VK_ATTACHMENT_STORE_OP_DONT_CARE;
        att.initialLayout = VK_IMAGE_LAYOUT_UNDEFINED;
        att.finalLayout = VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL;
        VkAttachmentReference ref{0, VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL};
        VkSubpassDescription sub{};
        sub.pipelineBindPoint = VK_PIPELINE_BIND_POINT_GRAPHICS;
        sub.colorAttachmentCount = 1;
        sub.pColorAttachments = &ref;
        VkSubpassDependency dep{0,
                                VK_SUBPASS_EXTERNAL,
                                VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT,
                                VK_PIPELINE_STAGE_TRANSFER_BIT,
                                VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT,
                                VK_ACCESS_TRANSFER_READ_BIT,
                                0};
        VkRenderPassCreateInfo rpci{
            VK_STRUCTURE_TYPE_RENDER_PASS_CREATE_INFO, nullptr, 0, 1, &att, 1, &sub, 1, &dep};
        check(vkCreateRenderPass(m_device, &rpci, nullptr, &m_render_pass), "vkCreateRenderPass");
        VkFramebufferCreateInfo fbci{VK_STRUCTURE_TYPE_FRAMEBUFFER_CREATE_INFO,
                                     nullptr,
                                     0,
                                     m_render_pass,
                                     1,
                                     &m_view,
                                     kSize,
                                     kSize,
                                     1};
        check(vkCreateFramebuffer(m_device, &fbci, nullptr, &m_framebuffer), "vkCreateFramebuffer");

        VkPipeline pipeline = graphics_pipeline(pipeline_layout(0, nullptr));

        // The triangle: the middle of the image is inside, the corners are not.
        const float positions[] = {-0.5f, -0.5f, 0.5f, -0.5f, 0.0f, 0.5f};
        void* vmapped = nullptr;
        VkBuffer vertices = buffer(sizeof(positions), VK_BUFFER_USAGE_VERTEX_BUFFER_BIT, &vmapped);
        std::memcpy(vmapped, positions, sizeof(positions));

        const VkDeviceSize pixels_size = kSize * kSize * 4;
        void* pmapped = nullptr;
        VkBuffer pixels = buffer(pixels_size, VK_BUFFER_USAGE_TRANSFER_DST_BIT, &pmapped);
        std::memset(pmapped, 0, pixels_size);
        // Fill one buffer on the device, copy it into another: both checked below.
        void* fmapped = nullptr;
        VkBuffer filled = buffer(
            256, VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT, &fmapped);
        void* cmapped = nullptr;
        VkBuffer copied = buffer(256, VK_BUFFER_USAGE_TRANSFER_DST_BIT, &cmapped);
        std::memset(fmapped, 0, 256);
        std::memset(cmapped, 0, 256);

        begin();
        VkClearValue clear{};
        clear.color.float32[0] = 1.0f;
        clear.color.float32[3] = 1.0f;
        VkRenderPassBeginInfo rpbi{VK_STRUCTURE_TYPE_RENDER_PASS_BEGIN_INFO,
                                   nullptr,
                                   m_render_pass,
                                   m_framebuffer,
                                   {{0, 0}, {kSize, kSize}},
                                   1,
                                   &clear};
        vkCmdBeginRenderPass(m_cb, &rpbi, VK_SUBPASS_CONTENTS_INLINE);
        vkCmdBindPipeline(m_cb, VK_PIPELINE_BIND_POINT_GRAPHICS, pipeline);
        const VkDeviceSize offset = 0;
        vkCmdBindVertexBuffers(m_cb, 0, 1, &vertices, &offset);
        vkCmdDraw(m_cb, 3, 1, 0, 0);
        vkCmdEndRenderPass(m_cb);
        VkBufferImageCopy region{};
        region.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1};
        region.imageExtent = {kSize, kSize, 1};
        vkCmdCopyImageToBuffer(m_cb, m_image, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, pixels, 1,
                               &region);
        vkCmdFillBuffer(m_cb, filled, 0, 256, 0xa5a5a5a5u);
        VkMemoryBarrier fill_done{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr,
                                  VK_ACCESS_TRANSFER_WRITE_BIT, VK_ACCESS_TRANSFER_READ_BIT};
        vkCmdPipelineBarrier(m_cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT,
                             0, 1, &fill_done, 0, nullptr, 0, nullptr);
        VkBufferCopy bc{0, 0, 256};
        vkCmdCopyBuffer(m_cb, filled, copied, 1, &bc);
        host_barrier();
        submit();

        const auto* px = static_cast<const std::uint8_t*>(pmapped);
        auto pixel = [&](std::uint32_t x, std::uint32_t y) {
            const std::uint8_t* p = px + (y * kSize + x) * 4;
            return std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 |
                   std::uint32_t(p[3]) << 24;
        };
        const std::uint32_t green = 0xff00ff00u, red = 0xff0000ffu;
        if (pixel(kSize / 2, kSize / 2) != green || pixel(1, 1) != red ||
            pixel(kSize - 2, kSize - 2) != red) {
            std::printf("draw: centre %08x, corners %08x %08x (want %08x inside, %08x outside)\n",
                        pixel(kSize / 2, kSize / 2), pixel(1, 1), pixel(kSize - 2, kSize - 2),
                        green, red);
            return false;
        }
        const auto* c = static_cast<const std::uint8_t*>(cmapped);
        for (int i = 0; i < 256; ++i)
            if (c[i] != 0xa5) {
                std::printf("fill+copy: byte %d is %02x\n", i, c[i]);
                return false;
            }
        std::printf("draw: %ux%u triangle ok; fill+copy ok\n", kSize, kSize);
        return true;
    }

    // Queries, a timeline semaphore and an event: what Mesa's Venus driver answers from feedback
    // buffers the device writes, rather than by asking the host.
    bool sync() {
        VkQueryPoolCreateInfo qpci{};
        qpci.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO;
        qpci.queryType = VK_QUERY_TYPE_TIMESTAMP;
        qpci.queryCount = 2;
        VkQueryPool pool = VK_NULL_HANDLE;
        check(vkCreateQueryPool(m_device, &qpci, nullptr, &pool), "vkCreateQueryPool");
        VkSemaphoreTypeCreateInfo type{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO, nullptr,
                                       VK_SEMAPHORE_TYPE_TIMELINE, 5};
        VkSemaphoreCreateInfo sci{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, &type, 0};
        VkSemaphore timeline = VK_NULL_HANDLE;
        check(vkCreateSemaphore(m_device, &sci, nullptr, &timeline), "vkCreateSemaphore");
        VkEventCreateInfo eci{VK_STRUCTURE_TYPE_EVENT_CREATE_INFO, nullptr, 0};
        VkEvent event = VK_NULL_HANDLE;
        check(vkCreateEvent(m_device, &eci, nullptr, &event), "vkCreateEvent");

        begin();
        vkCmdResetQueryPool(m_cb, pool, 0, 2);
        vkCmdWriteTimestamp(m_cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, pool, 0);
        vkCmdSetEvent(m_cb, event, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT);
        vkCmdWriteTimestamp(m_cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, pool, 1);
        check(vkEndCommandBuffer(m_cb), "vkEndCommandBuffer");
        const std::uint64_t signal_value = 9;
        VkTimelineSemaphoreSubmitInfo tsi{};
        tsi.sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO;
        tsi.signalSemaphoreValueCount = 1;
        tsi.pSignalSemaphoreValues = &signal_value;
        VkSubmitInfo si{};
        si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
        si.pNext = &tsi;
        si.commandBufferCount = 1;
        si.pCommandBuffers = &m_cb;
        si.signalSemaphoreCount = 1;
        si.pSignalSemaphores = &timeline;
        check(vkQueueSubmit(m_queue, 1, &si, VK_NULL_HANDLE), "vkQueueSubmit");
        VkSemaphoreWaitInfo wi{
            VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO, nullptr, 0, 1, &timeline, &signal_value};
        check(vkWaitSemaphores(m_device, &wi, 30'000'000'000ull), "vkWaitSemaphores");
        std::uint64_t value = 0;
        check(vkGetSemaphoreCounterValue(m_device, timeline, &value), "vkGetSemaphoreCounterValue");
        std::uint64_t stamps[2]{};
        check(vkGetQueryPoolResults(m_device, pool, 0, 2, sizeof(stamps), stamps,
                                    sizeof(std::uint64_t),
                                    VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
              "vkGetQueryPoolResults");
        const VkResult event_status = vkGetEventStatus(m_device, event);
        check(vkQueueWaitIdle(m_queue), "vkQueueWaitIdle");
        vkDestroyEvent(m_device, event, nullptr);
        vkDestroySemaphore(m_device, timeline, nullptr);
        vkDestroyQueryPool(m_device, pool, nullptr);
        if (value != signal_value || event_status != VK_EVENT_SET || stamps[1] < stamps[0]) {
            std::printf("sync: timeline %llu (want %llu), event %d, timestamps %llu..%llu\n",
                        static_cast<unsigned long long>(value),
                        static_cast<unsigned long long>(signal_value), event_status,
                        static_cast<unsigned long long>(stamps[0]),
                        static_cast<unsigned long long>(stamps[1]));
            return false;
        }
        std::printf("sync: timeline semaphore, event and timestamp queries ok\n");
        return true;
    }

  private:
    void begin() {
        VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO, nullptr,
                                    VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT, nullptr};
        check(vkResetCommandBuffer(m_cb, 0), "vkResetCommandBuffer");
        check(vkBeginCommandBuffer(m_cb, &bi), "vkBeginCommandBuffer");
    }
    void host_barrier() {
        VkMemoryBarrier b{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_MEMORY_WRITE_BIT,
                          VK_ACCESS_HOST_READ_BIT};
        vkCmdPipelineBarrier(m_cb, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, VK_PIPELINE_STAGE_HOST_BIT,
                             0, 1, &b, 0, nullptr, 0, nullptr);
    }
    void submit() {
        check(vkEndCommandBuffer(m_cb), "vkEndCommandBuffer");
        VkSubmitInfo si{};
        si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
        si.commandBufferCount = 1;
        si.pCommandBuffers = &m_cb;
        check(vkQueueSubmit(m_queue, 1, &si, m_fence), "vkQueueSubmit");
        check(vkWaitForFences(m_device, 1, &m_fence, VK_TRUE, 30'000'000'000ull),
              "vkWaitForFences");
        check(vkResetFences(m_device, 1, &m_fence), "vkResetFences");
    }
    VkDeviceMemory allocate(const VkMemoryRequirements& req, VkMemoryPropertyFlags flags) {
        for (std::uint32_t i = 0; i < m_memory.memoryTypeCount; ++i)
            if ((req.memoryTypeBits & (1u << i)) &&
                (m_memory.memoryTypes[i].propertyFlags & flags) == flags) {
                VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, nullptr, req.size,
                                        i};
                VkDeviceMemory mem = VK_NULL_HANDLE;
                check(vkAllocateMemory(m_device, &ai, nullptr, &mem), "vkAllocateMemory");
                m_memories.push_back(mem);
                return mem;
            }
        throw std::runtime_error("no suitable memory type");
    }
    // A host-visible, coherent buffer, mapped.
    VkBuffer buffer(VkDeviceSize size, VkBufferUsageFlags usage, void** mapped) {
        VkBufferCreateInfo bci{};
        bci.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
        bci.size = size;
        bci.usage = usage;
        VkBuffer b = VK_NULL_HANDLE;
        check(vkCreateBuffer(m_device, &bci, nullptr, &b), "vkCreateBuffer");
        m_buffers.push_back(b);
        VkMemoryRequirements req{};
        vkGetBufferMemoryRequirements(m_device, b, &req);
        VkDeviceMemory mem = allocate(req, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                               VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
        check(vkBindBufferMemory(m_device, b, mem, 0), "vkBindBufferMemory");
        check(vkMapMemory(m_device, mem, 0, VK_WHOLE_SIZE, 0, mapped), "vkMapMemory");
        return b;
    }
    VkShaderModule shader(const std::uint32_t* code, std::size_t size) {
        VkShaderModuleCreateInfo smci{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, nullptr, 0, size,
                                      code};
        VkShaderModule m = VK_NULL_HANDLE;
        check(vkCreateShaderModule(m_device, &smci, nullptr, &m), "vkCreateShaderModule");
        m_shaders.push_back(m);
        return m;
    }
    static VkPipelineShaderStageCreateInfo stage(VkShaderStageFlagBits s, VkShaderModule m) {
        VkPipelineShaderStageCreateInfo info{};
        info.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
        info.stage = s;
        info.module = m;
        info.pName = "main";
        return info;
    }
    VkPipelineLayout pipeline_layout(std::uint32_t n, const VkDescriptorSetLayout* sets) {
        VkPipelineLayoutCreateInfo plci{};
        plci.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO;
        plci.setLayoutCount = n;
        plci.pSetLayouts = sets;
        VkPipelineLayout l = VK_NULL_HANDLE;
        check(vkCreatePipelineLayout(m_device, &plci, nullptr, &l), "vkCreatePipelineLayout");
        m_layouts.push_back(l);
        return l;
    }
    VkPipeline graphics_pipeline(VkPipelineLayout layout) {
        const VkPipelineShaderStageCreateInfo stages[] = {
            stage(VK_SHADER_STAGE_VERTEX_BIT,
                  shader(vn_triangle_vert_spv, sizeof(vn_triangle_vert_spv))),
            stage(VK_SHADER_STAGE_FRAGMENT_BIT,
                  shader(vn_triangle_frag_spv, sizeof(vn_triangle_frag_spv))),
        };
        VkVertexInputBindingDescription vb{0, 2 * sizeof(float), VK_VERTEX_INPUT_RATE_VERTEX};
        VkVertexInputAttributeDescription va{0, 0, VK_FORMAT_R32G32_SFLOAT, 0};
        VkPipelineVertexInputStateCreateInfo vi{};
        vi.sType = VK_STRUCTURE_TYPE_PIPELINE_VERTEX_INPUT_STATE_CREATE_INFO;
        vi.vertexBindingDescriptionCount = 1;
        vi.pVertexBindingDescriptions = &vb;
        vi.vertexAttributeDescriptionCount = 1;
        vi.pVertexAttributeDescriptions = &va;
        VkPipelineInputAssemblyStateCreateInfo ia{};
        ia.sType = VK_STRUCTURE_TYPE_PIPELINE_INPUT_ASSEMBLY_STATE_CREATE_INFO;
        ia.topology = VK_PRIMITIVE_TOPOLOGY_TRIANGLE_LIST;
        VkViewport viewport{0, 0, float(kSize), float(kSize), 0, 1};
        VkRect2D scissor{{0, 0}, {kSize, kSize}};
        VkPipelineViewportStateCreateInfo vp{};
        vp.sType = VK_STRUCTURE_TYPE_PIPELINE_VIEWPORT_STATE_CREATE_INFO;
        vp.viewportCount = 1;
        vp.pViewports = &viewport;
        vp.scissorCount = 1;
        vp.pScissors = &scissor;
        VkPipelineRasterizationStateCreateInfo rs{};
        rs.sType = VK_STRUCTURE_TYPE_PIPELINE_RASTERIZATION_STATE_CREATE_INFO;
        rs.polygonMode = VK_POLYGON_MODE_FILL;
        rs.cullMode = VK_CULL_MODE_NONE;
        rs.lineWidth = 1.0f;
        VkPipelineMultisampleStateCreateInfo ms{};
        ms.sType = VK_STRUCTURE_TYPE_PIPELINE_MULTISAMPLE_STATE_CREATE_INFO;
        ms.rasterizationSamples = VK_SAMPLE_COUNT_1_BIT;
        VkPipelineColorBlendAttachmentState blend{};
        blend.colorWriteMask = VK_COLOR_COMPONENT_R_BIT | VK_COLOR_COMPONENT_G_BIT |
                               VK_COLOR_COMPONENT_B_BIT | VK_COLOR_COMPONENT_A_BIT;
        VkPipelineColorBlendStateCreateInfo cb{};
        cb.sType = VK_STRUCTURE_TYPE_PIPELINE_COLOR_BLEND_STATE_CREATE_INFO;
        cb.attachmentCount = 1;
        cb.pAttachments = &blend;
        VkGraphicsPipelineCreateInfo gpci{};
        gpci.sType = VK_STRUCTURE_TYPE_GRAPHICS_PIPELINE_CREATE_INFO;
        gpci.stageCount = 2;
        gpci.pStages = stages;
        gpci.pVertexInputState = &vi;
        gpci.pInputAssemblyState = &ia;
        gpci.pViewportState = &vp;
        gpci.pRasterizationState = &rs;
        gpci.pMultisampleState = &ms;
        gpci.pColorBlendState = &cb;
        gpci.layout = layout;
        gpci.renderPass = m_render_pass;
        VkPipeline p = VK_NULL_HANDLE;
        check(vkCreateGraphicsPipelines(m_device, VK_NULL_HANDLE, 1, &gpci, nullptr, &p),
              "vkCreateGraphicsPipelines");
        m_pipelines.push_back(p);
        return p;
    }

    VkInstance m_instance = VK_NULL_HANDLE;
    VkPhysicalDevice m_pd = VK_NULL_HANDLE;
    VkPhysicalDeviceMemoryProperties m_memory{};
    std::uint32_t m_family = 0;
    VkDevice m_device = VK_NULL_HANDLE;
    VkQueue m_queue = VK_NULL_HANDLE;
    VkCommandPool m_pool = VK_NULL_HANDLE;
    VkCommandBuffer m_cb = VK_NULL_HANDLE;
    VkFence m_fence = VK_NULL_HANDLE;
    VkImage m_image = VK_NULL_HANDLE;
    VkImageView m_view = VK_NULL_HANDLE;
    VkRenderPass m_render_pass = VK_NULL_HANDLE;
    VkFramebuffer m_framebuffer = VK_NULL_HANDLE;
    VkDescriptorSetLayout m_set_layout = VK_NULL_HANDLE;
    VkDescriptorPool m_desc_pool = VK_NULL_HANDLE;
    std::vector<VkPipeline> m_pipelines;
    std::vector<VkShaderModule> m_shaders;
    std::vector<VkPipelineLayout> m_layouts;
    std::vector<VkBuffer> m_buffers;
    std::vector<VkDeviceMemory> m_memories;
};

} // namespace

int main() {
    try {
        Offscreen o;
        const bool ok = o.compute() && o.draw() && o.sync();
        return ok ? 0 : 1;
    } catch (const std::exception& e) {
        std::printf("vn-offscreen-check: %s\n", e.what());
        return 1;
    }
}
