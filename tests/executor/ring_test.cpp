// Venus rings on lavapipe: the test plays the guest, writing commands into a ring in a memfd it
// shares with the executor, publishing the tail and notifying the ring through the context path,
// exactly as Mesa's vn_ring.c does. The ring thread is real; so are its waits.
#include "device_objects.h"
#include "guest_context.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

using namespace vn;
using namespace vn::test_guest;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t ring_id = 0x7f00dead0000;

// Mesa's layout (vn_ring_get_layout) with a small buffer, so that tests wrap it quickly.
struct Layout {
    std::size_t offset = 0;
    std::size_t size = 8192;
    std::size_t head = 0, tail = 64, status = 128, buffer = 192, buffer_size = 4096;
    std::size_t extra = 192 + 4096, extra_size = 4;
};

std::vector<std::byte> create_ring(const Layout& l, std::uint64_t idle_ns,
                                   const void* chain = nullptr, std::uint32_t resource = 1) {
    VkRingCreateInfoMESA info{};
    info.sType = VK_STRUCTURE_TYPE_RING_CREATE_INFO_MESA;
    info.pNext = chain;
    info.resourceId = resource;
    info.offset = l.offset;
    info.size = l.size;
    info.idleTimeout = idle_ns;
    info.headOffset = l.head;
    info.tailOffset = l.tail;
    info.statusOffset = l.status;
    info.bufferOffset = l.buffer;
    info.bufferSize = l.buffer_size;
    info.extraOffset = l.extra;
    info.extraSize = l.extra_size;
    gen::CreateRingMESAArgs a;
    a.ring = ring_id;
    a.pCreateInfo = &info;
    return encode(a);
}

// The guest's side of one ring (vn_ring.c): it writes at its tail and publishes it.
struct GuestRing {
    std::byte* base;
    Layout l;
    std::uint32_t tail = 0;

    std::atomic_ref<std::uint32_t> word(std::size_t off) const {
        return std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(base + off));
    }
    std::uint32_t head() const { return word(l.head).load(std::memory_order_acquire); }
    std::uint32_t status() const { return word(l.status).load(std::memory_order_acquire); }

    // Writes `cmds` at the tail (wrapping), publishes the new tail; returns it (the seqno).
    std::uint32_t write(const std::vector<std::byte>& cmds) {
        REQUIRE(cmds.size() <= l.buffer_size);
        const std::size_t mask = l.buffer_size - 1;
        for (std::size_t i = 0; i < cmds.size(); ++i)
            base[l.buffer + ((tail + i) & mask)] = cmds[i];
        tail += static_cast<std::uint32_t>(cmds.size());
        word(l.tail).store(tail, std::memory_order_seq_cst);
        return tail;
    }

    bool wait_head(std::uint32_t seqno, std::chrono::milliseconds timeout = 5s) const {
        const auto end = std::chrono::steady_clock::now() + timeout;
        while (static_cast<std::int32_t>(head() - seqno) < 0) {
            if (std::chrono::steady_clock::now() > end)
                return false;
            std::this_thread::sleep_for(100us);
        }
        return true;
    }
    bool wait_status(std::uint32_t bit, std::chrono::milliseconds timeout = 5s) const {
        const auto end = std::chrono::steady_clock::now() + timeout;
        while (!(status() & bit)) {
            if (std::chrono::steady_clock::now() > end)
                return false;
            std::this_thread::sleep_for(100us);
        }
        return true;
    }
};

std::vector<std::byte> notify_ring() {
    gen::NotifyRingMESAArgs a;
    a.ring = ring_id;
    return encode(a);
}

std::vector<std::byte> wait_virtqueue(std::uint64_t seqno) {
    gen::WaitVirtqueueSeqnoMESAArgs a;
    a.seqno = seqno;
    return encode(a);
}

std::vector<std::byte> submit_virtqueue(std::uint64_t seqno) {
    gen::SubmitVirtqueueSeqnoMESAArgs a;
    a.ring = ring_id;
    a.seqno = seqno;
    return encode(a);
}

