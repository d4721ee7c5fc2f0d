// Guest over a fake renderer: what it sends for a call, and how it treats replies that a
// correct renderer never writes.
#include "fake_transport.h"
#include "vn/client/guest.h"

#include <catch2/catch.hpp>
#include <cstring>

using namespace vn;
using client::Status;

namespace {

struct Header {
    std::uint32_t type;
    std::uint32_t flags;
};

// The fake renderer's side of one call: the reply stream the guest set, and the command after.
struct ParsedCall {
    VkCommandStreamDescriptionMESA stream{};
    Header command{};
    std::size_t command_offset = 0;
};

ParsedCall parse_call(const std::vector<std::byte>& s) {
    ParsedCall out;
    protocol::FatalState fatal;
    protocol::Reader in(s.data(), s.size(), fatal);
    protocol::Arena arena;
    protocol::Decoder d{in, arena};
    Header h{};
    REQUIRE(in.u32(h.type) == protocol::DecodeResult::Ok);
    REQUIRE(in.u32(h.flags) == protocol::DecodeResult::Ok);
    REQUIRE(h.type == static_cast<std::uint32_t>(gen::CommandType::SetReplyCommandStreamMESA));
    gen::SetReplyCommandStreamMESAArgs set;
    REQUIRE(gen::decode_args(d, set) == protocol::DecodeResult::Ok);
    out.stream = *set.pStream;
    out.command_offset = s.size() - in.remaining();
    REQUIRE(in.u32(out.command.type) == protocol::DecodeResult::Ok);
    REQUIRE(in.u32(out.command.flags) == protocol::DecodeResult::Ok);
    return out;
}

template <typename Args>
void write_reply(test::FakeTransport& t, const ParsedCall& call, const Args& reply) {
    auto mem = t.resource(call.stream.resourceId);
    REQUIRE(call.stream.offset + call.stream.size <= mem.size());
    protocol::Writer w(mem.data() + call.stream.offset, call.stream.size);
    gen::encode_reply(w, reply);
    REQUIRE_FALSE(w.overflowed());
}

gen::EnumerateInstanceVersionArgs version_request(std::uint32_t& storage) {
    gen::EnumerateInstanceVersionArgs ev;
    ev.pApiVersion = &storage;
    return ev;
}

} // namespace

TEST_CASE("a call sets the reply stream, asks for a reply and decodes it") {
    test::FakeTransport t;
    client::Guest guest(t);
    ParsedCall seen;
    t.responder = [&](test::FakeTransport& self, const std::vector<std::byte>& s) {
        seen = parse_call(s);
        std::uint32_t version = VK_MAKE_API_VERSION(0, 1, 3, 42);
        gen::EnumerateInstanceVersionArgs reply;
        reply.pApiVersion = &version;
        reply.ret = VK_SUCCESS;
        write_reply(self, seen, reply);
    };
    std::uint32_t storage = 0;
    gen::EnumerateInstanceVersionArgs reply;
    REQUIRE(guest.call(version_request(storage), reply) == Status::Ok);
    CHECK(*reply.pApiVersion == VK_MAKE_API_VERSION(0, 1, 3, 42));
    CHECK(seen.command.type ==
          static_cast<std::uint32_t>(gen::CommandType::EnumerateInstanceVersion));
    CHECK(seen.command.flags == VK_COMMAND_GENERATE_REPLY_BIT_EXT);
    CHECK(seen.stream.offset == 0);
    CHECK(seen.stream.size == guest.options().reply_size);
}

TEST_CASE("a reply that never came is not read from stale bytes") {
    test::FakeTransport t;
    client::Guest guest(t);
    bool answer = true;
    t.responder = [&](test::FakeTransport& self, const std::vector<std::byte>& s) {
        if (!answer)
            return;
        std::uint32_t version = VK_API_VERSION_1_2;
        gen::EnumerateInstanceVersionArgs reply;
        reply.pApiVersion = &version;
        write_reply(self, parse_call(s), reply);
    };
    std::uint32_t storage = 0;
    gen::EnumerateInstanceVersionArgs reply;
    REQUIRE(guest.call(version_request(storage), reply) == Status::Ok);
    // The same call again, but the renderer drops it: the first reply is still in the shmem.
    answer = false;
    CHECK(guest.call(version_request(storage), reply) == Status::BadReply);
    CHECK(guest.last_error().find("vkEnumerateInstanceVersion") != std::string::npos);
}

TEST_CASE("a reply to another command is refused") {
    test::FakeTransport t;
    client::Guest guest(t);
    t.responder = [&](test::FakeTransport& self, const std::vector<std::byte>& s) {
        gen::DeviceWaitIdleArgs other;
        other.ret = VK_SUCCESS;
        write_reply(self, parse_call(s), other);
    };
    std::uint32_t storage = 0;
    gen::EnumerateInstanceVersionArgs reply;
    CHECK(guest.call(version_request(storage), reply) == Status::BadReply);
}

TEST_CASE("a reply whose array count the stream cannot back is refused") {
    test::FakeTransport t;
    client::GuestOptions options;
    options.reply_size = 4096;
    client::Guest guest(t, options);
    t.responder = [&](test::FakeTransport& self, const std::vector<std::byte>& s) {
        const ParsedCall call = parse_call(s);
        auto mem = self.resource(call.stream.resourceId);
        protocol::Writer w(mem.data(), mem.size());
        w.u32(static_cast<std::uint32_t>(gen::CommandType::EnumerateInstanceExtensionProperties));
        w.i32(VK_SUCCESS);
        w.array_size(1);
        w.u32(1u << 30); // *pPropertyCount: a billion extensions
        w.array_size(1u << 30);
    };
    std::uint32_t count = 1;
    std::vector<VkExtensionProperties> props(1);
    gen::EnumerateInstanceExtensionPropertiesArgs a;
    a.pPropertyCount = &count;
    a.pProperties = props.data();
    gen::EnumerateInstanceExtensionPropertiesArgs reply;
    CHECK(guest.call(a, reply) == Status::BadReply);
}

TEST_CASE("a lost context fails calls as lost, before and after") {
    test::FakeTransport t;
    client::Guest guest(t);
    t.responder = [&](test::FakeTransport& self, const std::vector<std::byte>&) {
        self.lost = true;
    };
    std::uint32_t storage = 0;
    gen::EnumerateInstanceVersionArgs reply;
    CHECK(guest.call(version_request(storage), reply) == Status::Lost);
    CHECK(guest.call(version_request(storage), reply) == Status::Lost);
    CHECK(guest.send(version_request(storage)) == Status::Lost);
}

TEST_CASE("blobs are destroyed on the renderer when the guest drops them") {
    test::FakeTransport t;
    {
        client::Guest guest(t);
        client::MappedBlob blob;
        REQUIRE(guest.map_blob(0, 8192, blob) == Status::Ok);
        REQUIRE(blob.mapped());
        const std::uint32_t res = blob.res_id();
        // The guest's mapping and the renderer's view are the same memory.
        blob.as<std::uint32_t>()[5] = 0xabcdef01u;
        std::uint32_t seen = 0;
        std::memcpy(&seen, t.resource(res).data() + 20, 4);
        CHECK(seen == 0xabcdef01u);
        blob.reset();
        CHECK(t.destroyed == std::vector<std::uint32_t>{res});
    }
    // Not the reply stream: the renderer may still write to it, so it goes with the context.
    CHECK(t.destroyed.size() == 1);
}
