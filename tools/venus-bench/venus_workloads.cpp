// The Venus side: a guest (vn::client, the guest side as Mesa's driver speaks it, with the
// generated encoder) talking through libvenus-proxy to whichever server is under test. Every
// server gets byte-identical streams.
#include "bench.h"
#include "bench_comp.spv.h"
#include "vn/client/guest.h"
#include "vn/client/proxy_transport.h"
#include "vn/client/ring.h"
#include "vn/scenarios/device_setup.h"
#include "vn_protocol.gen.h"

#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <thread>

namespace vn::bench {

namespace {

template <typename H>
H handle(std::uint64_t v) {
    return protocol::handle_from_u64<H>(v);
}

template <typename H>
protocol::Ref<H> ref(std::uint64_t v) {
    return {v, handle<H>(v)};
}

using client::Status;

// Turns a failed client call into "this workload is unavailable here", with the client's reason.
void require(Status s, const client::Guest& g, const char* what) {
    if (s != Status::Ok)
        throw Unavailable(std::string(what) + ": " +
                          (g.last_error().empty() ? client::status_string(s) : g.last_error()));
}

// Where a workload's commands travel: a Venus ring (how Mesa's driver sends everything after
// start-up) or, for a server without rings, the context path (SUBMIT_CMD). Same bytes either way.
using Channel = scenarios::Commands;

void check(VkResult r, const char* what) {
    if (r != VK_SUCCESS)
        throw Unavailable(std::string(what) + " returned VkResult " + std::to_string(r));
}

// Object ids of the benchmark context (any distinct non-zero values do).
enum : std::uint64_t {
    record_cb_id = 0x10,
    copy_cb_id,
    set_layout_id,
    layout_id,
    shader_id,
    pipeline_id,
    storage_buffer_id,
    storage_memory_id,
    desc_pool_id,
    set_id,
    src_buffer_id,
    src_memory_id,
    dst_buffer_id,
    dst_memory_id,
    fence_id,
};

scenarios::DeviceOptions device_options() {
    scenarios::DeviceOptions options;
    options.api_version = VK_API_VERSION_1_3;
    options.timeline_semaphore = false;
    // Bound to a fence timeline as Mesa's driver binds every queue: virglrenderer 1.x refuses
    // vkGetDeviceQueue2 without VkDeviceQueueTimelineInfoMESA (0.10 takes it as optional).
    options.queue_ring_idx = 1;
    options.command_pool_flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    return options;
}

// The device every workload runs on, set up the way Mesa's driver would.
class BenchDevice {
  public:
    explicit BenchDevice(Channel& g) : m_g(g) {
        // The scenarios' device, set up through the channel: instance, physical device, a
        // device with one queue and a command pool.
        m_device = scenarios::create_device(g, device_options());

        make_buffer(storage_buffer_id, storage_memory_id, Shape::kStorageBytes,
                    VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_VERTEX_BUFFER_BIT);
        make_pipeline();
        make_command_buffers();
    }

    protocol::Ref<VkDevice> dev() const { return m_device.ref(); }
    std::uint64_t queue() const { return m_device.queue; }

    // A buffer bound to its own host-visible, coherent memory.
    void make_buffer(std::uint64_t buffer_id, std::uint64_t memory_id, VkDeviceSize size,
                     VkBufferUsageFlags usage) {
        VkBufferCreateInfo bci{};
        bci.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
        bci.size = size;
        bci.usage = usage;
        VkBuffer buffer = handle<VkBuffer>(buffer_id);
        gen::CreateBufferArgs cb;
        cb.device = dev();
        cb.pCreateInfo = &bci;
        cb.pBuffer = &buffer;
        check(m_g.call(cb).ret, "vkCreateBuffer");

        const VkMemoryRequirements req = memory_requirements(buffer_id);
        const std::uint32_t type = scenarios::find_memory_type(
            m_device, req.memoryTypeBits,
            VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);

        // Mesa's driver asks for exportable memory when it will map it as a blob; a 0.10
        // virgl_render_server otherwise hands out an fd that is not the memory the device uses.
        VkExportMemoryAllocateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO,
                                               nullptr,
                                               VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT};
        VkMemoryAllocateInfo ai{};
        ai.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
        ai.pNext = &export_info;
        ai.allocationSize = req.size;
        ai.memoryTypeIndex = type;
        VkDeviceMemory memory = handle<VkDeviceMemory>(memory_id);
        gen::AllocateMemoryArgs am;
        am.device = dev();
        am.pAllocateInfo = &ai;
        am.pMemory = &memory;
        check(m_g.call(am).ret, "vkAllocateMemory");