std::vector<std::byte> wait_ring(std::uint64_t seqno) {
    gen::WaitRingSeqnoMESAArgs a;
    a.ring = ring_id;
    a.seqno = seqno;
    return encode(a);
}

constexpr std::uint64_t busy = 1'000'000'000; // an idle timeout no test reaches

} // namespace

TEST_CASE("a ring runs guest commands across the wrap and replies through its own stream") {
    Context c;
    REQUIRE(c.submit(create_ring({}, busy)) == DecodeResult::Ok);
    CHECK(c.executor.resource_in_use(1));
    GuestRing g{c.shm.rings.data(), {}};
    CHECK(g.head() == 0);
    g.write(set_reply_stream(2, 0, 32 * 1024));
    // Each round replies at its own position; 600 rounds of ~40 bytes wrap the 4 KiB buffer
    // several times, with commands split across the end.
    const auto one = concat({seek_reply(0), version_request()});
    std::uint32_t seqno = 0;
    for (std::size_t i = 0; i < 600; ++i) {
        const auto cmds = concat({seek_reply((i % 512) * 64), version_request()});
        seqno = g.write(cmds);
        if (i % 50 == 49)
            REQUIRE(g.wait_head(seqno));
        // Never overrun the renderer: the guest waits for room (vn_ring_wait_space).
        while (seqno - g.head() > g.l.buffer_size - one.size())
            std::this_thread::sleep_for(50us);
    }
    REQUIRE(g.wait_head(seqno));
    CHECK(seqno > 2 * g.l.buffer_size);
    for (std::size_t i = 0; i < 512; ++i)
        CHECK(decode_version_reply(c.shm.replies.data() + i * 64, 64) >= VK_API_VERSION_1_1);
    CHECK_FALSE(c.is_fatal());
    CHECK(c.executor.resource_in_use(2));

    // The context path keeps its own reply stream: the test's writer.
    REQUIRE(c.submit(version_request()) == DecodeResult::Ok);
    CHECK(decode_version_reply(c.replies.data(), c.replies.size()) >= VK_API_VERSION_1_1);

    SECTION("destroying the ring joins its thread and frees its resources") {
        gen::DestroyRingMESAArgs d;
        d.ring = ring_id;
        REQUIRE(c.send(d) == DecodeResult::Ok);
        CHECK_FALSE(c.executor.resource_in_use(1));
        CHECK_FALSE(c.executor.resource_in_use(2));
        CHECK(c.submit(notify_ring()) == DecodeResult::Fatal);
        CHECK(c.reason().find("does not exist") != std::string::npos);
    }
    SECTION("the extra region takes atomic writes inside it only") {
        gen::WriteRingExtraMESAArgs w;
        w.ring = ring_id;
        w.offset = 0;
        w.value = 0xfeedf00d;
        REQUIRE(c.send(w) == DecodeResult::Ok);
        CHECK(g.word(g.l.extra).load() == 0xfeedf00d);
        w.offset = 4;
        CHECK(c.send(w) == DecodeResult::Fatal);
        CHECK(c.reason().find("outside the extra region") != std::string::npos);
    }
}

