// Venus commands executed on lavapipe: the driver-side encoder writes the stream, the decoder and
// executor run it on the host driver, and the driver-side decoder reads the replies back.
#include "executor.h"
#include "fill_comp.spv.h" // SPIR-V of fill.comp, built by glslangValidator

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <string>
#include <sys/mman.h>
#include <tuple>
#include <unistd.h>
#include <vector>

using namespace vn;
using protocol::DecodeResult;

namespace {

template <typename H>
H id(std::uint64_t v) {
    return protocol::handle_from_u64<H>(v);
}

// One renderer context: tables, executor, reply buffer, and a guest-side stream.
struct Renderer {
    protocol::FatalState fatal;
    protocol::Arena arena;
    decoder::ObjectTables objects{fatal};
    decoder::Executor executor{objects};
    std::vector<std::byte> replies;
    protocol::Writer reply_writer{replies};
    std::size_t reply_read = 0;
    // Decoded replies point into this, so it lives as long as the test's view of them.
    protocol::Arena reply_arena;

    Renderer() { executor.set_reply_writer(&reply_writer); }

    // Encodes one synchronous command, runs it, and decodes its reply into `out` (which starts
    // as a copy of the request, as the guest driver knows what it asked).
    template <typename Args>
    DecodeResult call(const Args& request, Args& out) {
        std::vector<std::byte> stream;
        protocol::Writer w(stream);
        gen::encode_args(w, VK_COMMAND_GENERATE_REPLY_BIT_EXT, request);
        VN_TRY(submit(stream));
        protocol::FatalState reply_fatal;
        protocol::Reader in(replies.data() + reply_read, replies.size() - reply_read, reply_fatal);
        protocol::Decoder d{in, reply_arena};
        out = request;
        const DecodeResult r = gen::decode_reply(d, out);
        reply_read = replies.size() - in.remaining();
        INFO(reply_fatal.reason());
        REQUIRE(r == DecodeResult::Ok);
        return r;
    }

    DecodeResult submit(const std::vector<std::byte>& stream) {
        protocol::Reader in(stream.data(), stream.size(), fatal);
        protocol::Decoder d{in, arena, &objects};
        while (!in.empty()) {
            const DecodeResult r = gen::dispatch_command(executor, d);
            arena.reset();
            VN_TRY(r);
        }
        return DecodeResult::Ok;
    }
};

constexpr std::uint64_t instance_id = 0x7f0000001000;
constexpr std::uint64_t physical_device_id = 0x7f0000002000;

void create_instance(Renderer& r) {
    const char* extensions[] = {"VK_EXT_command_serialization", "VK_MESA_venus_protocol"};
    VkApplicationInfo app{
        VK_STRUCTURE_TYPE_APPLICATION_INFO, nullptr, "test", 1, "venus", 1, VK_API_VERSION_1_3};
    VkInstanceCreateInfo info{
        VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, nullptr, 0, &app, 0, nullptr, 2, extensions};
    VkInstance instance = id<VkInstance>(instance_id);
    gen::CreateInstanceArgs a;
    a.pCreateInfo = &info;
    a.pInstance = &instance;
    gen::CreateInstanceArgs reply;
    REQUIRE(r.call(a, reply) == DecodeResult::Ok);
    REQUIRE(reply.ret == VK_SUCCESS);
    CHECK(protocol::handle_to_u64(*reply.pInstance) == instance_id);
}

std::uint32_t enumerate_physical_devices(Renderer& r) {
    std::uint32_t count = 0;
    gen::EnumeratePhysicalDevicesArgs a;
    a.instance = {instance_id, id<VkInstance>(instance_id)};
    a.pPhysicalDeviceCount = &count;
    gen::EnumeratePhysicalDevicesArgs reply;
    REQUIRE(r.call(a, reply) == DecodeResult::Ok);
    REQUIRE(reply.ret == VK_SUCCESS);
    REQUIRE(*reply.pPhysicalDeviceCount >= 1);

    count = 1;
    VkPhysicalDevice pd = id<VkPhysicalDevice>(physical_device_id);
    a.pPhysicalDevices = &pd;
    REQUIRE(r.call(a, reply) == DecodeResult::Ok);
    REQUIRE(reply.ret >= 0);
    REQUIRE(*reply.pPhysicalDeviceCount == 1);
    CHECK(protocol::handle_to_u64(reply.pPhysicalDevices[0]) == physical_device_id);
    return count;
}

} // namespace

TEST_CASE("instance version and the Venus instance extensions") {
    Renderer r;
    std::uint32_t version = 0;
    gen::EnumerateInstanceVersionArgs a;
    a.pApiVersion = &version;
    gen::EnumerateInstanceVersionArgs reply;
    REQUIRE(r.call(a, reply) == DecodeResult::Ok);
    CHECK(*reply.pApiVersion >= VK_API_VERSION_1_1);
    // Capped at major.minor; the patch level is the host's, as virglrenderer reports it.
    CHECK(*reply.pApiVersion - VK_API_VERSION_PATCH(*reply.pApiVersion) <=
          decoder::Executor::max_api_version);

    std::uint32_t count = 8;
    VkExtensionProperties props[8]{};
    gen::EnumerateInstanceExtensionPropertiesArgs e;
    e.pPropertyCount = &count;
    e.pProperties = props;
    gen::EnumerateInstanceExtensionPropertiesArgs ereply;
    REQUIRE(r.call(e, ereply) == DecodeResult::Ok);
    REQUIRE(*ereply.pPropertyCount == 2);
    CHECK(std::string(ereply.pProperties[0].extensionName) == "VK_EXT_command_serialization");
    CHECK(std::string(ereply.pProperties[1].extensionName) == "VK_MESA_venus_protocol");
    CHECK(ereply.pProperties[1].specVersion == 3);
}