        VkBindBufferMemoryInfo bind{};
        bind.sType = VK_STRUCTURE_TYPE_BIND_BUFFER_MEMORY_INFO;
        bind.buffer = buffer;
        bind.memory = memory;
        gen::BindBufferMemory2Args bm;
        bm.device = dev();
        bm.bindInfoCount = 1;
        bm.pBindInfos = &bind;
        check(m_g.call(bm).ret, "vkBindBufferMemory2");
    }

    // Also the round-trip workload's command (through `via`, else the device's channel): a query
    // the driver itself answers.
    VkMemoryRequirements memory_requirements(std::uint64_t buffer_id, Channel* via = nullptr) {
        VkBufferMemoryRequirementsInfo2 ri{};
        ri.sType = VK_STRUCTURE_TYPE_BUFFER_MEMORY_REQUIREMENTS_INFO_2;
        ri.buffer = handle<VkBuffer>(buffer_id);
        VkMemoryRequirements2 req{};
        req.sType = VK_STRUCTURE_TYPE_MEMORY_REQUIREMENTS_2;
        gen::GetBufferMemoryRequirements2Args gr;
        gr.device = dev();
        gr.pInfo = &ri;
        gr.pMemoryRequirements = &req;
        return (via ? *via : m_g).call(gr).pMemoryRequirements->memoryRequirements;
    }

    // The compute pipeline, descriptor set and push-constant layout the recorded mix binds.
    void make_pipeline() {
        VkDescriptorSetLayoutBinding binding{0, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1,
                                             VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
        VkDescriptorSetLayoutCreateInfo dslci{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                              nullptr, 0, 1, &binding};
        VkDescriptorSetLayout set_layout = handle<VkDescriptorSetLayout>(set_layout_id);
        gen::CreateDescriptorSetLayoutArgs create_dsl;
        create_dsl.device = dev();
        create_dsl.pCreateInfo = &dslci;
        create_dsl.pSetLayout = &set_layout;
        check(m_g.call(create_dsl).ret, "vkCreateDescriptorSetLayout");

        VkPushConstantRange range{VK_SHADER_STAGE_COMPUTE_BIT, 0, 16};
        VkPipelineLayoutCreateInfo plci{
            VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, nullptr, 0, 1, &set_layout, 1, &range};
        VkPipelineLayout layout = handle<VkPipelineLayout>(layout_id);
        gen::CreatePipelineLayoutArgs create_layout;
        create_layout.device = dev();
        create_layout.pCreateInfo = &plci;
        create_layout.pPipelineLayout = &layout;
        check(m_g.call(create_layout).ret, "vkCreatePipelineLayout");

        VkShaderModuleCreateInfo smci{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, nullptr, 0,
                                      sizeof(vn_bench_comp_spv), vn_bench_comp_spv};
        VkShaderModule shader = handle<VkShaderModule>(shader_id);
        gen::CreateShaderModuleArgs create_shader;
        create_shader.device = dev();
        create_shader.pCreateInfo = &smci;
        create_shader.pShaderModule = &shader;
        check(m_g.call(create_shader).ret, "vkCreateShaderModule");

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
        VkPipeline pipeline = handle<VkPipeline>(pipeline_id);
        gen::CreateComputePipelinesArgs create_pipeline;
        create_pipeline.device = dev();
        create_pipeline.createInfoCount = 1;
        create_pipeline.pCreateInfos = &cpci;
        create_pipeline.pPipelines = &pipeline;
        check(m_g.call(create_pipeline).ret, "vkCreateComputePipelines");

        VkDescriptorPoolSize pool_size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1};
        VkDescriptorPoolCreateInfo dpci{
            VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO, nullptr, 0, 1, 1, &pool_size};
        VkDescriptorPool desc_pool = handle<VkDescriptorPool>(desc_pool_id);
        gen::CreateDescriptorPoolArgs create_dpool;
        create_dpool.device = dev();
        create_dpool.pCreateInfo = &dpci;
        create_dpool.pDescriptorPool = &desc_pool;
        check(m_g.call(create_dpool).ret, "vkCreateDescriptorPool");

        VkDescriptorSetAllocateInfo dsai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO, nullptr,
                                         desc_pool, 1, &set_layout};
        VkDescriptorSet set = handle<VkDescriptorSet>(set_id);
        gen::AllocateDescriptorSetsArgs alloc_set;
        alloc_set.device = dev();
        alloc_set.pAllocateInfo = &dsai;
        alloc_set.pDescriptorSets = &set;
        check(m_g.call(alloc_set).ret, "vkAllocateDescriptorSets");

