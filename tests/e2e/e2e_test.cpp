// A guest's view: encode Venus commands, submit them through libvenus-proxy to the real server,
// read replies from a shared-memory reply stream, and map device memory as a blob.
#include "venus_proxy.h"
#include "vn_protocol.gen.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

using namespace vn;

namespace {

template <typename H>
H id(std::uint64_t v) {
    return protocol::handle_from_u64<H>(v);
}

constexpr std::uint32_t reply_res = 1;
constexpr std::size_t reply_size = 64 * 1024;

// One guest context on a spawned server, with a mapped reply stream.
class Guest {
  public:
    Guest() {
        REQUIRE(vn_proxy_server_spawn(VN_TEST_SERVER_PATH, VN_PROXY_LAYOUT_V1, 0, &m_server) ==
                VN_PROXY_OK);
        REQUIRE(vn_proxy_context_create(m_server, 1, "e2e", VN_PROXY_CAPSET_VENUS, true, &m_ctx) ==
                VN_PROXY_OK);
        vn_proxy_blob blob{};
        REQUIRE(vn_proxy_context_create_resource(m_ctx, reply_res, 0, reply_size,
                                                 VN_PROXY_BLOB_FLAG_MAPPABLE,
                                                 &blob) == VN_PROXY_OK);
        REQUIRE(blob.fd_type == VN_PROXY_FD_SHM);
        m_reply = ::mmap(nullptr, reply_size, PROT_READ | PROT_WRITE, MAP_SHARED, blob.fd, 0);
        ::close(blob.fd);
        REQUIRE(m_reply != MAP_FAILED);
    }
    ~Guest() {
        ::munmap(m_reply, reply_size);
        vn_proxy_context_destroy(m_ctx);
        vn_proxy_server_destroy(m_server);
    }
    Guest(const Guest&) = delete;
    Guest& operator=(const Guest&) = delete;

    vn_proxy_context* context() { return m_ctx; }

    // Fire and forget, like Mesa's vn_async_*.
    template <typename Args>
    void send(const Args& a) {
        std::vector<std::byte> s;
        protocol::Writer w(s);
        gen::encode_args(w, 0, a);
        submit(s);
    }

    // A synchronous call, like Mesa's vn_call_*: point the reply stream at offset 0, submit, wait
    // until the worker has processed it (a CPU-timeline fence), decode the reply.
    template <typename Args>
    Args call(const Args& a) {
        VkCommandStreamDescriptionMESA desc{reply_res, 0, reply_size};
        gen::SetReplyCommandStreamMESAArgs set;
        set.pStream = &desc;
        std::vector<std::byte> s;
        protocol::Writer w(s);
        gen::encode_args(w, 0, set);
        gen::encode_args(w, VK_COMMAND_GENERATE_REPLY_BIT_EXT, a);
        submit(s);
        sync();
        protocol::FatalState fatal;
        protocol::Reader in(static_cast<const std::byte*>(m_reply), reply_size, fatal);
        protocol::Decoder d{in, m_arena};
        Args out = a;
        const auto r = gen::decode_reply(d, out);
        INFO(fatal.reason());
        REQUIRE(r == protocol::DecodeResult::Ok);
        return out;
    }

    void sync() {
        std::uint32_t seqno = 0;
        REQUIRE(vn_proxy_context_submit_fence(m_ctx, 0, &seqno) == VN_PROXY_OK);
        REQUIRE(vn_proxy_context_wait_fence(m_ctx, 0, seqno, 30000) == VN_PROXY_OK);
    }

  private:
    void submit(const std::vector<std::byte>& s) {
        REQUIRE(vn_proxy_context_submit_cmd(m_ctx, s.data(), s.size()) == VN_PROXY_OK);
    }

    vn_proxy_server* m_server = nullptr;
    vn_proxy_context* m_ctx = nullptr;
    void* m_reply = nullptr;
    protocol::Arena m_arena;
};

constexpr std::uint64_t instance_id = 0x5000, pd_id = 0x5100, device_id = 0x5200, queue_id = 0x5300,
                        buffer_id = 0x5400, memory_id = 0x5500, pool_id = 0x5600, cb_id = 0x5700;

} // namespace