// The ring runs its commands in runs under one hold of the dispatch lock (Ring::execute): the
// context's counters must still see every command, and an object made and destroyed inside one
// run must still raise the peak.
TEST_CASE("a ring's counters see every command, and objects that live inside one run") {
    Context c;
    REQUIRE(c.submit(create_ring({}, busy)) == DecodeResult::Ok);
    GuestRing g{c.shm.rings.data(), {}};
    const std::uint64_t commands_before = c.executor.counters().commands.load();
    const std::uint64_t objects_before = c.executor.counters().objects.load();

    const InstanceRequest create;
    gen::DestroyInstanceArgs destroy;
    destroy.instance = protocol::Ref<VkInstance>{instance_id};

    // 76 commands in one write: more than one run, and the instance lives inside a run.
    std::vector<std::vector<std::byte>> parts{set_reply_stream(2, 0, 256)};
    const auto ask_version = [&] {
        parts.push_back(seek_reply(0));
        parts.push_back(version_request());
    };
    for (int i = 0; i < 18; ++i)
        ask_version();
    parts.push_back(encode(create.args));
    parts.push_back(encode(destroy));
    for (int i = 0; i < 19; ++i)
        ask_version();
    std::vector<std::byte> cmds;
    for (const auto& part : parts)
        cmds.insert(cmds.end(), part.begin(), part.end());
    const bool done = g.wait_head(g.write(cmds));
    INFO(c.reason());
    REQUIRE(done);
    CHECK_FALSE(c.is_fatal());

    CHECK(c.executor.counters().commands.load() == commands_before + parts.size());
    CHECK(c.executor.counters().objects.load() == objects_before);
    CHECK(c.executor.counters().objects_peak.load() > objects_before);
}

TEST_CASE("an idle ring sleeps until notified") {
    Context c;
    REQUIRE(c.submit(create_ring({}, 1'000'000)) == DecodeResult::Ok); // 1 ms
    GuestRing g{c.shm.rings.data(), {}};
    REQUIRE(g.wait_status(VK_RING_STATUS_IDLE_BIT_MESA));
    // IDLE is set just before the ring's last look at the tail: let it get to its sleep.
    std::this_thread::sleep_for(5ms);
    const std::uint32_t seqno = g.write(set_reply_stream(2, 0, 256));
    // Asleep on its condition variable: a tail store alone does not wake it.
    std::this_thread::sleep_for(50ms);
    CHECK(g.head() == 0);
    CHECK((g.status() & VK_RING_STATUS_IDLE_BIT_MESA) != 0);
    REQUIRE(c.submit(notify_ring()) == DecodeResult::Ok);
    CHECK(g.wait_head(seqno));
    // Idle again after the timeout, and woken again.
    REQUIRE(g.wait_status(VK_RING_STATUS_IDLE_BIT_MESA));
    const std::uint32_t again = g.write(version_request());
    REQUIRE(c.submit(notify_ring()) == DecodeResult::Ok);
    CHECK(g.wait_head(again));
    CHECK(decode_version_reply(c.shm.replies.data(), 256) >= VK_API_VERSION_1_1);
    CHECK_FALSE(c.is_fatal());
}

TEST_CASE("vkWaitVirtqueueSeqnoMESA holds the ring, not the context, until the seqno arrives") {
    Context c;
    REQUIRE(c.submit(create_ring({}, busy)) == DecodeResult::Ok);
    GuestRing g{c.shm.rings.data(), {}};
    const std::uint32_t seqno =
        g.write(concat({wait_virtqueue(5), set_reply_stream(2, 0, 256), version_request()}));
    std::this_thread::sleep_for(30ms);
    CHECK(g.head() == 0);
    // The context path runs while the ring waits: the dispatch lock is free.
    REQUIRE(c.submit(version_request()) == DecodeResult::Ok);
    REQUIRE(c.submit(submit_virtqueue(4)) == DecodeResult::Ok);
    std::this_thread::sleep_for(30ms);
    CHECK(g.head() == 0);
    REQUIRE(c.submit(submit_virtqueue(5)) == DecodeResult::Ok);
    CHECK(g.wait_head(seqno));
    CHECK(decode_version_reply(c.shm.replies.data(), 256) >= VK_API_VERSION_1_1);
    CHECK_FALSE(c.is_fatal());
}