        VkDescriptorBufferInfo info{handle<VkBuffer>(storage_buffer_id), 0, VK_WHOLE_SIZE};
        VkWriteDescriptorSet write{};
        write.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
        write.dstSet = set;
        write.descriptorCount = 1;
        write.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        write.pBufferInfo = &info;
        gen::UpdateDescriptorSetsArgs update;
        update.device = dev();
        update.descriptorWriteCount = 1;
        update.pDescriptorWrites = &write;
        m_g.send(update);
    }

    void make_command_buffers() {
        VkCommandPool pool = handle<VkCommandPool>(m_device.command_pool);
        for (std::uint64_t cb_id : {record_cb_id, copy_cb_id}) {
            VkCommandBufferAllocateInfo cai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, nullptr,
                                            pool, VK_COMMAND_BUFFER_LEVEL_PRIMARY, 1};
            VkCommandBuffer cb = handle<VkCommandBuffer>(cb_id);
            gen::AllocateCommandBuffersArgs alloc;
            alloc.device = dev();
            alloc.pAllocateInfo = &cai;
            alloc.pCommandBuffers = &cb;
            check(m_g.call(alloc).ret, "vkAllocateCommandBuffers");
        }
        VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO, nullptr, 0};
        VkFence fence = handle<VkFence>(fence_id);
        gen::CreateFenceArgs create_fence;
        create_fence.device = dev();
        create_fence.pCreateInfo = &fci;
        create_fence.pFence = &fence;
        check(m_g.call(create_fence).ret, "vkCreateFence");
    }

    // Waits the way Mesa's driver does: virglrenderer refuses blocking calls (vkQueueWaitIdle,
    // vkWaitForFences), so the guest polls vkGetFenceStatus, then resets the fence.
    void wait_fence() {
        gen::GetFenceStatusArgs status;
        status.device = dev();
        status.fence = ref<VkFence>(fence_id);
        for (;;) {
            const VkResult r = m_g.call(status).ret;
            if (r == VK_SUCCESS)
                break;
            if (r != VK_NOT_READY)
                check(r, "vkGetFenceStatus");
        }
        VkFence fence = handle<VkFence>(fence_id);
        const std::uint64_t fence_ids[] = {fence_id};
        gen::ResetFencesArgs reset;
        reset.device = dev();
        reset.fenceCount = 1;
        reset.pFences = &fence;
        reset.pFences_ids = fence_ids;
        m_g.send(reset);
    }

  private:
    Channel& m_g;
    scenarios::Device m_device;
};

