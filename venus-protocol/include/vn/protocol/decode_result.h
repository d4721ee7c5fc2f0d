#pragma once
// The one failure currency of every decoder. Guest input can only ever produce Ok or Fatal: there
// is no "recoverable" decode error, because a context that sent one malformed byte cannot be
// trusted with the next command either (virglrenderer's cs_fatal_error, Dawn's WireResult).
#include <cstdint>
#include <string>
#include <string_view>

namespace vn::protocol {

// clang-format 14 drops the space before the brace of an enum with an attribute.
// clang-format off
enum class [[nodiscard]] DecodeResult : std::uint8_t { Ok, Fatal };
// clang-format on

// Sticky per-context fatal state. Only the first reason is kept: later failures are consequences.
class FatalState {
  public:
    bool is_fatal() const { return m_fatal; }
    const std::string& reason() const { return m_reason; }

    [[nodiscard]] DecodeResult fail(std::string_view reason) {
        if (!m_fatal) {
            m_fatal = true;
            m_reason = reason;
        }
        return DecodeResult::Fatal;
    }

  private:
    bool m_fatal = false;
    std::string m_reason;
};

} // namespace vn::protocol

// Propagates a Fatal result. A macro, because a function cannot return from its caller.
#define VN_TRY(expr)                                                                               \
    do {                                                                                           \
        if ((expr) != ::vn::protocol::DecodeResult::Ok) [[unlikely]]                               \
            return ::vn::protocol::DecodeResult::Fatal;                                            \
    } while (0)

// Always-on check for conditions that guest input can reach; survives NDEBUG builds.
#define VN_CHECK(cond, fatal_state, reason)                                                        \
    do {                                                                                           \
        if (!(cond)) [[unlikely]]                                                                  \
            return (fatal_state).fail(reason);                                                     \
    } while (0)