TEST_CASE("vkWaitRingSeqnoMESA notifies the ring and blocks the context until head reaches it") {
    Context c;
    REQUIRE(c.submit(create_ring({}, 1'000'000)) == DecodeResult::Ok);
    GuestRing g{c.shm.rings.data(), {}};
    REQUIRE(g.wait_status(VK_RING_STATUS_IDLE_BIT_MESA));

    SECTION("an idle ring is woken by the wait itself") {
        const std::uint32_t seqno =
            g.write(concat({set_reply_stream(2, 0, 256), version_request()}));
        REQUIRE(c.submit(wait_ring(seqno)) == DecodeResult::Ok);
        CHECK(g.head() == seqno);
    }
    SECTION("a ring blocked on a virtqueue seqno holds the waiting context") {
        const std::uint32_t seqno =
            g.write(concat({wait_virtqueue(1), set_reply_stream(2, 0, 256), version_request()}));
        std::atomic<bool> done{false};
        DecodeResult result = DecodeResult::Fatal;
        std::thread waiter([&] {
            result = c.submit(wait_ring(seqno));
            done = true;
        });
        std::this_thread::sleep_for(50ms);
        CHECK_FALSE(done);
        // Another context-path submit gets through while the first waits.
        REQUIRE(c.submit(concat({version_request(), submit_virtqueue(1)})) == DecodeResult::Ok);
        waiter.join();
        CHECK(result == DecodeResult::Ok);
        CHECK(g.head() == seqno);
    }
    SECTION("a seqno the ring's tail can never reach is fatal") {
        const std::uint32_t seqno = g.write(set_reply_stream(2, 0, 256));
        CHECK(c.submit(wait_ring(seqno + 64)) == DecodeResult::Fatal);
        CHECK(c.reason().find("beyond the ring's tail") != std::string::npos);
        CHECK(g.wait_status(VK_RING_STATUS_FATAL_BIT_MESA));
    }
}

TEST_CASE("ring layout violations are fatal") {
    Context c;
    Layout l;
    std::string expect;
    std::uint32_t resource = 1;
    const int which = GENERATE(range(0, 12));
    switch (which) {
    case 0: // past the end of the resource
        l.offset = 64 * 1024 - 4096;
        expect = "lies outside resource";
        break;
    case 1:
        l.tail = 0;
        expect = "head overlaps tail";
        break;
    case 2:
        l.extra = l.buffer + 64;
        expect = "buffer overlaps extra";
        break;
    case 3:
        l.status = 130;
        expect = "not 4-byte aligned";
        break;
    case 4:
        l.buffer_size = 3000;
        expect = "not a power of two";
        break;
    case 5:
        l.buffer_size = 32u << 20;
        expect = "not a power of two of at most 16 MiB";
        break;
    case 6:
        l.extra = l.size;
        expect = "extra [8192, +4) lies outside";
        break;
    case 7:
        std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(c.shm.rings.data()))
            .store(5);
        expect = "head or status is not 0";
        break;
    case 8:
        std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(c.shm.rings.data() + 128))
            .store(1);
        expect = "head or status is not 0";
        break;
    case 9:
        resource = 9;
        expect = "is not a shared-memory resource";
        break;
    case 10:
        l.offset = 2;
        expect = "unaligned offset";
        break;
    case 11:
        l.buffer_size = 0;
        expect = "not a power of two";
        break;
    }
    CHECK(c.submit(create_ring(l, busy, nullptr, resource)) == DecodeResult::Fatal);
    INFO(c.reason());
    CHECK(c.reason().find(expect) != std::string::npos);
    CHECK_FALSE(c.executor.resource_in_use(1));
}

TEST_CASE("a monitor period of 0 is fatal and a monitored ring reports itself alive") {
    Context c;
    VkRingMonitorInfoMESA monitor{};
    monitor.sType = VK_STRUCTURE_TYPE_RING_MONITOR_INFO_MESA;
    SECTION("period 0") {
        CHECK(c.submit(create_ring({}, busy, &monitor)) == DecodeResult::Fatal);
        CHECK(c.reason().find("monitor period of 0") != std::string::npos);
    }
    SECTION("ALIVE comes back after the guest clears it") {
        monitor.maxReportingPeriodMicroseconds = 2000;
        REQUIRE(c.submit(create_ring({}, busy, &monitor)) == DecodeResult::Ok);
        GuestRing g{c.shm.rings.data(), {}};
        REQUIRE(g.wait_status(VK_RING_STATUS_ALIVE_BIT_MESA));
        for (int i = 0; i < 3; ++i) {
            g.word(g.l.status).fetch_and(~std::uint32_t{VK_RING_STATUS_ALIVE_BIT_MESA});
            CHECK(g.wait_status(VK_RING_STATUS_ALIVE_BIT_MESA, 1s));
        }
    }
}