// One command buffer of the throughput mix, encoded once: begin, kBatches x (bind pipeline, bind
// descriptor set, push constants, bind vertex buffer, scissor, draw, dispatch, barrier), end.
// Recorded, never submitted: the draws need no render pass for that.
std::vector<std::byte> encode_recording() {
    std::vector<std::byte> out;
    protocol::Writer w(out);
    const auto cb = ref<VkCommandBuffer>(record_cb_id);

    VkCommandBufferBeginInfo begin_info{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO, nullptr,
                                        VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT, nullptr};
    gen::BeginCommandBufferArgs begin;
    begin.commandBuffer = cb;
    begin.pBeginInfo = &begin_info;
    gen::encode_args(w, 0, begin);

    gen::CmdBindPipelineArgs bind_pipeline;
    bind_pipeline.commandBuffer = cb;
    bind_pipeline.pipelineBindPoint = VK_PIPELINE_BIND_POINT_COMPUTE;
    bind_pipeline.pipeline = ref<VkPipeline>(pipeline_id);

    VkDescriptorSet set = handle<VkDescriptorSet>(set_id);
    const std::uint64_t set_ids[] = {set_id};
    gen::CmdBindDescriptorSetsArgs bind_sets;
    bind_sets.commandBuffer = cb;
    bind_sets.pipelineBindPoint = VK_PIPELINE_BIND_POINT_COMPUTE;
    bind_sets.layout = ref<VkPipelineLayout>(layout_id);
    bind_sets.descriptorSetCount = 1;
    bind_sets.pDescriptorSets = &set;
    bind_sets.pDescriptorSets_ids = set_ids;

    const float constants[4] = {1, 2, 3, 4};
    gen::CmdPushConstantsArgs push;
    push.commandBuffer = cb;
    push.layout = ref<VkPipelineLayout>(layout_id);
    push.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
    push.size = sizeof(constants);
    push.pValues = constants;

    VkBuffer buffer = handle<VkBuffer>(storage_buffer_id);
    const VkDeviceSize offset = 0;
    const std::uint64_t buffer_ids[] = {storage_buffer_id};
    gen::CmdBindVertexBuffersArgs bind_vb;
    bind_vb.commandBuffer = cb;
    bind_vb.bindingCount = 1;
    bind_vb.pBuffers = &buffer;
    bind_vb.pBuffers_ids = buffer_ids;
    bind_vb.pOffsets = &offset;

    const VkRect2D rect{{0, 0}, {256, 256}};
    gen::CmdSetScissorArgs scissor;
    scissor.commandBuffer = cb;
    scissor.scissorCount = 1;
    scissor.pScissors = &rect;

    gen::CmdDrawArgs draw;
    draw.commandBuffer = cb;
    draw.vertexCount = 3;
    draw.instanceCount = 1;

    gen::CmdDispatchArgs dispatch;
    dispatch.commandBuffer = cb;
    dispatch.groupCountX = 16;
    dispatch.groupCountY = 1;
    dispatch.groupCountZ = 1;

    VkBufferMemoryBarrier barrier{VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER,
                                  nullptr,
                                  VK_ACCESS_SHADER_WRITE_BIT,
                                  VK_ACCESS_SHADER_READ_BIT,
                                  VK_QUEUE_FAMILY_IGNORED,
                                  VK_QUEUE_FAMILY_IGNORED,
                                  buffer,
                                  0,
                                  VK_WHOLE_SIZE};
    gen::CmdPipelineBarrierArgs pipeline_barrier;
    pipeline_barrier.commandBuffer = cb;
    pipeline_barrier.srcStageMask = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT;
    pipeline_barrier.dstStageMask = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT;
    pipeline_barrier.bufferMemoryBarrierCount = 1;
    pipeline_barrier.pBufferMemoryBarriers = &barrier;

    for (std::uint32_t i = 0; i < Shape::kBatches; ++i) {
        gen::encode_args(w, 0, bind_pipeline);
        gen::encode_args(w, 0, bind_sets);
        gen::encode_args(w, 0, push);
        gen::encode_args(w, 0, bind_vb);
        gen::encode_args(w, 0, scissor);
        gen::encode_args(w, 0, draw);
        gen::encode_args(w, 0, dispatch);
        gen::encode_args(w, 0, pipeline_barrier);
    }
    gen::EndCommandBufferArgs end;
    end.commandBuffer = cb;
    gen::encode_args(w, 0, end);
    return out;
}

std::vector<std::byte> encode_submit(std::uint64_t queue, std::uint32_t command_buffers) {
    VkCommandBuffer cmd = handle<VkCommandBuffer>(copy_cb_id);
    VkSubmitInfo si{};
    si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
    si.commandBufferCount = command_buffers;
    si.pCommandBuffers = &cmd;
    gen::QueueSubmitArgs qs;
    qs.queue = ref<VkQueue>(queue);
    qs.submitCount = command_buffers ? 1 : 0;
    qs.pSubmits = command_buffers ? &si : nullptr;
    if (command_buffers)
        qs.fence = ref<VkFence>(fence_id);
    std::vector<std::byte> out;
    protocol::Writer w(out);
    gen::encode_args(w, 0, qs);
    return out;
}

double micros(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::micro>(b - a).count();
}

std::string smaps_name(const Options& o, const TargetResult& out, const char* when,
                       std::size_t round) {
    if (o.smaps_dir.empty())
        return {};
    return o.smaps_dir + "/" + out.name + "-" + when + "-r" + std::to_string(round + 1);
}

