// Rings end to end: the guest creates a Venus ring in a shm blob through libvenus-proxy, the
// sandboxed worker's ring thread runs the commands the guest writes into it, and a context fence
// on the queue's ring_idx retires only once the GPU work before it has completed.
#include "venus_proxy.h"
#include "vn_protocol.gen.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <sys/mman.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace vn;
using namespace std::chrono_literals;

namespace {

template <typename H>
H id(std::uint64_t v) {
    return protocol::handle_from_u64<H>(v);
}

template <typename Args>
std::vector<std::byte> encode(const Args& a, std::uint32_t flags = 0) {
    std::vector<std::byte> out;
    protocol::Writer w(out);
    gen::encode_args(w, flags, a);
    return out;
}

std::vector<std::byte> concat(std::initializer_list<std::vector<std::byte>> parts) {
    std::vector<std::byte> out;
    for (const auto& p : parts)
        out.insert(out.end(), p.begin(), p.end());
    return out;
}

constexpr std::uint32_t reply_res = 1, ring_res = 2;
constexpr std::size_t blob_size = 64 * 1024;
constexpr std::uint64_t ring_id = 0x7fff12340000;
constexpr std::uint32_t queue_ring_idx = 1;

// Mesa's ring layout (vn_ring_get_layout): head @0, tail @64, status @128, buffer @192.
constexpr std::size_t head_off = 0, tail_off = 64, status_off = 128, buffer_off = 192;
constexpr std::uint32_t buffer_size = 8192;
constexpr std::size_t extra_off = buffer_off + buffer_size;

// One guest context with a reply blob and a ring blob, both mapped.
class Guest {
  public:
    Guest() {
        REQUIRE(vn_proxy_server_spawn(VN_TEST_SERVER_PATH, VN_PROXY_LAYOUT_V1, 0, &m_server) ==
                VN_PROXY_OK);
        REQUIRE(vn_proxy_context_create(m_server, 1, "e2e-ring", VN_PROXY_CAPSET_VENUS, true,
                                        &m_ctx) == VN_PROXY_OK);
        m_reply = map_blob(reply_res);
        m_ring = map_blob(ring_res);
    }
    ~Guest() {
        ::munmap(m_reply, blob_size);
        ::munmap(m_ring, blob_size);
        vn_proxy_context_destroy(m_ctx);
        vn_proxy_server_destroy(m_server);
    }
    Guest(const Guest&) = delete;
    Guest& operator=(const Guest&) = delete;

    vn_proxy_context* context() { return m_ctx; }
    std::byte* reply() { return m_reply; }

    void submit(const std::vector<std::byte>& s) {
        REQUIRE(vn_proxy_context_submit_cmd(m_ctx, s.data(), s.size()) == VN_PROXY_OK);
    }
    template <typename Args>
    void send(const Args& a) {
        submit(encode(a));
    }
    // A CPU-timeline fence: everything submitted before it has been decoded and run.
    void sync() {
        std::uint32_t seqno = 0;
        REQUIRE(vn_proxy_context_submit_fence(m_ctx, 0, &seqno) == VN_PROXY_OK);
        REQUIRE(vn_proxy_context_wait_fence(m_ctx, 0, seqno, 30000) == VN_PROXY_OK);
    }

