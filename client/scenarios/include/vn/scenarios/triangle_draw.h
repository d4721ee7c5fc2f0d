#pragma once
// A triangle through a render pass and a graphics pipeline: vertices uploaded with
// vkCmdUpdateBuffer (no guest mapping needed), drawn into a color image, copied into a
// host-visible buffer and read through the guest's mapping of its memory blob.
#include "vn/scenarios/device_setup.h"

#include <array>
#include <cstdint>
#include <span>
#include <vector>

namespace vn::scenarios {

struct TriangleRun {
    std::uint32_t width = 0, height = 0;
    // As for ComputeRun: false when the readback memory is an OPAQUE fd the guest cannot map.
    bool readable = false;
    std::vector<std::uint32_t> pixels; // R8G8B8A8_UNORM, row-major, as little-endian words
};

inline constexpr std::uint32_t triangle_clear_color = 0xff0000ffu; // opaque red (RGBA bytes)

// Draws one triangle (NDC vertices, x and y each) with the given vertex and fragment shaders
// (one vec2 attribute at location 0, one color output) into a width x height image cleared to
// triangle_clear_color.
TriangleRun draw_triangle(client::Guest& guest, const Device& device,
                          std::span<const std::uint32_t> vertex_spirv,
                          std::span<const std::uint32_t> fragment_spirv,
                          const std::array<float, 6>& vertices, std::uint32_t width,
                          std::uint32_t height);

} // namespace vn::scenarios
