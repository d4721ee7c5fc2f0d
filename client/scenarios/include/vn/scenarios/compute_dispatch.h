#pragma once
// A compute shader through Venus: pipeline, descriptor set over a host-visible storage buffer,
// dispatch, fence, and the output read back through the guest's mapping of the memory blob.
#include "vn/scenarios/device_setup.h"

#include <cstdint>
#include <span>
#include <vector>

namespace vn::scenarios {

struct ComputeRun {
    // The memory's blob could be mapped (SHM or DMABUF fd). An OPAQUE fd (virglrenderer 0.10.4
    // exporting lavapipe memory) is not mappable by the guest, and `values` stays empty.
    bool readable = false;
    client::FdType fd_type = client::FdType::Shm;
    std::vector<std::uint32_t> values;
};

// Runs `spirv` (one storage buffer at set 0, binding 0, local size 64) over `invocations`
// invocations (a multiple of 64), waits for its fence, and returns the buffer's first
// `invocations` words as the guest sees them through the mapped blob. The buffer is pre-filled
// with 0xdeadbeef, so words the shader did not write show.
ComputeRun run_storage_shader(client::Guest& guest, const Device& device,
                              std::span<const std::uint32_t> spirv, std::uint32_t invocations);

} // namespace vn::scenarios
