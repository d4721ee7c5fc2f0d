// Encode-then-decode for every generated command, requests and replies, with random but
// self-consistent values: decoding must consume every byte, and encoding what was decoded must give
// the same bytes back. Byte equality of the re-encoding checks every field without a per-struct
// comparison function.
#include "vn_fill.gen.h"

#include <catch2/catch.hpp>
#include <vector>

using namespace vn;

namespace {

constexpr int seeds_per_command = 12;

struct Counts {
    int commands = 0;
    int requests = 0;
    int replies = 0;
};

template <typename Args>
void check_command(Counts& counts, std::uint32_t id) {
    INFO("command " << Args::vn_name << " (" << id << ")");
    for (int seed = 0; seed < seeds_per_command; ++seed) {
        INFO("seed " << seed);
        protocol::Arena arena;
        test::Filler fill(static_cast<std::uint64_t>(seed) * 7919u + id, arena);
        Args a{};
        gen::fill_args(fill, a);

        // Request: driver encodes, renderer decodes, renderer's view re-encodes identically.
        std::vector<std::byte> first;
        protocol::Writer w1(first);
        gen::encode_args(w1, 0, a);
        {
            protocol::FatalState fatal;
            protocol::Reader in(first.data(), first.size(), fatal);
            protocol::Arena decode_arena;
            protocol::Decoder d{in, decode_arena};
            std::uint32_t type = 0, flags = 0;
            REQUIRE(in.u32(type) == protocol::DecodeResult::Ok);
            REQUIRE(in.u32(flags) == protocol::DecodeResult::Ok);
            REQUIRE(type == id);
            Args back{};
            const auto r = gen::decode_args(d, back);
            INFO(fatal.reason());
            REQUIRE(r == protocol::DecodeResult::Ok);
            REQUIRE(in.empty());
            std::vector<std::byte> second;
            protocol::Writer w2(second);
            gen::encode_args(w2, 0, back);
            REQUIRE(second == first);
        }
        ++counts.requests;

        // Reply: renderer encodes, driver decodes, re-encoding gives the same bytes.
        std::vector<std::byte> reply;
        protocol::Writer w3(reply);
        gen::encode_reply(w3, a);
        {
            protocol::FatalState fatal;
            protocol::Reader in(reply.data(), reply.size(), fatal);
            protocol::Arena decode_arena;
            protocol::Decoder d{in, decode_arena};
            // The driver decodes a reply knowing its own request (counts and sizes it sent).
            Args back = a;
            const auto r = gen::decode_reply(d, back);
            INFO(fatal.reason());
            REQUIRE(r == protocol::DecodeResult::Ok);
            REQUIRE(in.empty());
            std::vector<std::byte> again;
            protocol::Writer w4(again);
            gen::encode_reply(w4, back);
            REQUIRE(again == reply);
        }
        ++counts.replies;
    }
    ++counts.commands;
}

} // namespace

TEST_CASE("every generated command round-trips, request and reply") {
    Counts counts;
#define VN_CHECK_COMMAND(name, id) check_command<gen::name##Args>(counts, id);
    VN_GEN_FOR_EACH_COMMAND(VN_CHECK_COMMAND)
#undef VN_CHECK_COMMAND
    CHECK(counts.commands == static_cast<int>(gen::coverage.commands_generated));
    WARN("round-tripped " << counts.commands << " commands: " << counts.requests << " requests and "
                          << counts.replies << " replies");
}

TEST_CASE("every prefix of an encoded command is a fatal decode, never a crash") {
    int checked = 0;
    auto truncations = [&](auto tag, std::uint32_t id) {
        using Args = decltype(tag);
        protocol::Arena arena;
        test::Filler fill(id, arena);
        Args a{};
        gen::fill_args(fill, a);
        std::vector<std::byte> full;
        protocol::Writer w(full);
        gen::encode_args(w, 0, a);
        for (std::size_t len = 8; len < full.size(); ++len) {
            // A copy of exactly `len` bytes, so a read past the end is an ASan error.
            std::vector<std::byte> cut(full.begin(),
                                       full.begin() + static_cast<std::ptrdiff_t>(len));
            protocol::FatalState fatal;
            protocol::Reader in(cut.data(), cut.size(), fatal);
            protocol::Arena decode_arena;
            protocol::Decoder d{in, decode_arena};
            std::uint32_t type, flags;
            REQUIRE(in.u32(type) == protocol::DecodeResult::Ok);
            REQUIRE(in.u32(flags) == protocol::DecodeResult::Ok);
            Args back{};
            INFO(Args::vn_name << " cut at " << len << " of " << full.size());
            REQUIRE(gen::decode_args(d, back) == protocol::DecodeResult::Fatal);
            REQUIRE(fatal.is_fatal());
            ++checked;
        }
    };
#define VN_TRUNCATE(name, id) truncations(gen::name##Args{}, id);
    VN_GEN_FOR_EACH_COMMAND(VN_TRUNCATE)
#undef VN_TRUNCATE
    WARN("checked " << checked << " truncated streams");
}