    std::atomic_ref<std::uint32_t> word(std::size_t off) {
        return std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(m_ring + off));
    }
    // Mesa's vn_ring_submit: write at the tail, publish it, notify the ring if it went idle.
    std::uint32_t ring_write(const std::vector<std::byte>& cmds) {
        REQUIRE(cmds.size() < buffer_size);
        while (m_tail - word(head_off).load() > buffer_size - cmds.size())
            std::this_thread::sleep_for(50us);
        for (std::size_t i = 0; i < cmds.size(); ++i)
            m_ring[buffer_off + ((m_tail + i) & (buffer_size - 1))] = cmds[i];
        m_tail += static_cast<std::uint32_t>(cmds.size());
        word(tail_off).store(m_tail, std::memory_order_seq_cst);
        if (word(status_off).load(std::memory_order_seq_cst) & VK_RING_STATUS_IDLE_BIT_MESA) {
            gen::NotifyRingMESAArgs n;
            n.ring = ring_id;
            n.seqno = m_tail;
            send(n);
        }
        return m_tail;
    }
    // Mesa's vn_ring_wait_seqno through the context path.
    void ring_wait(std::uint32_t seqno) {
        gen::WaitRingSeqnoMESAArgs w;
        w.ring = ring_id;
        w.seqno = seqno;
        send(w);
        sync();
        CHECK(static_cast<std::int32_t>(word(head_off).load() - seqno) >= 0);
    }

  private:
    std::byte* map_blob(std::uint32_t res) {
        vn_proxy_blob blob{};
        REQUIRE(vn_proxy_context_create_resource(
                    m_ctx, res, 0, blob_size, VN_PROXY_BLOB_FLAG_MAPPABLE, &blob) == VN_PROXY_OK);
        REQUIRE(blob.fd_type == VN_PROXY_FD_SHM);
        void* p = ::mmap(nullptr, blob_size, PROT_READ | PROT_WRITE, MAP_SHARED, blob.fd, 0);
        ::close(blob.fd);
        REQUIRE(p != MAP_FAILED);
        return static_cast<std::byte*>(p);
    }

    vn_proxy_server* m_server = nullptr;
    vn_proxy_context* m_ctx = nullptr;
    std::byte* m_reply = nullptr;
    std::byte* m_ring = nullptr;
    std::uint32_t m_tail = 0;
};

std::vector<std::byte> create_ring(std::uint32_t monitor_us) {
    VkRingMonitorInfoMESA monitor{};
    monitor.sType = VK_STRUCTURE_TYPE_RING_MONITOR_INFO_MESA;
    monitor.maxReportingPeriodMicroseconds = monitor_us;
    VkRingCreateInfoMESA info{};
    info.sType = VK_STRUCTURE_TYPE_RING_CREATE_INFO_MESA;
    info.pNext = &monitor;
    info.resourceId = ring_res;
    info.size = blob_size;
    info.idleTimeout = 5'000'000; // Mesa's 5 ms
    info.headOffset = head_off;
    info.tailOffset = tail_off;
    info.statusOffset = status_off;
    info.bufferOffset = buffer_off;
    info.bufferSize = buffer_size;
    info.extraOffset = extra_off;
    info.extraSize = 4;
    gen::CreateRingMESAArgs a;
    a.ring = ring_id;
    a.pCreateInfo = &info;
    return encode(a);
}

std::vector<std::byte> set_reply_stream(std::size_t offset, std::size_t size) {
    VkCommandStreamDescriptionMESA desc{reply_res, offset, size};
    gen::SetReplyCommandStreamMESAArgs a;
    a.pStream = &desc;
    return encode(a);
}

template <typename Args>
Args decode_reply(const std::byte* at, const Args& request, protocol::Arena& arena) {
    protocol::FatalState fatal;
    protocol::Reader in(at, 4096, fatal);
    protocol::Decoder d{in, arena};
    Args out = request;
    const auto r = gen::decode_reply(d, out);
    INFO(fatal.reason());
    REQUIRE(r == protocol::DecodeResult::Ok);
    return out;
}

// Whether the context is gone: a CPU fence either cannot be sent (the worker already hung up)
// or never retires.
bool lost(vn_proxy_context* ctx) {
    std::uint32_t seqno = 0;
    const int rc = vn_proxy_context_submit_fence(ctx, 0, &seqno);
    if (rc != VN_PROXY_OK)
        return rc == VN_PROXY_ERROR_CONTEXT_LOST;
    return vn_proxy_context_wait_fence(ctx, 0, seqno, 10000) == VN_PROXY_ERROR_CONTEXT_LOST;
}