// Runs one workload; a failure marks it unavailable for this server and lets the rest go on,
// unless the context itself is gone (then the remaining workloads fail on their own).
template <typename F>
void attempt(TargetResult& out, const char* key, const Options& o, F&& f) {
    const std::string workload = std::string_view(key).starts_with("memory_") ? "memory" : key;
    if (!o.wants(workload))
        return;
    const bool verbose = o.verbose;
    try {
        f();
    } catch (const Unavailable& e) {
        if (verbose)
            std::fprintf(stderr, "venus-bench: %s: %s: %s\n", out.name.c_str(), key, e.what());
        out.mark_unavailable(key, e.what());
    } catch (const scenarios::Failure& e) {
        if (verbose)
            std::fprintf(stderr, "venus-bench: %s: %s: %s\n", out.name.c_str(), key, e.what());
        out.mark_unavailable(key, e.what());
    }
}

void round_trip(const Options& o, BenchDevice& device, Channel& via, std::vector<double>& out) {
    for (int i = 0; i < 10; ++i) // warm-up: first-touch of the reply path
        device.memory_requirements(storage_buffer_id, &via);
    Budget budget(o);
    for (std::size_t n = 0; budget.more(n); ++n) {
        const auto t0 = Clock::now();
        const VkMemoryRequirements req = device.memory_requirements(storage_buffer_id, &via);
        const auto t1 = Clock::now();
        if (req.size < Shape::kStorageBytes)
            throw Unavailable("vkGetBufferMemoryRequirements2 replied with a short size");
        out.push_back(micros(t0, t1));
    }
}

// An empty vkQueueSubmit, then a fence the VMM waits on: what a guest's submit with a fence
// costs when the queue has nothing to run. Always on the context path, where the VMM's fences
// are.
void submit_fence(const Options& o, client::Guest& g, const BenchDevice& device,
                  TargetResult& out) {
    const auto submit = encode_submit(device.queue(), 0);
    Budget budget(o);
    for (std::size_t n = 0; budget.more(n); ++n) {
        const auto t0 = Clock::now();
        require(g.submit(submit), g, "SUBMIT_CMD");
        require(g.sync(), g, "fence");
        out.submit_fence_us.push_back(micros(t0, Clock::now()));
    }
}

// Command buffers recorded back to back, until everything submitted has been executed.
double throughput(const Options& o, Channel& channel) {
    const auto recording = encode_recording();
    channel.submit(recording); // warm-up: the driver's command-buffer pools grow once
    channel.drain();
    Budget budget(o);
    const auto t0 = Clock::now();
    std::size_t buffers = 0;
    for (; budget.more(buffers); ++buffers)
        channel.submit(recording);
    channel.drain();
    const double seconds = seconds_between(t0, Clock::now());
    return static_cast<double>(buffers * Shape::kCommandsPerBuffer) / seconds;
}

void bulk(const Options& o, client::Guest& g, Channel& channel, BenchDevice& device,
          TargetResult& out) {
    device.make_buffer(src_buffer_id, src_memory_id, Shape::kBulkBytes,
                       VK_BUFFER_USAGE_TRANSFER_SRC_BIT);
    device.make_buffer(dst_buffer_id, dst_memory_id, Shape::kBulkBytes,
                       VK_BUFFER_USAGE_TRANSFER_DST_BIT);
    client::MappedBlob src, dst;
    require(g.map_blob(src_memory_id, Shape::kBulkBytes, src), g, "blob of device memory");
    require(g.map_blob(dst_memory_id, Shape::kBulkBytes, dst), g, "blob of device memory");
    if (src.fd_type() == client::FdType::Opaque || dst.fd_type() == client::FdType::Opaque)
        throw Unavailable("host-visible memory comes back as an opaque fd, which a VMM cannot "
                          "map");
    if (!src.valid() || !dst.valid())
        throw Unavailable("cannot map the blobs of device memory");

    const auto cb = ref<VkCommandBuffer>(copy_cb_id);
    VkCommandBufferBeginInfo bi{};
    bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
    gen::BeginCommandBufferArgs begin;
    begin.commandBuffer = cb;
    begin.pBeginInfo = &bi;
    channel.send(begin);
    const VkBufferCopy region{0, 0, Shape::kBulkBytes};
    gen::CmdCopyBufferArgs copy;
    copy.commandBuffer = cb;
    copy.srcBuffer = ref<VkBuffer>(src_buffer_id);
    copy.dstBuffer = ref<VkBuffer>(dst_buffer_id);
    copy.regionCount = 1;
    copy.pRegions = &region;
    channel.send(copy);
    gen::EndCommandBufferArgs end;
    end.commandBuffer = cb;
    check(channel.call(end).ret, "vkEndCommandBuffer");

    const auto submit = encode_submit(device.queue(), 1);
    auto* src_bytes = static_cast<std::byte*>(src.data());
    const auto* words = static_cast<const std::uint64_t*>(dst.data());
    Budget budget(o);
    const auto t0 = Clock::now();
    std::size_t n = 0;
    for (; budget.more(n); ++n) {
        // The guest writes, the device copies, the guest reads it all back and checks it.
        const auto pattern = static_cast<std::uint8_t>(n * 37 + 1);
        std::memset(src_bytes, pattern, Shape::kBulkBytes);
        channel.submit(submit);
        device.wait_fence();
        std::uint64_t any_diff = 0;
        std::uint64_t expect = 0;
        std::memset(&expect, pattern, sizeof(expect));
        for (std::size_t i = 0; i < Shape::kBulkBytes / 8; ++i)
            any_diff |= words[i] ^ expect;
        if (any_diff)
            throw Unavailable("the copied bytes differ from what was written (iteration " +
                              std::to_string(n) + ")");
    }
    const double seconds = seconds_between(t0, Clock::now());
    out.bulk_bytes_per_s.push_back(static_cast<double>(n * Shape::kBulkBytes) / seconds);
}