TEST_CASE("ring thread errors set FATAL and make the context fatal") {
    Context c;
    REQUIRE(c.submit(create_ring({}, busy)) == DecodeResult::Ok);
    GuestRing g{c.shm.rings.data(), {}};
    std::string expect;
    SECTION("a tail more than the buffer size ahead") {
        g.word(g.l.tail).store(4097);
        expect = "more than the buffer size ahead";
    }
    SECTION("a context-only command on the ring") {
        g.write(notify_ring());
        expect = "vkNotifyRingMESA is not allowed on a ring";
    }
    SECTION("vkCreateRingMESA on the ring") {
        g.write(create_ring({}, busy));
        expect = "vkCreateRingMESA is not allowed on a ring";
    }
    SECTION("a malformed command") {
        g.write(std::vector<std::byte>(8, std::byte{0xff}));
        expect = ""; // the decoder's own reason
    }
    REQUIRE(g.wait_status(VK_RING_STATUS_FATAL_BIT_MESA));
    INFO(c.reason());
    CHECK(c.reason().find(expect) != std::string::npos);
    CHECK(c.is_fatal());
    // Once fatal, nothing decodes on any path.
    CHECK(c.submit(version_request()) == DecodeResult::Fatal);
}

TEST_CASE("ring-only commands on the context path are fatal") {
    Context c;
    CHECK(c.submit(wait_virtqueue(1)) == DecodeResult::Fatal);
    CHECK(c.reason().find("only allowed on a ring") != std::string::npos);
}

TEST_CASE("ring commands naming no ring are fatal") {
    Context c;
    const auto cmd = GENERATE(notify_ring(), submit_virtqueue(1), wait_ring(1));
    CHECK(c.submit(cmd) == DecodeResult::Fatal);
    CHECK(c.reason().find("does not exist") != std::string::npos);
}

TEST_CASE("a fence on a queue timeline retires only once the queue's GPU work has completed") {
    Context c;
    const auto queue = device_with_queue_on(c, 3);
    const protocol::Ref<VkDevice> dev{device_id, id<VkDevice>(device_id)};

    // GPU work that cannot complete before the host signals a timeline semaphore.
    const VkSemaphore sem = create_timeline_semaphore(c, dev, semaphore_id);

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
    qs.queue = queue;
    qs.submitCount = 1;
    qs.pSubmits = &si;
    REQUIRE(c.send(qs) == DecodeResult::Ok);

    std::atomic<int> retired{0};
    std::string error;
    {
        std::lock_guard lock(c.executor.dispatch_mutex());
        REQUIRE(c.executor.submit_fence(
            3, [&] { ++retired; }, error));
        CHECK_FALSE(c.executor.submit_fence(
            4, [] {}, error));
        CHECK(error.find("no queue is bound to ring_idx 4") != std::string::npos);
    }
    std::this_thread::sleep_for(100ms);
    CHECK(retired == 0);

    (void)signal_semaphore(c, dev, sem, 1);
    const auto end = std::chrono::steady_clock::now() + 5s;
    while (retired == 0 && std::chrono::steady_clock::now() < end)
        std::this_thread::sleep_for(1ms);
    CHECK(retired == 1);
}

namespace {

// The nice values of this process's threads named `name` (/proc/self/task/*/stat field 19).
std::vector<int> thread_nice_values(const std::string& name) {
    std::vector<int> out;
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
        std::ifstream comm(task.path() / "comm");
        std::string n;
        std::getline(comm, n);
        if (n != name)
            continue;
        std::ifstream stat(task.path() / "stat");
        std::string line;
        std::getline(stat, line);
        // Fields after the parenthesised name: state is field 3, nice field 19.
        std::istringstream rest(line.substr(line.rfind(')') + 2));
        std::string field;
        for (int i = 3; i <= 19 && rest >> field; ++i) {
        }
        out.push_back(std::stoi(field));
    }
    return out;
}

} // namespace