TEST_CASE("lavapipe through Venus: instance, physical device, properties with a pNext chain") {
    Renderer r;
    create_instance(r);
    enumerate_physical_devices(r);

    VkPhysicalDeviceDriverProperties driver{};
    driver.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES;
    VkPhysicalDeviceProperties2 props{};
    props.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
    props.pNext = &driver;
    gen::GetPhysicalDeviceProperties2Args a;
    a.physicalDevice = {physical_device_id, id<VkPhysicalDevice>(physical_device_id)};
    a.pProperties = &props;
    gen::GetPhysicalDeviceProperties2Args reply;
    REQUIRE(r.call(a, reply) == DecodeResult::Ok);
    const VkPhysicalDeviceProperties& p = reply.pProperties->properties;
    INFO("device " << p.deviceName);
    CHECK(std::string(p.deviceName).find("llvmpipe") != std::string::npos);
    CHECK(p.apiVersion - VK_API_VERSION_PATCH(p.apiVersion) <= decoder::Executor::max_api_version);
    REQUIRE(reply.pProperties->pNext);
    const auto* d = static_cast<const VkPhysicalDeviceDriverProperties*>(reply.pProperties->pNext);
    CHECK(d->sType == VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES);
    CHECK(d->driverID == VK_DRIVER_ID_MESA_LLVMPIPE);

    std::uint32_t families = 0;
    gen::GetPhysicalDeviceQueueFamilyProperties2Args q;
    q.physicalDevice = a.physicalDevice;
    q.pQueueFamilyPropertyCount = &families;
    gen::GetPhysicalDeviceQueueFamilyProperties2Args qreply;
    REQUIRE(r.call(q, qreply) == DecodeResult::Ok);
    CHECK(*qreply.pQueueFamilyPropertyCount >= 1);

    VkPhysicalDeviceMemoryProperties2 mem{};
    mem.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2;
    gen::GetPhysicalDeviceMemoryProperties2Args m;
    m.physicalDevice = a.physicalDevice;
    m.pMemoryProperties = &mem;
    gen::GetPhysicalDeviceMemoryProperties2Args mreply;
    REQUIRE(r.call(m, mreply) == DecodeResult::Ok);
    CHECK(mreply.pMemoryProperties->memoryProperties.memoryTypeCount >= 1);
}

TEST_CASE("device extensions are the host's, filtered by what Venus can encode") {
    Renderer r;
    create_instance(r);
    enumerate_physical_devices(r);
    std::uint32_t count = 0;
    gen::EnumerateDeviceExtensionPropertiesArgs a;
    a.physicalDevice = {physical_device_id, id<VkPhysicalDevice>(physical_device_id)};
    a.pPropertyCount = &count;
    gen::EnumerateDeviceExtensionPropertiesArgs reply;
    REQUIRE(r.call(a, reply) == DecodeResult::Ok);
    const std::uint32_t n = *reply.pPropertyCount;
    REQUIRE(n > 10);
    std::vector<VkExtensionProperties> props(n);
    count = n;
    a.pProperties = props.data();
    REQUIRE(r.call(a, reply) == DecodeResult::Ok);
    bool has_sync2 = false;
    for (std::uint32_t i = 0; i < *reply.pPropertyCount; ++i) {
        const char* name = reply.pProperties[i].extensionName;
        CHECK(gen::extension_spec_version(name) != 0);
        CHECK(std::string(name) != "VK_KHR_swapchain"); // WSI never crosses Venus
        has_sync2 |= std::string(name) == "VK_KHR_synchronization2";
    }
    CHECK(has_sync2);
}

TEST_CASE("a physical device id used as another type is fatal before the driver") {
    Renderer r;
    create_instance(r);
    enumerate_physical_devices(r);
    VkPhysicalDeviceProperties2 props{};
    props.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
    gen::GetPhysicalDeviceProperties2Args a;
    a.physicalDevice = {instance_id, id<VkPhysicalDevice>(instance_id)}; // an instance id
    a.pProperties = &props;
    std::vector<std::byte> stream;
    protocol::Writer w(stream);
    gen::encode_args(w, VK_COMMAND_GENERATE_REPLY_BIT_EXT, a);
    CHECK(r.submit(stream) == DecodeResult::Fatal);
    CHECK(r.fatal.reason().find("VkInstance") != std::string::npos);
}

