#pragma once
// Where a context's SUBMIT_CMD streams go. The decoder validates (and, once the executor lands,
// executes) Venus commands; the worker only needs to know whether the stream was accepted.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace vn::server {

class CommandSink {
  public:
    virtual ~CommandSink() = default;
    // False makes the context fatal; fatal_reason() then says why in one line.
    virtual bool submit(std::span<const std::byte> stream) = 0;
    virtual std::string fatal_reason() const = 0;
};

// The decoder when the build has one (target vn_decoder), else a sink that accepts every stream.
std::unique_ptr<CommandSink> make_command_sink(std::uint32_t ctx_id);

// Whether make_command_sink() validates streams; tests of rejected streams depend on it.
bool command_sink_validates();

} // namespace vn::server