TEST_CASE("a ring's priority is its thread's nice value") {
    Context c;
    VkRingPriorityInfoMESA priority{};
    priority.sType = VK_STRUCTURE_TYPE_RING_PRIORITY_INFO_MESA;
    priority.priority = 7; // lowering priority needs no privilege
    REQUIRE(c.submit(create_ring({}, busy, &priority)) == DecodeResult::Ok);
    const auto end = std::chrono::steady_clock::now() + 5s;
    std::vector<int> nice;
    while ((nice = thread_nice_values("vn-ring")).empty() && std::chrono::steady_clock::now() < end)
        std::this_thread::sleep_for(1ms);
    REQUIRE(nice.size() == 1);
    while (nice[0] != 7 && std::chrono::steady_clock::now() < end) {
        std::this_thread::sleep_for(1ms);
        nice = thread_nice_values("vn-ring");
    }
    CHECK(nice[0] == 7);
}

TEST_CASE("the context's reply stream keeps its resource in use until it moves") {
    Context c;
    CHECK_FALSE(c.executor.resource_in_use(2));
    REQUIRE(c.submit(set_reply_stream(2, 0, 256)) == DecodeResult::Ok);
    CHECK(c.executor.resource_in_use(2));
    CHECK_FALSE(c.executor.resource_in_use(1));
    REQUIRE(c.submit(set_reply_stream(1, 0, 256)) == DecodeResult::Ok);
    CHECK_FALSE(c.executor.resource_in_use(2));
    CHECK(c.executor.resource_in_use(1));
}

namespace {

// Sets an environment variable for as long as it lives (the executor reads its choices from the
// environment when it is constructed).
struct ScopedEnv {
    std::string name;
    ScopedEnv(std::string n, const char* value) : name(std::move(n)) {
        ::setenv(name.c_str(), value, 1);
    }
    ~ScopedEnv() { ::unsetenv(name.c_str()); }
};

} // namespace

