#pragma once
// How many bytes a buffer<->image copy moves per texel block, per format and aspect. Kept apart
// from the range checks because the format tables come with vulkan.hpp, a heavy header.
#include <cstdint>
#include <vulkan/vulkan_core.h>

namespace vn::decoder {

struct TexelBlock {
    std::uint32_t bytes = 0; // 0: not a format and aspect a copy can name
    std::uint32_t width = 1, height = 1, depth = 1;
    // A plane of a multi-planar format covers the image extent divided by these.
    std::uint32_t width_divisor = 1, height_divisor = 1;
};

// `aspect` is a single aspect bit.
TexelBlock copy_block(VkFormat format, VkImageAspectFlags aspect);

} // namespace vn::decoder