// Context start: create the context, give it a reply stream, and get the first reply
// (vkEnumerateInstanceVersion), as a guest driver's first call does. Back to back (`pause_ms`
// 0), each start competes for the CPU with the end of the one before and with whatever the
// server does to be ready for the next (our spare workers); that measures how fast a host churns
// through contexts. Paced, each starts on a server that has had time to settle, as a guest's
// context does when a VM boots or an application starts: the latency a guest sees.
void context_start(const Options& o, const std::shared_ptr<client::ProxyServer>& server,
                   int pause_ms, std::vector<double>& samples) {
    Budget budget(o);
    for (std::size_t n = 0; budget.more(n); ++n) {
        if (pause_ms > 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
        const auto t0 = Clock::now();
        client::ProxyTransport transport(server, "venus-bench");
        client::Guest g(transport);
        std::uint32_t version = 0;
        gen::EnumerateInstanceVersionArgs ev;
        ev.pApiVersion = &version;
        gen::EnumerateInstanceVersionArgs reply{};
        require(g.call(ev, reply), g, "vkEnumerateInstanceVersion");
        if (*reply.pApiVersion < VK_API_VERSION_1_1)
            throw Unavailable("vkEnumerateInstanceVersion replied < 1.1");
        samples.push_back(micros(t0, Clock::now()) / 1000.0);
    }
}

// Context ready: context creation until the guest holds a device (instance, physical device,
// device with its queue and command pool), over a ring where the server has them, as Mesa's
// driver starts. Unlike the first reply, this includes loading the host driver, which a server
// may defer past the first reply. At most 200 per round: each loads a driver.
void context_ready(const Options& o, const std::shared_ptr<client::ProxyServer>& server, bool rings,
                   TargetResult& out) {
    Budget budget(o.seconds, std::min<std::size_t>(o.iterations, 200));
    for (std::size_t n = 0; budget.more(n); ++n) {
        const auto t0 = Clock::now();
        client::ProxyTransport transport(server, "venus-bench");
        client::Guest g(transport);
        std::optional<client::Ring> ring;
        if (rings)
            ring.emplace(g);
        Channel channel(g, ring ? &*ring : nullptr);
        (void)scenarios::create_device(channel, device_options());
        channel.drain();
        out.context_ready_ms.push_back(micros(t0, Clock::now()) / 1000.0);
    }
}

// Whether the server runs Venus rings, asked in a context of its own: a server without them may
// end the context that tried, and the measured one must survive that.
std::string probe_rings(const std::shared_ptr<client::ProxyServer>& server) {
    try {
        client::ProxyTransport transport(server, "venus-bench-probe");
        client::Guest g(transport);
        client::Ring ring(g);
        std::uint32_t version = 0;
        gen::EnumerateInstanceVersionArgs ev;
        ev.pApiVersion = &version;
        gen::EnumerateInstanceVersionArgs reply{};
        if (const Status s = ring.call(ev, reply); s != Status::Ok)
            return std::string("a call through the ring failed: ") + client::status_string(s);
        return "";
    } catch (const client::SetupError& e) {
        return std::string("the server rejects rings: ") + e.what();
    }
}

// A context with the bench's device and objects, over a ring where the server has them: the
// measured one, and the others of the per-context memory figure.
struct BenchContext {
    client::ProxyTransport transport;
    client::Guest guest;
    std::optional<client::Ring> ring;
    std::optional<Channel> channel;
    std::optional<BenchDevice> device;

    BenchContext(const std::shared_ptr<client::ProxyServer>& server, bool rings, const char* name)
        : transport(server, name), guest(transport) {
        if (rings)
            ring.emplace(guest);
        channel.emplace(guest, ring ? &*ring : nullptr);
        device.emplace(*channel);
        channel->drain();
    }
};

} // namespace

