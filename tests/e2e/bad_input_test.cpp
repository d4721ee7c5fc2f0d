// A guest that sends what no correct driver sends: its context is lost (and the client library
// reports it as lost, whether the renderer's worker exits, as ours does, or refuses every later
// stream, as virglrenderer 0.10.4 does), while the server and another context on it carry on.
#include "backends.h"
#include "vn/client/guest.h"
#include "vn/scenarios/device_setup.h"

#include <csignal>
#include <sys/types.h>

using namespace vn;
using scenarios::handle;
using scenarios::ref;

namespace {

// A well-behaved neighbour on the same server, set up before the bad guest misbehaves.
struct Bystander {
    explicit Bystander(const std::shared_ptr<client::ProxyServer>& server)
        : transport(server), guest(transport), device(scenarios::create_device(guest)) {}
    client::ProxyTransport transport;
    client::Guest guest;
    scenarios::Device device;

    void still_works() {
        CHECK_FALSE(transport.is_lost());
        auto buffer =
            scenarios::create_host_buffer(guest, device, 4096, VK_BUFFER_USAGE_TRANSFER_DST_BIT);
        const auto fence = scenarios::create_fence(guest, device);
        scenarios::submit(guest, device, {}, fence);
        scenarios::wait_fence(guest, device, fence);
        scenarios::destroy_host_buffer(guest, device, buffer);
        CHECK(guest.sync() == client::Status::Ok);
    }
};

// Sends `bad` (after `setup`) from a fresh context next to a bystander; the bad context must be
// lost and everything else unaffected.
template <typename Setup, typename Bad>
void misbehave(const test::Backend& backend, Setup setup, Bad bad) {
    const auto server = test::spawn(backend);
    Bystander bystander(server);
    {
        client::ProxyTransport transport(server, "bad-guest");
        client::Guest guest(transport);
        auto state = setup(guest);
        REQUIRE(guest.sync() == client::Status::Ok);
        REQUIRE_FALSE(transport.is_lost());
        const client::Status sent = bad(guest, state);
        // Either the submission itself is refused or the fence after it never retires.
        const client::Status synced = sent == client::Status::Ok ? guest.sync() : sent;
        INFO(guest.last_error());
        CHECK(synced == client::Status::Lost);
        CHECK(transport.is_lost());
        // A lost context stays lost: nothing more gets through.
        std::uint32_t version = 0;
        gen::EnumerateInstanceVersionArgs ev;
        ev.pApiVersion = &version;
        gen::EnumerateInstanceVersionArgs reply;
        CHECK(guest.call(ev, reply) == client::Status::Lost);
    }
    CHECK(::kill(server->pid(), 0) == 0);
    bystander.still_works();
    // And the server still makes new contexts.
    client::ProxyTransport fresh(server);
    client::Guest guest(fresh);
    CHECK(scenarios::enumerate_instance_version(guest) >= VK_API_VERSION_1_1);
}

int no_setup(client::Guest&) {
    return 0;
}

void unknown_object_id(const test::Backend& backend) {
    misbehave(backend, no_setup, [](client::Guest& g, int) {
        std::uint32_t count = 0;
        gen::EnumeratePhysicalDevicesArgs ep;
        ep.instance = ref<VkInstance>(0x9999000); // never created
        ep.pPhysicalDeviceCount = &count;
        return g.send(ep);
    });
}

struct WithBuffer {
    scenarios::Device device;
    std::uint64_t buffer = 0;
};

WithBuffer device_and_buffer(client::Guest& g) {
    WithBuffer s{scenarios::create_device(g), g.new_id()};
    VkBufferCreateInfo bci{};
    bci.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
    bci.size = 4096;
    bci.usage = VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    VkBuffer buffer = handle<VkBuffer>(s.buffer);
    gen::CreateBufferArgs cb;
    cb.device = s.device.ref();
    cb.pCreateInfo = &bci;
    cb.pBuffer = &buffer;
    scenarios::expect_success(scenarios::call(g, cb).ret, "vkCreateBuffer");
    return s;
}

void destroy_twice(const test::Backend& backend) {
    misbehave(backend, device_and_buffer, [](client::Guest& g, WithBuffer& s) {
        gen::DestroyBufferArgs db;
        db.device = s.device.ref();
        db.buffer = ref<VkBuffer>(s.buffer);
        if (const auto r = g.send(db); r != client::Status::Ok)
            return r;
        if (const auto r = g.sync(); r != client::Status::Ok)
            return r; // the first destroy is fine
        return g.send(db);
    });
}

void reply_stream_outside_its_resource(const test::Backend& backend) {
    misbehave(backend, no_setup, [](client::Guest& g, int) {
        // A shmem of 4 KiB, and a reply stream that starts past its end.
        client::MappedBlob shmem;
        if (const auto r = g.map_blob(0, 4096, shmem); r != client::Status::Ok)
            return r;
        VkCommandStreamDescriptionMESA desc{shmem.res_id(), 8192, 4096};
        gen::SetReplyCommandStreamMESAArgs set;
        set.pStream = &desc;
        if (const auto r = g.send(set); r != client::Status::Ok)
            return r;
        // Something that replies, so the stream is used even by renderers that check late.
        std::uint32_t version = 0;
        gen::EnumerateInstanceVersionArgs ev;
        ev.pApiVersion = &version;
        std::vector<std::byte> stream;
        protocol::Writer w(stream);
        gen::encode_args(w, VK_COMMAND_GENERATE_REPLY_BIT_EXT, ev);
        const auto r = g.submit(stream);
        shmem = {};
        return r;
    });
}

void bind_outside_memory(const test::Backend& backend) {
    struct State {
        WithBuffer b;
        std::uint64_t memory = 0;
    };
    misbehave(
        backend,
        [](client::Guest& g) {
            State s{device_and_buffer(g), g.new_id()};
            VkMemoryAllocateInfo ai{};
            ai.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
            ai.allocationSize = 4096;
            ai.memoryTypeIndex = 0;
            VkDeviceMemory memory = handle<VkDeviceMemory>(s.memory);
            gen::AllocateMemoryArgs am;
            am.device = s.b.device.ref();
            am.pAllocateInfo = &ai;
            am.pMemory = &memory;
            scenarios::expect_success(scenarios::call(g, am).ret, "vkAllocateMemory");
            return s;
        },
        [](client::Guest& g, State& s) {
            VkBindBufferMemoryInfo bind{};
            bind.sType = VK_STRUCTURE_TYPE_BIND_BUFFER_MEMORY_INFO;
            bind.buffer = handle<VkBuffer>(s.b.buffer);
            bind.memory = handle<VkDeviceMemory>(s.memory);
            bind.memoryOffset = 1u << 20; // far past the 4 KiB allocation
            gen::BindBufferMemory2Args bm;
            bm.device = s.b.device.ref();
            bm.bindInfoCount = 1;
            bm.pBindInfos = &bind;
            return g.send(bm);
        });
}

// Mesa's ring layout in a 4 KiB shmem, with one region moved: each must end the context before
// any ring thread starts.
void ring_layout(const test::Backend& backend, void (*spoil)(VkRingCreateInfoMESA&)) {
    misbehave(backend, no_setup, [spoil](client::Guest& g, int) {
        client::MappedBlob shmem;
        if (const auto r = g.map_blob(0, 4096, shmem); r != client::Status::Ok)
            return r;
        VkRingCreateInfoMESA info{};
        info.sType = VK_STRUCTURE_TYPE_RING_CREATE_INFO_MESA;
        info.resourceId = shmem.res_id();
        info.size = 4096;
        info.idleTimeout = 5'000'000;
        info.headOffset = 0;
        info.tailOffset = 64;
        info.statusOffset = 128;
        info.bufferOffset = 192;
        info.bufferSize = 2048;
        info.extraOffset = 192 + 2048;
        info.extraSize = 4;
        spoil(info);
        gen::CreateRingMESAArgs create;
        create.ring = 0x7fff00001000;
        create.pCreateInfo = &info;
        const auto r = g.send(create);
        shmem.release_to_context();
        return r;
    });
}

void ring_buffer_outside_its_resource(const test::Backend& backend) {
    ring_layout(backend, [](VkRingCreateInfoMESA& info) { info.bufferSize = 8192; });
}

void ring_head_overlapping_its_tail(const test::Backend& backend) {
    ring_layout(backend, [](VkRingCreateInfoMESA& info) { info.tailOffset = 2; });
}

void ring_status_outside_its_resource(const test::Backend& backend) {
    ring_layout(backend, [](VkRingCreateInfoMESA& info) { info.statusOffset = 4096; });
}

} // namespace

E2E_BOTH("bad input: a ring buffer outside its resource", "[bad-input][ring]",
         ring_buffer_outside_its_resource)
E2E_BOTH("bad input: a ring head overlapping its tail", "[bad-input][ring]",
         ring_head_overlapping_its_tail)
E2E_BOTH("bad input: a ring status outside its resource", "[bad-input][ring]",
         ring_status_outside_its_resource)
E2E_BOTH("bad input: an unknown object id", "[bad-input]", unknown_object_id)
E2E_BOTH("bad input: an object destroyed twice", "[bad-input]", destroy_twice)
E2E_BOTH("bad input: a reply stream outside its resource", "[bad-input]",
         reply_stream_outside_its_resource)
// virglrenderer passes binds to the driver unchecked; only our renderer refuses them.
TEST_CASE("bad input: a memory bind outside the allocation [ours]", "[bad-input][ours]") {
    bind_outside_memory(test::ours());
}