namespace {
constexpr std::uint64_t device_id = 0x7f0000003000;
constexpr std::uint64_t queue_id = 0x7f0000004000;
constexpr std::uint64_t pool_id = 0x7f0000005000;
constexpr std::uint64_t cb_id = 0x7f0000006000;
constexpr std::uint64_t fence_id = 0x7f0000007000;

template <typename Args>
void send(Renderer& r, const Args& a) {
    std::vector<std::byte> stream;
    protocol::Writer w(stream);
    gen::encode_args(w, 0, a);
    INFO(Args::vn_name);
    REQUIRE(r.submit(stream) == DecodeResult::Ok);
}
} // namespace

namespace {

// Device-level tests start from here: instance, physical device and a device with one queue.
// `features` is chained to the device create info.
protocol::Ref<VkDevice> create_device(Renderer& r, void* features = nullptr) {
    create_instance(r);
    enumerate_physical_devices(r);
    const float priority = 1.0f;
    VkDeviceQueueCreateInfo qci{};
    qci.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
    qci.queueCount = 1;
    qci.pQueuePriorities = &priority;
    VkDeviceCreateInfo dci{};
    dci.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
    dci.pNext = features;
    dci.queueCreateInfoCount = 1;
    dci.pQueueCreateInfos = &qci;
    VkDevice device = id<VkDevice>(device_id);
    gen::CreateDeviceArgs cd;
    cd.physicalDevice = {physical_device_id, id<VkPhysicalDevice>(physical_device_id)};
    cd.pCreateInfo = &dci;
    cd.pDevice = &device;
    gen::CreateDeviceArgs reply;
    REQUIRE(r.call(cd, reply) == DecodeResult::Ok);
    REQUIRE(reply.ret == VK_SUCCESS);
    return {device_id, device};
}

// The device's queue; `chain` goes into VkDeviceQueueInfo2 (the Venus timeline binding).
protocol::Ref<VkQueue> get_queue(Renderer& r, const protocol::Ref<VkDevice>& dev,
                                 const void* chain = nullptr) {
    VkDeviceQueueInfo2 qi{};
    qi.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_INFO_2;
    qi.pNext = chain;
    VkQueue queue = id<VkQueue>(queue_id);
    gen::GetDeviceQueue2Args gq;
    gq.device = dev;
    gq.pQueueInfo = &qi;
    gq.pQueue = &queue;
    send(r, gq);
    return {queue_id, queue};
}

// A buffer bound to host-visible memory of exactly its required size.
struct BoundBuffer {
    protocol::Ref<VkBuffer> buffer;
    protocol::Ref<VkDeviceMemory> memory;
    VkMemoryRequirements requirements;
};

BoundBuffer create_bound_buffer(Renderer& r, const protocol::Ref<VkDevice>& dev,
                                std::uint64_t buffer_id, std::uint64_t memory_id, VkDeviceSize size,
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
    send(r, cb);

    VkBufferMemoryRequirementsInfo2 ri{};
    ri.sType = VK_STRUCTURE_TYPE_BUFFER_MEMORY_REQUIREMENTS_INFO_2;
    ri.buffer = buffer;
    VkMemoryRequirements2 req{};
    req.sType = VK_STRUCTURE_TYPE_MEMORY_REQUIREMENTS_2;
    gen::GetBufferMemoryRequirements2Args gr;
    gr.device = dev;
    gr.pInfo = &ri;
    gr.pMemoryRequirements = &req;
    gen::GetBufferMemoryRequirements2Args gr_reply;
    REQUIRE(r.call(gr, gr_reply) == DecodeResult::Ok);
    const VkMemoryRequirements mr = gr_reply.pMemoryRequirements->memoryRequirements;

    VkPhysicalDeviceMemoryProperties2 mem{};
    mem.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2;
    gen::GetPhysicalDeviceMemoryProperties2Args gm;
    gm.physicalDevice = {physical_device_id, id<VkPhysicalDevice>(physical_device_id)};
    gm.pMemoryProperties = &mem;
    gen::GetPhysicalDeviceMemoryProperties2Args gm_reply;
    REQUIRE(r.call(gm, gm_reply) == DecodeResult::Ok);
    const auto& props = gm_reply.pMemoryProperties->memoryProperties;
    std::uint32_t type = UINT32_MAX;
    for (std::uint32_t i = 0; i < props.memoryTypeCount && type == UINT32_MAX; ++i)
        if ((mr.memoryTypeBits & (1u << i)) &&
            (props.memoryTypes[i].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT))
            type = i;
    REQUIRE(type != UINT32_MAX);

    VkMemoryAllocateInfo ai{};
    ai.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
    ai.allocationSize = mr.size;
    ai.memoryTypeIndex = type;
    VkDeviceMemory memory = id<VkDeviceMemory>(memory_id);
    gen::AllocateMemoryArgs am;
    am.device = dev;
    am.pAllocateInfo = &ai;
    am.pMemory = &memory;
    gen::AllocateMemoryArgs am_reply;
    REQUIRE(r.call(am, am_reply) == DecodeResult::Ok);
    REQUIRE(am_reply.ret == VK_SUCCESS);

    VkBindBufferMemoryInfo bind{};
    bind.sType = VK_STRUCTURE_TYPE_BIND_BUFFER_MEMORY_INFO;
    bind.buffer = buffer;
    bind.memory = memory;
    gen::BindBufferMemory2Args bm;
    bm.device = dev;
    bm.bindInfoCount = 1;
    bm.pBindInfos = &bind;
    send(r, bm);
    return {{buffer_id, buffer}, {memory_id, memory}, mr};
}

// A command pool with one primary command buffer, recording.
protocol::Ref<VkCommandBuffer> begin_commands(Renderer& r, const protocol::Ref<VkDevice>& dev) {
    VkCommandPoolCreateInfo pci{};
    pci.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
    VkCommandPool pool = id<VkCommandPool>(pool_id);
    gen::CreateCommandPoolArgs cp;
    cp.device = dev;
    cp.pCreateInfo = &pci;
    cp.pCommandPool = &pool;
    send(r, cp);
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
    send(r, acb);
    VkCommandBufferBeginInfo bi{};
    bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
    gen::BeginCommandBufferArgs begin;
    begin.commandBuffer = {cb_id, cmd};
    begin.pBeginInfo = &bi;
    send(r, begin);
    return {cb_id, cmd};
}

// Ends the command buffer, submits it and waits for the device to go idle.
void end_submit_wait(Renderer& r, const protocol::Ref<VkDevice>& dev,
                     const protocol::Ref<VkQueue>& queue,
                     const protocol::Ref<VkCommandBuffer>& cb) {
    gen::EndCommandBufferArgs end;
    end.commandBuffer = cb;
    send(r, end);
    VkSubmitInfo si{};
    si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cb.handle;
    gen::QueueSubmitArgs qs;
    qs.queue = queue;
    qs.submitCount = 1;
    qs.pSubmits = &si;
    send(r, qs);
    gen::DeviceWaitIdleArgs idle;
    idle.device = dev;
    send(r, idle);
}

// The words of a memory object as the guest sees them through the exported memfd.
std::vector<std::uint32_t> read_memory(Renderer& r, std::uint64_t memory_id, std::size_t words) {
    const auto blob = r.executor.export_memory(memory_id);
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

} // namespace

TEST_CASE("a device records a command buffer and a fence signals its submission") {
    Renderer r;
    const auto dev = create_device(r);
    // The queue, bound to fence timeline 1 as Mesa does.
    VkDeviceQueueTimelineInfoMESA timeline{};
    timeline.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_TIMELINE_INFO_MESA;
    timeline.ringIdx = 1;
    const auto queue = get_queue(r, dev, &timeline);
    const auto cbr = begin_commands(r, dev);

    VkMemoryBarrier barrier{};
    barrier.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
    barrier.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    barrier.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
    gen::CmdPipelineBarrierArgs pb;
    pb.commandBuffer = cbr;
    pb.srcStageMask = VK_PIPELINE_STAGE_TRANSFER_BIT;
    pb.dstStageMask = VK_PIPELINE_STAGE_HOST_BIT;
    pb.memoryBarrierCount = 1;
    pb.pMemoryBarriers = &barrier;
    send(r, pb); // generated passthrough
    gen::EndCommandBufferArgs end;
    end.commandBuffer = cbr;
    gen::EndCommandBufferArgs end_reply;
    REQUIRE(r.call(end, end_reply) == DecodeResult::Ok);
    CHECK(end_reply.ret == VK_SUCCESS);

    VkFenceCreateInfo fci{};
    fci.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
    VkFence fence = id<VkFence>(fence_id);
    gen::CreateFenceArgs cf;
    cf.device = dev;
    cf.pCreateInfo = &fci;
    cf.pFence = &fence;
    send(r, cf);

    VkSubmitInfo si{};
    si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cbr.handle;
    gen::QueueSubmitArgs qs;
    qs.queue = queue;
    qs.submitCount = 1;
    qs.pSubmits = &si;
    qs.fence = {fence_id, fence};
    gen::QueueSubmitArgs qs_reply;
    REQUIRE(r.call(qs, qs_reply) == DecodeResult::Ok);
    CHECK(qs_reply.ret == VK_SUCCESS);

    const std::uint64_t fence_ids[] = {fence_id};
    gen::WaitForFencesArgs wf;
    wf.device = dev;
    wf.fenceCount = 1;
    wf.pFences = &fence;
    wf.pFences_ids = fence_ids;
    wf.waitAll = VK_TRUE;
    wf.timeout = 5'000'000'000ull;
    gen::WaitForFencesArgs wf_reply;
    REQUIRE(r.call(wf, wf_reply) == DecodeResult::Ok);
    CHECK(wf_reply.ret == VK_SUCCESS);

    gen::GetFenceStatusArgs gs;
    gs.device = dev;
    gs.fence = {fence_id, fence};
    gen::GetFenceStatusArgs gs_reply;
    REQUIRE(r.call(gs, gs_reply) == DecodeResult::Ok);
    CHECK(gs_reply.ret == VK_SUCCESS);

    SECTION("destroying the pool frees its command buffers' ids") {
        gen::DestroyCommandPoolArgs dp;
        dp.device = dev;
        dp.commandPool = {pool_id, id<VkCommandPool>(pool_id)};
        send(r, dp);
        CHECK_FALSE(r.objects.type_of(cb_id).has_value());
        std::vector<std::byte> stream;
        protocol::Writer w(stream);
        gen::encode_args(w, 0, pb);
        CHECK(r.submit(stream) == DecodeResult::Fatal); // the freed buffer is unknown now
    }
    SECTION("destroying the device takes every child with it") {
        gen::DestroyDeviceArgs dd;
        dd.device = dev;
        send(r, dd);
        CHECK_FALSE(r.objects.type_of(queue_id).has_value());
        CHECK_FALSE(r.objects.type_of(pool_id).has_value());
        CHECK_FALSE(r.objects.type_of(cb_id).has_value());
        CHECK_FALSE(r.objects.type_of(fence_id).has_value());
    }
}

TEST_CASE("device extensions the protocol cannot carry are refused") {
    Renderer r;
    create_instance(r);
    enumerate_physical_devices(r);
    const char* ext[] = {"VK_KHR_swapchain"};
    VkDeviceCreateInfo dci{};
    dci.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
    dci.enabledExtensionCount = 1;
    dci.ppEnabledExtensionNames = ext;
    VkDevice device = id<VkDevice>(device_id);
    gen::CreateDeviceArgs cd;
    cd.physicalDevice = {physical_device_id, id<VkPhysicalDevice>(physical_device_id)};
    cd.pCreateInfo = &dci;
    cd.pDevice = &device;
    gen::CreateDeviceArgs reply;
    REQUIRE(r.call(cd, reply) == DecodeResult::Ok);
    CHECK(reply.ret == VK_ERROR_EXTENSION_NOT_PRESENT);
    CHECK_FALSE(r.objects.type_of(device_id).has_value());
}
namespace {

// Shared memory as the worker would map it: one resource id, one buffer.
class FakeResources final : public decoder::ResourceProvider {
  public:
    std::vector<std::byte> shm_bytes = std::vector<std::byte>(8192);
    std::optional<decoder::ShmRegion> shm(std::uint32_t id) override {
        if (id != 1)
            return std::nullopt;
        return decoder::ShmRegion{shm_bytes.data(), shm_bytes.size()};
    }
};

std::vector<std::byte> set_reply_stream(std::uint32_t res, std::size_t offset, std::size_t size) {
    VkCommandStreamDescriptionMESA desc{res, offset, size};
    gen::SetReplyCommandStreamMESAArgs a;
    a.pStream = &desc;
    std::vector<std::byte> out;
    protocol::Writer w(out);
    gen::encode_args(w, 0, a);
    return out;
}

std::vector<std::byte> instance_version_request(std::uint32_t* version) {
    gen::EnumerateInstanceVersionArgs a;
    a.pApiVersion = version;
    std::vector<std::byte> out;
    protocol::Writer w(out);
    gen::encode_args(w, VK_COMMAND_GENERATE_REPLY_BIT_EXT, a);
    return out;
}

std::uint32_t decode_version_reply(const std::byte* at, std::size_t size) {
    protocol::FatalState fatal;
    protocol::Reader in(at, size, fatal);
    protocol::Arena arena;
    protocol::Decoder d{in, arena};
    std::uint32_t version = 0;
    gen::EnumerateInstanceVersionArgs a;
    a.pApiVersion = &version;
    REQUIRE(gen::decode_reply(d, a) == DecodeResult::Ok);
    return *a.pApiVersion;
}

std::vector<std::byte> concat(std::initializer_list<std::vector<std::byte>> parts) {
    std::vector<std::byte> out;
    for (const auto& p : parts)
        out.insert(out.end(), p.begin(), p.end());
    return out;
}

} // namespace

TEST_CASE("replies go to the reply stream set in shared memory") {
    Renderer r;
    FakeResources res;
    r.executor.set_resources(&res);
    std::uint32_t v = 0;
    REQUIRE(r.submit(concat({set_reply_stream(1, 64, 256), instance_version_request(&v)})) ==
            DecodeResult::Ok);
    CHECK(decode_version_reply(res.shm_bytes.data() + 64, 256) >= VK_API_VERSION_1_1);
    CHECK(r.replies.empty()); // nothing went to the test's own writer

    SECTION("seek moves the write position") {
        gen::SeekReplyCommandStreamMESAArgs seek;
        seek.position = 128;
        std::vector<std::byte> s;
        protocol::Writer w(s);
        gen::encode_args(w, 0, seek);
        REQUIRE(r.submit(concat({s, instance_version_request(&v)})) == DecodeResult::Ok);
        CHECK(decode_version_reply(res.shm_bytes.data() + 64 + 128, 128) >= VK_API_VERSION_1_1);
    }
    SECTION("seeking past the end is fatal") {
        gen::SeekReplyCommandStreamMESAArgs seek;
        seek.position = 257;
        std::vector<std::byte> s;
        protocol::Writer w(s);
        gen::encode_args(w, 0, seek);
        CHECK(r.submit(s) == DecodeResult::Fatal);
    }
}

TEST_CASE("reply streams outside their resource, or not shm, are fatal") {
    Renderer r;
    FakeResources res;
    r.executor.set_resources(&res);
    const auto [resource, offset, size] = GENERATE(std::tuple{2u, 0ull, 16ull},      // unknown
                                                   std::tuple{1u, 8190ull, 16ull},   // past the end
                                                   std::tuple{1u, 8193ull, 0ull},    // offset past
                                                   std::tuple{1u, 8ull, ~0ull - 4}); // wraps
    CHECK(r.submit(set_reply_stream(resource, static_cast<std::size_t>(offset),
                                    static_cast<std::size_t>(size))) == DecodeResult::Fatal);
}

TEST_CASE("a reply larger than the reply stream is fatal") {
    Renderer r;
    FakeResources res;
    r.executor.set_resources(&res);
    std::uint32_t v = 0;
    CHECK(r.submit(concat({set_reply_stream(1, 0, 8), instance_version_request(&v)})) ==
          DecodeResult::Fatal);
    CHECK(r.fatal.reason().find("does not fit") != std::string::npos);
}

TEST_CASE("command streams execute out of shared memory, one level deep") {
    Renderer r;
    FakeResources res;
    r.executor.set_resources(&res);
    std::uint32_t v = 0;
    const auto inner = concat({set_reply_stream(1, 64, 256), instance_version_request(&v)});
    std::copy(inner.begin(), inner.end(), res.shm_bytes.begin() + 4096);

    VkCommandStreamDescriptionMESA stream{1, 4096, inner.size()};
    gen::ExecuteCommandStreamsMESAArgs ex;
    ex.streamCount = 1;
    ex.pStreams = &stream;
    std::vector<std::byte> outer;
    protocol::Writer w(outer);
    gen::encode_args(w, 0, ex);

    SECTION("the executed stream runs and replies") {
        REQUIRE(r.submit(outer) == DecodeResult::Ok);
        CHECK(decode_version_reply(res.shm_bytes.data() + 64, 256) >= VK_API_VERSION_1_1);
    }
    SECTION("a stream that executes streams is fatal") {
        std::copy(outer.begin(), outer.end(), res.shm_bytes.begin() + 4096);
        stream.size = outer.size();
        std::vector<std::byte> again;
        protocol::Writer w2(again);
        gen::encode_args(w2, 0, ex);
        CHECK(r.submit(again) == DecodeResult::Fatal);
        CHECK(r.fatal.reason().find("inside an executed stream") != std::string::npos);
    }
    SECTION("a stream outside its resource is fatal before anything runs") {
        stream.offset = 8000;
        std::vector<std::byte> bad;
        protocol::Writer w2(bad);
        gen::encode_args(w2, 0, ex);
        CHECK(r.submit(bad) == DecodeResult::Fatal);
    }
}

TEST_CASE("plain device children: generated create and destroy, ownership checked") {
    Renderer r;
    const auto dev = create_device(r);
    constexpr std::uint64_t buffer_id = 0x7f0000008000;
    VkBufferCreateInfo bci{};
    bci.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
    bci.size = 4096;
    bci.usage = VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    VkBuffer buffer = id<VkBuffer>(buffer_id);
    gen::CreateBufferArgs cb;
    cb.device = dev;
    cb.pCreateInfo = &bci;
    cb.pBuffer = &buffer;
    gen::CreateBufferArgs cb_reply;
    REQUIRE(r.call(cb, cb_reply) == DecodeResult::Ok);
    CHECK(cb_reply.ret == VK_SUCCESS);
    CHECK(r.objects.type_of(buffer_id) == VK_OBJECT_TYPE_BUFFER);

    SECTION("the same id twice is fatal") {
        std::vector<std::byte> s;
        protocol::Writer w(s);
        gen::encode_args(w, 0, cb);
        CHECK(r.submit(s) == DecodeResult::Fatal);
    }
    SECTION("destroy forgets the id") {
        gen::DestroyBufferArgs db;
        db.device = dev;
        db.buffer = {buffer_id, buffer};
        send(r, db);
        CHECK_FALSE(r.objects.type_of(buffer_id).has_value());
    }
    SECTION("destroying it as another type is fatal") {
        gen::DestroyImageArgs di;
        di.device = dev;
        di.image = {buffer_id, id<VkImage>(buffer_id)};
        std::vector<std::byte> s;
        protocol::Writer w(s);
        gen::encode_args(w, 0, di);
        CHECK(r.submit(s) == DecodeResult::Fatal);
        CHECK(r.objects.type_of(buffer_id) == VK_OBJECT_TYPE_BUFFER);
    }
    SECTION("the device takes it along") {
        gen::DestroyDeviceArgs dd;
        dd.device = dev;
        send(r, dd);
        CHECK_FALSE(r.objects.type_of(buffer_id).has_value());
    }
}

TEST_CASE("host-visible memory is a sealed memfd the GPU writes and the guest maps") {
    Renderer r;
    const auto dev = create_device(r);
    const auto queue = get_queue(r, dev);
    constexpr std::uint64_t buffer_id = 0x7f0000008000, memory_id = 0x7f0000009000;
    constexpr VkDeviceSize size = 64 * 1024;
    const auto b =
        create_bound_buffer(r, dev, buffer_id, memory_id, size, VK_BUFFER_USAGE_TRANSFER_DST_BIT);
    const auto cbr = begin_commands(r, dev);
    gen::CmdFillBufferArgs fill;
    fill.commandBuffer = cbr;
    fill.dstBuffer = b.buffer;
    fill.size = VK_WHOLE_SIZE;
    fill.data = 0xc0ffee11u;
    send(r, fill);
    end_submit_wait(r, dev, queue, cbr);

    const auto blob = r.executor.export_memory(memory_id);
    REQUIRE(blob.has_value());
    const int seals = ::fcntl(blob->fd, F_GET_SEALS);
    CHECK((seals & F_SEAL_SHRINK) != 0);
    CHECK((seals & F_SEAL_GROW) != 0);
    ::close(blob->fd);
    const auto words = read_memory(r, memory_id, size / 4);
    CHECK(std::count(words.begin(), words.end(), 0xc0ffee11u) ==
          static_cast<std::ptrdiff_t>(size / 4));
    CHECK_FALSE(r.executor.export_memory(buffer_id).has_value()); // not a memory object

    // A second buffer bound where it would run past the end of the memory is refused before
    // the driver sees it: the GPU would otherwise write outside our mapping.
    constexpr std::uint64_t second_id = 0x7f000000a000;
    VkBufferCreateInfo bci{};
    bci.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
    bci.size = size;
    bci.usage = VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    VkBuffer second = id<VkBuffer>(second_id);
    gen::CreateBufferArgs cb;
    cb.device = dev;
    cb.pCreateInfo = &bci;
    cb.pBuffer = &second;
    send(r, cb);
    VkBindBufferMemoryInfo past{};
    past.sType = VK_STRUCTURE_TYPE_BIND_BUFFER_MEMORY_INFO;
    past.buffer = second;
    past.memory = b.memory.handle;
    past.memoryOffset = b.requirements.size;
    gen::BindBufferMemory2Args bm;
    bm.device = dev;
    bm.bindInfoCount = 1;
    bm.pBindInfos = &past;
    std::vector<std::byte> s;
    protocol::Writer w(s);
    gen::encode_args(w, 0, bm);
    CHECK(r.submit(s) == DecodeResult::Fatal);
    CHECK(r.fatal.reason().find("does not fit its memory") != std::string::npos);
}

TEST_CASE("a compute shader writes a buffer the guest maps") {
    Renderer r;
    const auto dev = create_device(r);
    const auto queue = get_queue(r, dev);
    constexpr std::uint32_t invocations = 256;
    constexpr std::uint64_t buffer_id = 0x7f0000010000, memory_id = 0x7f0000011000,
                            dsl_id = 0x7f0000012000, layout_id = 0x7f0000013000,
                            shader_id = 0x7f0000014000, pipeline_id = 0x7f0000015000,
                            dpool_id = 0x7f0000016000, set_id = 0x7f0000017000;
    const auto b = create_bound_buffer(r, dev, buffer_id, memory_id, invocations * 4,
                                       VK_BUFFER_USAGE_STORAGE_BUFFER_BIT);

    VkDescriptorSetLayoutBinding binding{0, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1,
                                         VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
    VkDescriptorSetLayoutCreateInfo dslci{};
    dslci.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO;
    dslci.bindingCount = 1;
    dslci.pBindings = &binding;
    VkDescriptorSetLayout dsl = id<VkDescriptorSetLayout>(dsl_id);
    gen::CreateDescriptorSetLayoutArgs cdsl;
    cdsl.device = dev;
    cdsl.pCreateInfo = &dslci;
    cdsl.pSetLayout = &dsl;
    send(r, cdsl);
    VkPipelineLayoutCreateInfo plci{};
    plci.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO;
    plci.setLayoutCount = 1;
    plci.pSetLayouts = &dsl;
    VkPipelineLayout layout = id<VkPipelineLayout>(layout_id);
    gen::CreatePipelineLayoutArgs cpl;
    cpl.device = dev;
    cpl.pCreateInfo = &plci;
    cpl.pPipelineLayout = &layout;
    send(r, cpl);
    VkShaderModuleCreateInfo smci{};
    smci.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO;
    smci.codeSize = sizeof(vn_fill_comp_spv);
    smci.pCode = vn_fill_comp_spv;
    VkShaderModule shader = id<VkShaderModule>(shader_id);
    gen::CreateShaderModuleArgs csm;
    csm.device = dev;
    csm.pCreateInfo = &smci;
    csm.pShaderModule = &shader;
    send(r, csm);
    VkComputePipelineCreateInfo cpci{};
    cpci.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO;
    cpci.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
    cpci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    cpci.stage.module = shader;
    cpci.stage.pName = "main";
    cpci.layout = layout;
    VkPipeline pipeline = id<VkPipeline>(pipeline_id);
    gen::CreateComputePipelinesArgs ccp;
    ccp.device = dev;
    ccp.createInfoCount = 1;
    ccp.pCreateInfos = &cpci;
    ccp.pPipelines = &pipeline;
    gen::CreateComputePipelinesArgs ccp_reply;
    REQUIRE(r.call(ccp, ccp_reply) == DecodeResult::Ok);
    REQUIRE(ccp_reply.ret == VK_SUCCESS);

    VkDescriptorPoolSize pool_size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1};
    VkDescriptorPoolCreateInfo dpci{};
    dpci.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO;
    dpci.maxSets = 1;
    dpci.poolSizeCount = 1;
    dpci.pPoolSizes = &pool_size;
    VkDescriptorPool dpool = id<VkDescriptorPool>(dpool_id);
    gen::CreateDescriptorPoolArgs cdp;
    cdp.device = dev;
    cdp.pCreateInfo = &dpci;
    cdp.pDescriptorPool = &dpool;
    send(r, cdp);
    VkDescriptorSetAllocateInfo dsai{};
    dsai.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO;
    dsai.descriptorPool = dpool;
    dsai.descriptorSetCount = 1;
    dsai.pSetLayouts = &dsl;
    VkDescriptorSet set = id<VkDescriptorSet>(set_id);
    gen::AllocateDescriptorSetsArgs ads;
    ads.device = dev;
    ads.pAllocateInfo = &dsai;
    ads.pDescriptorSets = &set;
    send(r, ads);
    VkDescriptorBufferInfo dbi{b.buffer.handle, 0, VK_WHOLE_SIZE};
    VkWriteDescriptorSet write{};
    write.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
    write.dstSet = set;
    write.descriptorCount = 1;
    write.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    write.pBufferInfo = &dbi;
    gen::UpdateDescriptorSetsArgs uds;
    uds.device = dev;
    uds.descriptorWriteCount = 1;
    uds.pDescriptorWrites = &write;
    send(r, uds);

    const auto cbr = begin_commands(r, dev);
    gen::CmdBindPipelineArgs bp;
    bp.commandBuffer = cbr;
    bp.pipelineBindPoint = VK_PIPELINE_BIND_POINT_COMPUTE;
    bp.pipeline = {pipeline_id, pipeline};
    send(r, bp);
    const std::uint64_t set_ids[] = {set_id};
    gen::CmdBindDescriptorSetsArgs bds;
    bds.commandBuffer = cbr;
    bds.pipelineBindPoint = VK_PIPELINE_BIND_POINT_COMPUTE;
    bds.layout = {layout_id, layout};
    bds.descriptorSetCount = 1;
    bds.pDescriptorSets = &set;
    bds.pDescriptorSets_ids = set_ids;
    send(r, bds);
    gen::CmdDispatchArgs disp;
    disp.commandBuffer = cbr;
    disp.groupCountX = invocations / 64;
    disp.groupCountY = 1;
    disp.groupCountZ = 1;
    send(r, disp);
    end_submit_wait(r, dev, queue, cbr);

    const auto values = read_memory(r, memory_id, invocations);
    std::uint32_t good = 0;
    for (std::uint32_t i = 0; i < invocations; ++i)
        good += values[i] == i * 3 + 1;
    CHECK(good == invocations);

    SECTION("destroying the descriptor pool retires its sets") {
        gen::DestroyDescriptorPoolArgs ddp;
        ddp.device = dev;
        ddp.descriptorPool = {dpool_id, dpool};
        send(r, ddp);
        CHECK_FALSE(r.objects.type_of(set_id).has_value());
    }
}

TEST_CASE("timeline semaphores: signal, read back and wait through generated passthrough") {
    Renderer r;
    VkPhysicalDeviceVulkan12Features v12{};
    v12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
    v12.timelineSemaphore = VK_TRUE;
    const auto dev = create_device(r, &v12);

    constexpr std::uint64_t sem_id = 0x7f0000020000;
    VkSemaphoreTypeCreateInfo type{};
    type.sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO;
    type.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE;
    type.initialValue = 1;
    VkSemaphoreCreateInfo sci{};
    sci.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO;
    sci.pNext = &type;
    VkSemaphore sem = id<VkSemaphore>(sem_id);
    gen::CreateSemaphoreArgs cs;
    cs.device = dev;
    cs.pCreateInfo = &sci;
    cs.pSemaphore = &sem;
    send(r, cs);

    VkSemaphoreSignalInfo signal{};
    signal.sType = VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO;
    signal.semaphore = sem;
    signal.value = 5;
    gen::SignalSemaphoreArgs ss;
    ss.device = dev;
    ss.pSignalInfo = &signal;
    gen::SignalSemaphoreArgs ss_reply;
    REQUIRE(r.call(ss, ss_reply) == DecodeResult::Ok);
    CHECK(ss_reply.ret == VK_SUCCESS);

    std::uint64_t value = 0;
    gen::GetSemaphoreCounterValueArgs gv;
    gv.device = dev;
    gv.semaphore = {sem_id, sem};
    gv.pValue = &value;
    gen::GetSemaphoreCounterValueArgs gv_reply;
    REQUIRE(r.call(gv, gv_reply) == DecodeResult::Ok);
    CHECK(gv_reply.ret == VK_SUCCESS);
    CHECK(*gv_reply.pValue == 5);

    const std::uint64_t wait_value = 5;
    VkSemaphoreWaitInfo wait{};
    wait.sType = VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO;
    wait.semaphoreCount = 1;
    wait.pSemaphores = &sem;
    wait.pValues = &wait_value;
    gen::WaitSemaphoresArgs ws;
    ws.device = dev;
    ws.pWaitInfo = &wait;
    ws.timeout = 1'000'000'000ull;
    gen::WaitSemaphoresArgs ws_reply;
    REQUIRE(r.call(ws, ws_reply) == DecodeResult::Ok);
    CHECK(ws_reply.ret == VK_SUCCESS);
}