void run_server_round(const Options& o, const ServerSpec& spec, TargetResult& out) {
    try {
        const auto server = client::ProxyServer::spawn(spec.path, spec.layout);
        const std::string no_rings = probe_rings(server);
        if (!no_rings.empty()) {
            out.mark_unavailable("throughput", no_rings);
            out.mark_unavailable("round_trip", no_rings);
        }
        if (!wait_for_no_workers(server->pid(), std::chrono::seconds(2)))
            std::fprintf(stderr,
                         "venus-bench: %s: the ring probe's worker is still there; its "
                         "memory may be counted\n",
                         spec.name.c_str());
        {
            BenchContext measured(server, no_rings.empty(), "venus-bench");
            client::Guest& g = measured.guest;
            const std::optional<client::Ring>& ring = measured.ring;
            Channel& channel = *measured.channel;
            BenchDevice& device = *measured.device;
            out.transport = channel.name();
            attempt(out, "memory_idle", o, [&] {
                out.idle.push_back(
                    descendants_memory(server->pid(), smaps_name(o, out, "idle", out.idle.size())));
            });
            Channel context_path(g, nullptr);
            if (ring)
                attempt(out, "round_trip", o,
                        [&] { round_trip(o, device, channel, out.round_trip_us); });
            attempt(out, "round_trip_context", o,
                    [&] { round_trip(o, device, context_path, out.round_trip_context_us); });
            attempt(out, "submit_fence", o, [&] { submit_fence(o, g, device, out); });
            if (ring)
                attempt(out, "throughput", o,
                        [&] { out.throughput.push_back(throughput(o, channel)); });
            attempt(out, "throughput_context", o,
                    [&] { out.throughput_context.push_back(throughput(o, context_path)); });
            // Before bulk: its 16 MiB of buffers would count only where a server can map them.
            attempt(out, "memory_after", o, [&] {
                out.after.push_back(descendants_memory(
                    server->pid(), smaps_name(o, out, "after", out.after.size())));
            });
            // Per context with several running: the measured one and the rest set up alike. Before
            // bulk, for the same reason as memory_after.
            attempt(out, "memory_many", o, [&] {
                std::vector<std::unique_ptr<BenchContext>> extra;
                for (int i = 1; i < o.many_contexts; ++i)
                    extra.push_back(std::make_unique<BenchContext>(server, no_rings.empty(),
                                                                   "venus-bench-extra"));
                Memory m =
                    descendants_memory(server->pid(), smaps_name(o, out, "many", out.many.size()));
                m.rss_kib /= o.many_contexts;
                m.pss_kib /= o.many_contexts;
                out.many.push_back(m);
            });
            attempt(out, "bulk", o, [&] { bulk(o, g, channel, device, out); });
        }
        // After the measured context is gone, so that no worker of it is counted above.
        attempt(out, "context_start", o,
                [&] { context_start(o, server, 0, out.context_start_ms); });
        attempt(out, "context_start_paced", o, [&] {
            context_start(o, server, kContextStartPauseMs, out.context_start_paced_ms);
        });
        attempt(out, "context_ready", o, [&] { context_ready(o, server, no_rings.empty(), out); });
    } catch (const Unavailable& e) {
        std::fprintf(stderr, "venus-bench: %s: %s\n", spec.name.c_str(), e.what());
        out.mark_unavailable("server", e.what());
    } catch (const client::SetupError& e) {
        std::fprintf(stderr, "venus-bench: %s: %s\n", spec.name.c_str(), e.what());
        out.mark_unavailable("server", e.what());
    } catch (const scenarios::Failure& e) {
        std::fprintf(stderr, "venus-bench: %s: %s\n", spec.name.c_str(), e.what());
        out.mark_unavailable("server", e.what());
    }
}

} // namespace vn::bench
