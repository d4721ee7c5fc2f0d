#pragma once
// One stream that exercises every Reader read kind, written with Writer, so that truncation and
// alignment tests cover all of them with a single loop.
#include "vn/protocol/reader.h"
#include "vn/protocol/writer.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace vn::test {

enum class SignedEnum : std::int32_t { Negative = -2, Positive = 7 };

struct Sample {
    std::uint32_t u32 = 0;
    std::int32_t i32 = 0;
    float f32 = 0;
    std::uint64_t u64 = 0;
    std::int64_t i64 = 0;
    double f64 = 0;
    std::uint16_t small = 0;
    SignedEnum e = SignedEnum::Positive;
    std::array<std::uint32_t, 3> words32{};
    std::array<char, 5> blob{};
    std::array<std::uint64_t, 2> words64{};
    std::uint64_t peeked = 0;
    std::uint64_t tail = 0;

    bool operator==(const Sample&) const = default;
};

inline Sample expected_sample() {
    Sample s;
    s.u32 = 0xdeadbeef;
    s.i32 = -123456;
    s.f32 = 1.5f;
    s.u64 = 0x0123456789abcdefull;
    s.i64 = -0x7edcba9876543210ll;
    s.f64 = -2.25;
    s.small = 0xbeef;
    s.e = SignedEnum::Negative;
    s.words32 = {1, 0xffffffffu, 0x80000000u};
    s.blob = {'h', 'e', 'l', 'l', 'o'};
    s.words64 = {0xfedcba9876543210ull, 42};
    s.peeked = 0x1122334455667788ull;
    s.tail = s.peeked;
    return s;
}

inline std::vector<std::byte> encode_sample(const Sample& s) {
    std::vector<std::byte> out;
    protocol::Writer w(out);
    w.u32(s.u32);
    w.i32(s.i32);
    w.f32(s.f32);
    w.u64(s.u64);
    w.i64(s.i64);
    w.f64(s.f64);
    w.slot32(s.small);
    w.slot32(s.e);
    w.array_size(s.words32.size());
    w.words32(s.words32.data(), s.words32.size());
    w.bytes(s.blob.data(), s.blob.size());
    w.words64(s.words64.data(), s.words64.size());
    w.u64(s.tail);
    return out;
}

inline protocol::DecodeResult decode_sample(protocol::Reader& r, Sample& s) {
    VN_TRY(r.u32(s.u32));
    VN_TRY(r.i32(s.i32));
    VN_TRY(r.f32(s.f32));
    VN_TRY(r.u64(s.u64));
    VN_TRY(r.i64(s.i64));
    VN_TRY(r.f64(s.f64));
    VN_TRY(r.slot32(s.small));
    VN_TRY(r.slot32(s.e));
    VN_TRY(r.array_size(s.words32.size()));
    VN_TRY(r.words32(s.words32.data(), s.words32.size()));
    VN_TRY(r.bytes(s.blob.data(), s.blob.size()));
    VN_TRY(r.words64(s.words64.data(), s.words64.size()));
    VN_TRY(r.peek_u64(s.peeked));
    VN_TRY(r.u64(s.tail));
    return protocol::DecodeResult::Ok;
}

// 4+4+4+8+8+8+4+4+8+12+8(5 padded)+16+8
inline constexpr std::size_t sample_size = 96;

} // namespace vn::test