constexpr std::uint64_t instance_id = 0x6000, pd_id = 0x6100, device_id = 0x6200, queue_id = 0x6300,
                        sem_id = 0x6400;

} // namespace

TEST_CASE("a guest runs Vulkan through a ring and a queue-timeline fence waits for the GPU") {
    Guest g;
    protocol::Arena arena;
    g.submit(create_ring(10'000));
    g.sync();
    // The monitor reports the ring alive, and keeps doing so after the guest clears the bit.
    const auto alive = [&] {
        const auto end = std::chrono::steady_clock::now() + 5s;
        while (!(g.word(status_off).load() & VK_RING_STATUS_ALIVE_BIT_MESA))
            if (std::chrono::steady_clock::now() > end)
                return false;
        return true;
    };
    CHECK(alive());
    g.word(status_off).fetch_and(~std::uint32_t{VK_RING_STATUS_ALIVE_BIT_MESA});
    CHECK(alive());

    // Everything below goes through the ring, as Mesa sends it; replies come back through the
    // ring's own reply stream at 32 KiB.
    std::uint32_t version = 0;
    gen::EnumerateInstanceVersionArgs ev;
    ev.pApiVersion = &version;
    g.ring_wait(g.ring_write(concat(
        {set_reply_stream(32 * 1024, 4096), encode(ev, VK_COMMAND_GENERATE_REPLY_BIT_EXT)})));
    CHECK(*decode_reply(g.reply() + 32 * 1024, ev, arena).pApiVersion >= VK_API_VERSION_1_1);

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
    std::uint32_t count = 1;
    VkPhysicalDevice pd = id<VkPhysicalDevice>(pd_id);
    gen::EnumeratePhysicalDevicesArgs ep;
    ep.instance = {instance_id, instance};
    ep.pPhysicalDeviceCount = &count;
    ep.pPhysicalDevices = &pd;
    VkPhysicalDeviceVulkan12Features v12{};
    v12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
    v12.timelineSemaphore = VK_TRUE;
    const float priority = 1.0f;
    VkDeviceQueueCreateInfo qci{};
    qci.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
    qci.queueCount = 1;
    qci.pQueuePriorities = &priority;
    VkDeviceCreateInfo dci{};
    dci.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
    dci.pNext = &v12;
    dci.queueCreateInfoCount = 1;
    dci.pQueueCreateInfos = &qci;
    VkDevice device = id<VkDevice>(device_id);
    gen::CreateDeviceArgs cd;
    cd.physicalDevice = {pd_id, pd};
    cd.pCreateInfo = &dci;
    cd.pDevice = &device;
    const protocol::Ref<VkDevice> dev{device_id, device};
    VkDeviceQueueTimelineInfoMESA timeline{};
    timeline.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_TIMELINE_INFO_MESA;
    timeline.ringIdx = queue_ring_idx;
    VkDeviceQueueInfo2 qi{};
    qi.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_INFO_2;
    qi.pNext = &timeline;
    VkQueue queue = id<VkQueue>(queue_id);
    gen::GetDeviceQueue2Args gq;
    gq.device = dev;
    gq.pQueueInfo = &qi;
    gq.pQueue = &queue;
    VkSemaphoreTypeCreateInfo type{};
    type.sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO;
    type.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE;
    VkSemaphoreCreateInfo sci{};
    sci.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO;
    sci.pNext = &type;
    VkSemaphore sem = id<VkSemaphore>(sem_id);
    gen::CreateSemaphoreArgs cs;
    cs.device = dev;
    cs.pCreateInfo = &sci;
    cs.pSemaphore = &sem;
    g.ring_wait(g.ring_write(
        concat({encode(ci), encode(ep), set_reply_stream(32 * 1024, 4096),
                encode(cd, VK_COMMAND_GENERATE_REPLY_BIT_EXT), encode(gq), encode(cs)})));
    REQUIRE(decode_reply(g.reply() + 32 * 1024, cd, arena).ret == VK_SUCCESS);

    // A virtqueue-seqno wait holds the ring until the context path submits that seqno.
    gen::WaitVirtqueueSeqnoMESAArgs wv;
    wv.seqno = 7;
    const std::uint32_t after_wait =
        g.ring_write(concat({encode(wv), set_reply_stream(36 * 1024, 4096),
                             encode(ev, VK_COMMAND_GENERATE_REPLY_BIT_EXT)}));
    std::this_thread::sleep_for(50ms);
    CHECK(g.word(head_off).load() != after_wait);
    gen::SubmitVirtqueueSeqnoMESAArgs sv;
    sv.ring = ring_id;
    sv.seqno = 7;
    g.send(sv);
    g.ring_wait(after_wait);
    CHECK(*decode_reply(g.reply() + 36 * 1024, ev, arena).pApiVersion >= VK_API_VERSION_1_1);

    // GPU work on the bound queue that cannot finish before the semaphore reaches 1.
    const std::uint64_t wait_value = 1;
    VkTimelineSemaphoreSubmitInfo tsi{};
    tsi.sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO;
    tsi.waitSemaphoreValueCount = 1;
    tsi.pWaitSemaphoreValues = &wait_value;
    const VkPipelineStageFlags stage = VK_PIPELINE_STAGE_ALL_COMMANDS_BIT;
    VkSubmitInfo si{};
    si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
    si.pNext = &tsi;
    si.waitSemaphoreCount = 1;
    si.pWaitSemaphores = &sem;
    si.pWaitDstStageMask = &stage;
    gen::QueueSubmitArgs qs;
    qs.queue = {queue_id, queue};
    qs.submitCount = 1;
    qs.pSubmits = &si;
    g.ring_wait(g.ring_write(encode(qs)));

    std::uint32_t fence = 0;
    REQUIRE(vn_proxy_context_submit_fence(g.context(), queue_ring_idx, &fence) == VN_PROXY_OK);
    std::this_thread::sleep_for(200ms);
    std::uint32_t retired = 0;
    REQUIRE(vn_proxy_context_retired_seqno(g.context(), queue_ring_idx, &retired) == VN_PROXY_OK);
    CHECK(retired != fence); // the GPU work is still blocked
    CHECK(vn_proxy_context_check(g.context()) == VN_PROXY_OK);

    VkSemaphoreSignalInfo signal{};
    signal.sType = VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO;
    signal.semaphore = sem;
    signal.value = 1;
    gen::SignalSemaphoreArgs ss;
    ss.device = dev;
    ss.pSignalInfo = &signal;
    g.ring_write(encode(ss));
    CHECK(vn_proxy_context_wait_fence(g.context(), queue_ring_idx, fence, 10000) == VN_PROXY_OK);
    CHECK(vn_proxy_context_check(g.context()) == VN_PROXY_OK);
    CHECK((g.word(status_off).load() & VK_RING_STATUS_FATAL_BIT_MESA) == 0);
}

TEST_CASE("destroying a resource a ring uses ends the context") {
    Guest g;
    g.submit(create_ring(3'000'000));
    g.sync();
    REQUIRE(vn_proxy_context_destroy_resource(g.context(), ring_res) == VN_PROXY_OK);
    CHECK(lost(g.context()));
}

TEST_CASE("a decode error on a ring sets FATAL and the context is lost on its next submit") {
    Guest g;
    g.submit(create_ring(3'000'000));
    g.sync();
    g.ring_write(std::vector<std::byte>(16, std::byte{0xee}));
    const auto end = std::chrono::steady_clock::now() + 10s;
    while (!(g.word(status_off).load() & VK_RING_STATUS_FATAL_BIT_MESA) &&
           std::chrono::steady_clock::now() < end)
        std::this_thread::sleep_for(1ms);
    CHECK((g.word(status_off).load() & VK_RING_STATUS_FATAL_BIT_MESA) != 0);
    CHECK(lost(g.context()));
}