TEST_CASE("a guest fills a buffer on lavapipe and maps the memory as a blob") {
    Guest g;

    std::uint32_t version = 0;
    gen::EnumerateInstanceVersionArgs ev;
    ev.pApiVersion = &version;
    CHECK(*g.call(ev).pApiVersion >= VK_API_VERSION_1_1);

    VkApplicationInfo app{};
    app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
    app.apiVersion = VK_API_VERSION_1_3;
    VkInstanceCreateInfo ici{};
    ici.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
    ici.pApplicationInfo = &app;
    VkInstance instance = id<VkInstance>(instance_id);
    gen::CreateInstanceArgs ci;
    ci.pCreateInfo = &ici;
    ci.pInstance = &instance;
    REQUIRE(g.call(ci).ret == VK_SUCCESS);

    std::uint32_t count = 1;
    VkPhysicalDevice pd = id<VkPhysicalDevice>(pd_id);
    gen::EnumeratePhysicalDevicesArgs ep;
    ep.instance = {instance_id, instance};
    ep.pPhysicalDeviceCount = &count;
    ep.pPhysicalDevices = &pd;
    REQUIRE(g.call(ep).ret >= 0);

    const float priority = 1.0f;
    VkDeviceQueueCreateInfo qci{};
    qci.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
    qci.queueCount = 1;
    qci.pQueuePriorities = &priority;
    VkDeviceCreateInfo dci{};
    dci.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
    dci.queueCreateInfoCount = 1;
    dci.pQueueCreateInfos = &qci;
    VkDevice device = id<VkDevice>(device_id);
    gen::CreateDeviceArgs cd;
    cd.physicalDevice = {pd_id, pd};
    cd.pCreateInfo = &dci;
    cd.pDevice = &device;
    REQUIRE(g.call(cd).ret == VK_SUCCESS);
    const protocol::Ref<VkDevice> dev{device_id, device};

    VkQueue queue = id<VkQueue>(queue_id);
    VkDeviceQueueInfo2 qi{};
    qi.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_INFO_2;
    gen::GetDeviceQueue2Args gq;
    gq.device = dev;
    gq.pQueueInfo = &qi;
    gq.pQueue = &queue;
    g.send(gq);

    constexpr VkDeviceSize size = 64 * 1024;
    VkBufferCreateInfo bci{};
    bci.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
    bci.size = size;
    bci.usage = VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    VkBuffer buffer = id<VkBuffer>(buffer_id);
    gen::CreateBufferArgs cb;
    cb.device = dev;
    cb.pCreateInfo = &bci;
    cb.pBuffer = &buffer;
    g.send(cb);

    VkBufferMemoryRequirementsInfo2 ri{};
    ri.sType = VK_STRUCTURE_TYPE_BUFFER_MEMORY_REQUIREMENTS_INFO_2;
    ri.buffer = buffer;
    VkMemoryRequirements2 req{};
    req.sType = VK_STRUCTURE_TYPE_MEMORY_REQUIREMENTS_2;
    gen::GetBufferMemoryRequirements2Args gr;
    gr.device = dev;
    gr.pInfo = &ri;
    gr.pMemoryRequirements = &req;
    const VkMemoryRequirements mr = g.call(gr).pMemoryRequirements->memoryRequirements;
    REQUIRE(mr.size == size);

    VkPhysicalDeviceMemoryProperties2 mem{};
    mem.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2;
    gen::GetPhysicalDeviceMemoryProperties2Args gm;
    gm.physicalDevice = {pd_id, pd};
    gm.pMemoryProperties = &mem;
    const auto props = g.call(gm).pMemoryProperties->memoryProperties;
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
    REQUIRE(g.call(am).ret == VK_SUCCESS);

    // The guest maps the memory as a blob, as Mesa does for host-visible memory.
    vn_proxy_blob blob{};
    REQUIRE(vn_proxy_context_create_resource(g.context(), 2, memory_id, mr.size,
                                             VN_PROXY_BLOB_FLAG_MAPPABLE, &blob) == VN_PROXY_OK);
    REQUIRE(blob.fd_type == VN_PROXY_FD_SHM);
    auto* words = static_cast<std::uint32_t*>(
        ::mmap(nullptr, mr.size, PROT_READ | PROT_WRITE, MAP_SHARED, blob.fd, 0));
    ::close(blob.fd);
    REQUIRE(words != MAP_FAILED);
    words[0] = 0x12345678; // the guest writes; the GPU overwrites below

    VkBindBufferMemoryInfo bind{};
    bind.sType = VK_STRUCTURE_TYPE_BIND_BUFFER_MEMORY_INFO;
    bind.buffer = buffer;
    bind.memory = memory;
    gen::BindBufferMemory2Args bm;
    bm.device = dev;
    bm.bindInfoCount = 1;
    bm.pBindInfos = &bind;
    g.send(bm);

    VkCommandPoolCreateInfo pci{};
    pci.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
    VkCommandPool pool = id<VkCommandPool>(pool_id);
    gen::CreateCommandPoolArgs cp;
    cp.device = dev;
    cp.pCreateInfo = &pci;
    cp.pCommandPool = &pool;
    g.send(cp);
    VkCommandBufferAllocateInfo cai{};
    cai.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
    cai.commandPool = pool;
    cai.commandBufferCount = 1;
    VkCommandBuffer cmd = id<VkCommandBuffer>(cb_id);
    gen::AllocateCommandBuffersArgs acb;
    acb.device = dev;
    acb.pAllocateInfo = &cai;
    acb.pCommandBuffers = &cmd;
    g.send(acb);
    const protocol::Ref<VkCommandBuffer> cbr{cb_id, cmd};
    VkCommandBufferBeginInfo bi{};
    bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
    gen::BeginCommandBufferArgs begin;
    begin.commandBuffer = cbr;
    begin.pBeginInfo = &bi;
    g.send(begin);
    gen::CmdFillBufferArgs fill;
    fill.commandBuffer = cbr;
    fill.dstBuffer = {buffer_id, buffer};
    fill.size = VK_WHOLE_SIZE;
    fill.data = 0xfeedf00du;
    g.send(fill);
    gen::EndCommandBufferArgs end;
    end.commandBuffer = cbr;
    g.send(end);
    VkSubmitInfo si{};
    si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cmd;
    gen::QueueSubmitArgs qs;
    qs.queue = {queue_id, queue};
    qs.submitCount = 1;
    qs.pSubmits = &si;
    g.send(qs);
    gen::DeviceWaitIdleArgs idle;
    idle.device = dev;
    REQUIRE(g.call(idle).ret == VK_SUCCESS);

    std::size_t good = 0;
    for (std::size_t i = 0; i < mr.size / 4; ++i)
        good += words[i] == 0xfeedf00du;
    CHECK(good == mr.size / 4);
    ::munmap(words, mr.size);
    CHECK(vn_proxy_context_check(g.context()) == VN_PROXY_OK);
}

TEST_CASE("a wrong-type id through the whole stack ends only that context") {
    Guest g;
    std::uint32_t count = 1;
    VkPhysicalDevice pd = id<VkPhysicalDevice>(pd_id);
    gen::EnumeratePhysicalDevicesArgs ep;
    ep.instance = {0x9999, id<VkInstance>(0x9999)}; // never created
    ep.pPhysicalDeviceCount = &count;
    ep.pPhysicalDevices = &pd;
    g.send(ep);
    // The worker may hang up before the fence is even sent: that is lost too.
    std::uint32_t seqno = 0;
    const int sent = vn_proxy_context_submit_fence(g.context(), 0, &seqno);
    CHECK(
        (sent == VN_PROXY_ERROR_CONTEXT_LOST ||
         vn_proxy_context_wait_fence(g.context(), 0, seqno, 10000) == VN_PROXY_ERROR_CONTEXT_LOST));
    // A second context on another server keeps working.
    Guest other;
    std::uint32_t version = 0;
    gen::EnumerateInstanceVersionArgs ev;
    ev.pApiVersion = &version;
    CHECK(*other.call(ev).pApiVersion >= VK_API_VERSION_1_1);
}
