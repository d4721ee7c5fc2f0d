// Ring over a fake renderer, single-threaded: the test plays the renderer by reading the shmem
// and moving head and status, so Mesa's layout and the wrap-around are checked byte for byte.
#include "fake_transport.h"
#include "vn/client/ring.h"

#include <catch2/catch.hpp>
#include <cstring>

using namespace vn;
using client::Status;

namespace {

std::uint32_t load(std::span<std::byte> mem, std::size_t offset) {
    std::uint32_t v;
    std::memcpy(&v, mem.data() + offset, 4);
    return v;
}
void store(std::span<std::byte> mem, std::size_t offset, std::uint32_t v) {
    std::memcpy(mem.data() + offset, &v, 4);
}

// The ring create info the guest sent on the context path.
VkRingCreateInfoMESA created_ring(const std::vector<std::byte>& s, std::uint64_t& id) {
    protocol::FatalState fatal;
    protocol::Reader in(s.data(), s.size(), fatal);
    protocol::Arena arena;
    protocol::Decoder d{in, arena};
    std::uint32_t type = 0, flags = 0;
    REQUIRE(in.u32(type) == protocol::DecodeResult::Ok);
    REQUIRE(in.u32(flags) == protocol::DecodeResult::Ok);
    REQUIRE(type == static_cast<std::uint32_t>(gen::CommandType::CreateRingMESA));
    gen::CreateRingMESAArgs a;
    REQUIRE(gen::decode_args(d, a) == protocol::DecodeResult::Ok);
    id = a.ring;
    return *a.pCreateInfo;
}

} // namespace

TEST_CASE("a ring is laid out as Mesa's and wraps its commands") {
    test::FakeTransport t;
    client::Guest guest(t);
    client::RingOptions options;
    options.buffer_size = 256;
    const std::size_t before = t.all_streams.size();
    client::Ring ring(guest, options);
    std::uint64_t id = 0;
    const VkRingCreateInfoMESA info = created_ring(
        std::vector<std::byte>(t.all_streams.begin() + static_cast<std::ptrdiff_t>(before),
                               t.all_streams.end()),
        id);
    CHECK(id == ring.id());
    CHECK(info.headOffset == 0);
    CHECK(info.tailOffset == 64);
    CHECK(info.statusOffset == 128);
    CHECK(info.bufferOffset == 192);
    CHECK(info.bufferSize == 256);
    CHECK(info.extraOffset == 192 + 256);
    CHECK(info.extraSize == 4);
    CHECK(info.offset == 0);
    CHECK(info.idleTimeout == 5'000'000);
    CHECK(info.pNext == nullptr);
    auto mem = t.resource(info.resourceId);
    REQUIRE(mem.size() >= info.size);
    CHECK(info.size >= info.extraOffset + info.extraSize);

    // 200 bytes, then 100 more: the second command straddles the end of the buffer.
    std::vector<std::byte> a(200), b(100);
    for (std::size_t i = 0; i < a.size(); ++i)
        a[i] = static_cast<std::byte>(i);
    for (std::size_t i = 0; i < b.size(); ++i)
        b[i] = static_cast<std::byte>(0x80 + i);
    std::uint32_t seqno = 0;
    REQUIRE(ring.submit(a, seqno) == Status::Ok);
    CHECK(seqno == 200);
    CHECK(load(mem, 64) == 200); // tail published
    CHECK(std::memcmp(mem.data() + 192, a.data(), a.size()) == 0);
    store(mem, 0, 200); // the renderer consumed it
    REQUIRE(ring.submit(b, seqno) == Status::Ok);
    CHECK(seqno == 300);
    CHECK(load(mem, 64) == 300);
    CHECK(std::memcmp(mem.data() + 192 + 200, b.data(), 56) == 0);
    CHECK(std::memcmp(mem.data() + 192, b.data() + 56, 44) == 0);
    CHECK(ring.notify_count() == 0);

    // An idle renderer gets vkNotifyRingMESA on the context path, naming the ring.
    store(mem, 0, 300);
    store(mem, 128, VK_RING_STATUS_IDLE_BIT_MESA);
    const std::size_t mark = t.all_streams.size();
    REQUIRE(ring.submit(std::vector<std::byte>(8), seqno) == Status::Ok);
    CHECK(ring.notify_count() == 1);
    REQUIRE(t.all_streams.size() > mark + 8);
    std::uint32_t type = 0;
    std::memcpy(&type, t.all_streams.data() + mark, 4);
    CHECK(type == static_cast<std::uint32_t>(gen::CommandType::NotifyRingMESA));

    // Head reached: waits return at once; FATAL makes the ring unusable.
    store(mem, 0, seqno);
    CHECK(ring.wait(seqno, 0) == Status::Ok);
    store(mem, 128, VK_RING_STATUS_FATAL_BIT_MESA);
    CHECK(ring.fatal());
    CHECK(ring.submit(std::vector<std::byte>(8), seqno) == Status::Lost);
}

TEST_CASE("a ring refuses commands it cannot hold and waits that cannot end") {
    test::FakeTransport t;
    client::Guest guest(t, client::GuestOptions{1u << 16, 50});
    client::RingOptions options;
    options.buffer_size = 64;
    client::Ring ring(guest, options);
    std::uint32_t seqno = 0;
    CHECK(ring.submit(std::vector<std::byte>(128), seqno) == Status::InvalidArgument);
    CHECK(ring.submit(std::vector<std::byte>(6), seqno) == Status::InvalidArgument);
    REQUIRE(ring.submit(std::vector<std::byte>(64), seqno) == Status::Ok);
    // Full, and the fake renderer never moves head: the next submit times out.
    CHECK(ring.submit(std::vector<std::byte>(4), seqno) == Status::Timeout);
    CHECK(ring.wait(64, 50) == Status::Timeout);
    t.lost = true;
    CHECK(ring.wait(64, 1000) == Status::Lost);
}
