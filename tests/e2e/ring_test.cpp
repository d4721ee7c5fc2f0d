// The guest side of Venus rings (vn::client::Ring) against both renderers that run them: ours and
// virglrenderer 0.10.4.
#include "backends.h"
#include "vn/client/ring.h"
#include "vn/scenarios/device_setup.h"
#include "vn/scenarios/synchronization.h"

#include <thread>

using namespace vn;
using scenarios::ref;

namespace {

std::uint32_t version_through(client::Ring& ring) {
    std::uint32_t version = 0;
    gen::EnumerateInstanceVersionArgs ev;
    ev.pApiVersion = &version;
    gen::EnumerateInstanceVersionArgs reply;
    REQUIRE(ring.call(ev, reply) == client::Status::Ok);
    REQUIRE(reply.ret == VK_SUCCESS);
    return *reply.pApiVersion;
}

void calls_through_a_ring(const test::Backend& backend) {
    client::ProxyTransport transport(test::spawn(backend));
    client::Guest guest(transport);
    client::Ring ring(guest);
    CHECK(ring.head() == 0);
    CHECK(version_through(ring) >= VK_API_VERSION_1_1);
    // The renderer consumed exactly what we wrote.
    CHECK(ring.head() == ring.tail());
    CHECK(ring.tail() > 0);
    CHECK_FALSE(ring.fatal());

    // Objects created through the ring are the context's: the context path sees them.
    VkApplicationInfo app{};
    app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
    app.apiVersion = VK_API_VERSION_1_2;
    VkInstanceCreateInfo info{};
    info.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
    info.pApplicationInfo = &app;
    const std::uint64_t instance_id = guest.new_id();
    VkInstance instance = scenarios::handle<VkInstance>(instance_id);
    gen::CreateInstanceArgs ci;
    ci.pCreateInfo = &info;
    ci.pInstance = &instance;
    gen::CreateInstanceArgs ci_reply;
    REQUIRE(ring.call(ci, ci_reply) == client::Status::Ok);
    REQUIRE(ci_reply.ret == VK_SUCCESS);
    const auto pds =
        scenarios::enumerate_physical_devices(guest, scenarios::Instance{instance_id, 0});
    CHECK(pds.size() >= 1);
}

void ring_wraps(const test::Backend& backend) {
    client::ProxyTransport transport(test::spawn(backend));
    client::Guest guest(transport);
    client::RingOptions options;
    options.buffer_size = 4096;
    client::Ring ring(guest, options);
    // Uneven command sizes (a fire-and-forget command of 16 bytes and a call of about 60) so
    // that commands straddle the end of the buffer; many times round.
    std::uint32_t version = 0;
    gen::EnumerateInstanceVersionArgs ev;
    ev.pApiVersion = &version;
    for (int i = 0; i < 2000; ++i) {
        REQUIRE(ring.send(ev) == client::Status::Ok);
        if (i % 7 == 0)
            REQUIRE(version_through(ring) >= VK_API_VERSION_1_1);
    }
    std::uint32_t seqno = 0;
    std::vector<std::byte> nothing;
    REQUIRE(ring.submit(nothing, seqno) == client::Status::Ok);
    REQUIRE(ring.wait(seqno, 10000) == client::Status::Ok);
    CHECK(ring.tail() > 4 * options.buffer_size);
    CHECK(ring.head() == ring.tail());
    CHECK_FALSE(guest.transport().is_lost());
}

void idle_ring_is_notified(const test::Backend& backend) {
    client::ProxyTransport transport(test::spawn(backend));
    client::Guest guest(transport);
    client::RingOptions options;
    options.idle_timeout_ns = 1'000'000; // 1 ms
    client::Ring ring(guest, options);
    CHECK(version_through(ring) >= VK_API_VERSION_1_1);
    // Left alone, the renderer's ring thread marks the ring idle and goes to sleep.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!(ring.status() & VK_RING_STATUS_IDLE_BIT_MESA) &&
           std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    REQUIRE((ring.status() & VK_RING_STATUS_IDLE_BIT_MESA) != 0);
    const std::uint32_t before = ring.notify_count();
    // Only vkNotifyRingMESA wakes it: the call would time out without it.
    CHECK(version_through(ring) >= VK_API_VERSION_1_1);
    CHECK(ring.notify_count() == before + 1);
}

void bad_command_in_a_ring_loses_the_context(const test::Backend& backend) {
    const auto server = test::spawn(backend);
    client::ProxyTransport transport(server);
    client::Guest guest(transport);
    client::Ring ring(guest);
    CHECK(version_through(ring) >= VK_API_VERSION_1_1);
    std::uint32_t count = 0;
    gen::EnumeratePhysicalDevicesArgs ep;
    ep.instance = ref<VkInstance>(0x9999000); // never created
    ep.pPhysicalDeviceCount = &count;
    std::uint32_t seqno = 0;
    std::vector<std::byte> stream;
    protocol::Writer w(stream);
    gen::encode_args(w, 0, ep);
    REQUIRE(ring.submit(stream, seqno) == client::Status::Ok);
    // 1.x renderers set FATAL and stop the ring; 0.10.x advance head and poison the context.
    const client::Status waited = ring.wait(seqno, 10000);
    CHECK((waited == client::Status::Ok || waited == client::Status::Lost));
    if (backend.layout == VN_PROXY_LAYOUT_V1) {
        CHECK(waited == client::Status::Lost);
        CHECK(ring.fatal());
    }
    std::uint32_t version = 0;
    gen::EnumerateInstanceVersionArgs ev;
    ev.pApiVersion = &version;
    gen::EnumerateInstanceVersionArgs reply;
    CHECK(guest.call(ev, reply) == client::Status::Lost);
    CHECK(transport.is_lost());
    // Another context on the server is unaffected.
    client::ProxyTransport other(server);
    client::Guest other_guest(other);
    client::Ring other_ring(other_guest);
    CHECK(version_through(other_ring) >= VK_API_VERSION_1_1);
}

// What only 1.x renderers have: waits done by the renderer, and the ALIVE watchdog.
[[maybe_unused]] void renderer_waits_for_a_seqno(const test::Backend& backend) {
    client::ProxyTransport transport(test::spawn(backend));
    client::Guest guest(transport);
    client::Ring ring(guest);
    std::uint32_t version = 0;
    gen::EnumerateInstanceVersionArgs ev;
    ev.pApiVersion = &version;
    std::vector<std::byte> stream;
    protocol::Writer w(stream);
    for (int i = 0; i < 64; ++i)
        gen::encode_args(w, 0, ev);
    std::uint32_t seqno = 0;
    REQUIRE(ring.submit(stream, seqno) == client::Status::Ok);
    // No polling on our side: the context waits until the ring thread got there.
    REQUIRE(ring.wait_on_renderer(seqno) == client::Status::Ok);
    CHECK(ring.head() == seqno);
    CHECK_FALSE(transport.is_lost());
}

[[maybe_unused]] void monitored_ring_reports_alive(const test::Backend& backend) {
    client::ProxyTransport transport(test::spawn(backend));
    client::Guest guest(transport);
    client::RingOptions options;
    options.monitor_period_us = 1000;
    client::Ring ring(guest, options);
    CHECK(version_through(ring) >= VK_API_VERSION_1_1);
    // Cleared, then set again within a few periods, over and over.
    for (int round = 0; round < 3; ++round) {
        (void)ring.take_alive();
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        bool alive = false;
        while (!alive && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
            alive = ring.take_alive();
        }
        CHECK(alive);
    }
}

// A virtqueue-seqno wait in a ring holds it until the context path submits that seqno, and a
// fence on a queue's timeline retires only once the GPU work submitted through the ring is done.
void ring_orders_with_the_context_and_the_gpu(const test::Backend& backend) {
    client::ProxyTransport transport(test::spawn(backend));
    client::Guest guest(transport);
    client::Ring ring(guest);
    const scenarios::Device device = scenarios::create_device(guest);
    REQUIRE(device.queue_ring_idx != 0);

    std::uint32_t version = 0;
    gen::EnumerateInstanceVersionArgs ev;
    ev.pApiVersion = &version;
    gen::WaitVirtqueueSeqnoMESAArgs wv;
    wv.seqno = 7;
    std::vector<std::byte> stream;
    protocol::Writer w(stream);
    gen::encode_args(w, 0, wv);
    guest.encode_call(w, ev);
    std::uint32_t after_wait = 0;
    REQUIRE(ring.submit(stream, after_wait) == client::Status::Ok);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(ring.head() != after_wait);
    gen::SubmitVirtqueueSeqnoMESAArgs sv;
    sv.ring = ring.id();
    sv.seqno = 7;
    REQUIRE(guest.send(sv) == client::Status::Ok);
    REQUIRE(ring.wait(after_wait, 10000) == client::Status::Ok);
    gen::EnumerateInstanceVersionArgs reply;
    REQUIRE(guest.read_reply(ev, reply) == client::Status::Ok);
    CHECK(*reply.pApiVersion >= VK_API_VERSION_1_1);

    // GPU work on the bound queue that cannot finish before the semaphore reaches 1.
    const std::uint64_t sem = scenarios::create_timeline_semaphore(guest, device, 0);
    VkSemaphore sem_handle = scenarios::handle<VkSemaphore>(sem);
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
    si.pWaitSemaphores = &sem_handle;
    si.pWaitDstStageMask = &stage;
    gen::QueueSubmitArgs qs;
    qs.queue = ref<VkQueue>(device.queue);
    qs.submitCount = 1;
    qs.pSubmits = &si;
    REQUIRE(ring.send(qs) == client::Status::Ok);
    REQUIRE(ring.wait_on_renderer(ring.tail()) == client::Status::Ok);

    std::uint32_t fence = 0;
    REQUIRE(transport.submit_fence(device.queue_ring_idx, fence) == client::Status::Ok);
    // The GPU work is still blocked, and the context is fine.
    CHECK(transport.wait_fence(device.queue_ring_idx, fence, 200) == client::Status::Timeout);
    CHECK_FALSE(transport.is_lost());

    VkSemaphoreSignalInfo signal{};
    signal.sType = VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO;
    signal.semaphore = sem_handle;
    signal.value = 1;
    gen::SignalSemaphoreArgs ss;
    ss.device = device.ref();
    ss.pSignalInfo = &signal;
    REQUIRE(ring.send(ss) == client::Status::Ok);
    CHECK(transport.wait_fence(device.queue_ring_idx, fence, 10000) == client::Status::Ok);
    CHECK_FALSE(transport.is_lost());
    CHECK_FALSE(ring.fatal());
    scenarios::destroy_device(guest, device);
}

void destroying_the_ring_resource_loses_the_context(const test::Backend& backend) {
    client::ProxyTransport transport(test::spawn(backend));
    client::Guest guest(transport);
    client::Ring ring(guest);
    CHECK(version_through(ring) >= VK_API_VERSION_1_1);
    REQUIRE(transport.destroy_resource(ring.res_id()) == client::Status::Ok);
    CHECK(guest.wait_timeline(0, 10000) == client::Status::Lost);
}

// Bytes that are no command at all (an undecodable stream, unlike a bad handle).
void undecodable_ring_sets_fatal(const test::Backend& backend) {
    client::ProxyTransport transport(test::spawn(backend));
    client::Guest guest(transport);
    client::Ring ring(guest);
    const std::vector<std::byte> garbage(16, std::byte{0xee});
    std::uint32_t seqno = 0;
    REQUIRE(ring.submit(garbage, seqno) == client::Status::Ok);
    CHECK(ring.wait(seqno, 10000) == client::Status::Lost);
    CHECK(ring.fatal());
    CHECK(guest.wait_timeline(0, 10000) == client::Status::Lost);
}

// A context made fatal elsewhere (the context path) shows FATAL on every ring at once, idle ones
// included: the guest must not learn it only when the ring's ALIVE bit expires.
void context_fatal_sets_fatal_on_idle_rings(const test::Backend& backend) {
    client::ProxyTransport transport(test::spawn(backend));
    client::Guest guest(transport);
    client::Ring first(guest);
    client::Ring second(guest);
    CHECK(version_through(first) >= VK_API_VERSION_1_1);
    CHECK_FALSE(first.fatal());
    CHECK_FALSE(second.fatal());
    const std::vector<std::byte> garbage(16, std::byte{0xee});
    (void)guest.submit(garbage);
    bool both = false;
    for (int i = 0; i < 2000 && !both; ++i) {
        both = first.fatal() && second.fatal();
        if (!both)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    CHECK(first.fatal());
    CHECK(second.fatal());
}

} // namespace

TEST_CASE("ring: a context fatal on the context path sets FATAL on every ring [ours]",
          "[ring][ours]") {
    context_fatal_sets_fatal_on_idle_rings(vn::test::ours());
}
TEST_CASE("ring: the renderer waits for a seqno itself [ours]", "[ring][ours]") {
    renderer_waits_for_a_seqno(vn::test::ours());
}
TEST_CASE("ring: a monitored ring reports ALIVE [ours]", "[ring][ours]") {
    monitored_ring_reports_alive(vn::test::ours());
}
TEST_CASE("ring: ordered with the context path and a queue-timeline fence waits for the GPU [ours]",
          "[ring][ours]") {
    ring_orders_with_the_context_and_the_gpu(vn::test::ours());
}
TEST_CASE("ring: destroying the ring's resource ends the context [ours]", "[ring][ours]") {
    destroying_the_ring_resource_loses_the_context(vn::test::ours());
}
TEST_CASE("ring: an undecodable ring sets FATAL and the context is lost [ours]", "[ring][ours]") {
    undecodable_ring_sets_fatal(vn::test::ours());
}

#define RING_TEST(name, fn) E2E_BOTH(name, "[ring]", fn)

RING_TEST("ring: calls go through the ring and head follows tail", calls_through_a_ring)
RING_TEST("ring: commands wrap around a small buffer", ring_wraps)
RING_TEST("ring: an idle renderer is woken by vkNotifyRingMESA", idle_ring_is_notified)
RING_TEST("ring: a bad command in a ring loses only its context",
          bad_command_in_a_ring_loses_the_context)