// The driver calls of recorded commands from a ring may run on a thread of their own
// (call_queue.h). Whichever way they run, the driver must see them in the guest's order, and no
// other command (from the ring or from the context path) may reach the driver before them.
TEST_CASE("recorded commands reach the driver in the guest's order, before any later command") {
    const std::string mode = GENERATE("thread", "inline");
    // Mesa's driver sends a command buffer's recording as streams the ring executes
    // (vkExecuteCommandStreamsMESA); other guests put the commands in the ring itself.
    const std::string delivery = GENERATE("ring", "stream");
    INFO("VENUS_RECORDED_CALLS=" << mode << ", commands in the " << delivery);
    const auto context = [&] {
        const ScopedEnv env("VENUS_RECORDED_CALLS", mode.c_str());
        return std::make_unique<Context>();
    }();
    Context& c = *context;
    const auto dev = create_device(c);
    const auto queue = get_queue(c, dev);
    constexpr std::uint64_t buffer_id = 0x7f0000018000, memory_id = 0x7f0000019000,
                            pool_id = 0x7f000001a000, cb_id = 0x7f000001b000;
    constexpr std::uint32_t slots = 8;
    const auto b =
        create_bound_buffer(c, dev, buffer_id, memory_id, 4096, VK_BUFFER_USAGE_TRANSFER_DST_BIT);
    const auto cb = allocate_command_buffer(c, dev, pool_id, cb_id);

    REQUIRE(c.submit(create_ring({}, busy)) == DecodeResult::Ok);
    GuestRing g{c.shm.rings.data(), {}};
    auto write = [&](const std::vector<std::byte>& cmds) {
        // Never overrun the renderer: the guest waits for room (vn_ring_wait_space).
        while (g.tail + cmds.size() - g.head() > g.l.buffer_size)
            std::this_thread::sleep_for(20us);
        return g.write(cmds);
    };
    // Stream delivery: recorded commands gather here, then run from resource 2 through the ring.
    // The guest reuses the stream's memory once the ring has moved past the command.
    std::vector<std::byte> stream;
    auto execute_stream = [&] {
        if (stream.empty())
            return;
        REQUIRE(stream.size() <= c.shm.replies.size());
        std::memcpy(c.shm.replies.data(), stream.data(), stream.size());
        VkCommandStreamDescriptionMESA desc{2, 0, stream.size()};
        gen::ExecuteCommandStreamsMESAArgs ex;
        ex.streamCount = 1;
        ex.pStreams = &desc;
        REQUIRE(g.wait_head(write(encode(ex))));
        stream.clear();
    };
    auto record = [&](const std::vector<std::byte>& cmds) {
        if (delivery == "ring") {
            write(cmds);
            return;
        }
        stream.insert(stream.end(), cmds.begin(), cmds.end());
        if (stream.size() > 4096)
            execute_stream();
    };

    VkCommandBufferBeginInfo bi{};
    bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    gen::BeginCommandBufferArgs begin;
    begin.commandBuffer = cb;
    begin.pBeginInfo = &bi;
    VkMemoryBarrier transfer{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr,
                             VK_ACCESS_TRANSFER_WRITE_BIT,
                             VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT};
    gen::CmdPipelineBarrierArgs barrier;
    barrier.commandBuffer = cb;
    barrier.srcStageMask = VK_PIPELINE_STAGE_TRANSFER_BIT;
    barrier.dstStageMask = VK_PIPELINE_STAGE_TRANSFER_BIT;
    barrier.memoryBarrierCount = 1;
    barrier.pMemoryBarriers = &transfer;
    gen::EndCommandBufferArgs end;
    end.commandBuffer = cb;
    VkSubmitInfo si{};
    si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cb.handle;
    gen::QueueSubmitArgs qs;
    qs.queue = queue;
    qs.submitCount = 1;
    qs.pSubmits = &si;
    gen::QueueWaitIdleArgs idle;
    idle.queue = queue;

    // Three recordings, each many times the ring's size: every word is written over and over,
    // and only the last write of each may survive. The first two are submitted from the ring
    // itself, the last from the context path once the ring has moved past its end.
    for (std::uint32_t round = 0; round < 3; ++round) {
        write(encode(begin));
        std::uint32_t last[slots] = {};
        for (std::uint32_t i = 1; i <= 400; ++i) {
            const std::uint32_t value = round * 1000 + i;
            const std::uint32_t slot = i % slots;
            gen::CmdUpdateBufferArgs update;
            update.commandBuffer = cb;
            update.dstBuffer = b.buffer;
            update.dstOffset = slot * 4;
            update.dataSize = 4;
            update.pData = &value;
            record(concat({encode(barrier), encode(update)}));
            gen::CmdFillBufferArgs fill;
            fill.commandBuffer = cb;
            fill.dstBuffer = b.buffer;
            fill.dstOffset = (slots + slot) * 4;
            fill.size = 4;
            fill.data = value + 7;
            record(concat({encode(barrier), encode(fill)}));
            last[slot] = value;
        }
        execute_stream();
        const std::uint32_t seqno = write(encode(end));
        if (round < 2) {
            REQUIRE(g.wait_head(write(concat({encode(qs), encode(idle)}))));
        } else {
            REQUIRE(g.wait_head(seqno));
            REQUIRE(c.send(qs) == DecodeResult::Ok);
            REQUIRE(c.send(idle) == DecodeResult::Ok);
        }
        REQUIRE_FALSE(c.is_fatal());
        const auto words = read_memory(c, memory_id, 2 * slots);
        for (std::uint32_t s = 0; s < slots; ++s) {
            CHECK(words[s] == last[s]);
            CHECK(words[slots + s] == last[s] + 7);
        }
    }
    CHECK(thread_nice_values("vn-driver").size() == (mode == "thread" ? 1u : 0u));
}
