#pragma once
// A realistic Venus stream, encoded with the generated driver-side encoder: the objects a
// renderer needs (instance, device, pools, layouts, pipeline, buffers) and then command-buffer
// recording (binds, push constants, draws, dispatches, barriers) the way Mesa sends it.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace vn::test {

struct RecordedStream {
    std::vector<std::byte> bytes;
    std::size_t commands = 0;
};

// Setup commands plus `batches` repetitions of an 8-command recording batch.
RecordedStream record_command_buffer_stream(std::size_t batches);

} // namespace vn::test
