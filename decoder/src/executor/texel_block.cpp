// Format traits from Vulkan-Hpp (Debian's libvulkan-dev), generated from the same vk.xml family
// as the rest of the codec, rather than a hand-kept table.
#include "texel_block.h"

#include <vulkan/vulkan_format_traits.hpp>

namespace vn::decoder {

TexelBlock copy_block(VkFormat format, VkImageAspectFlags aspect) {
    const auto f = static_cast<vk::Format>(format);
    TexelBlock out;
    switch (aspect) {
    case VK_IMAGE_ASPECT_COLOR_BIT: {
        if (vk::planeCount(f) > 1)
            return {};
        const auto extent = vk::blockExtent(f);
        out.bytes = vk::blockSize(f);
        out.width = extent[0];
        out.height = extent[1];
        out.depth = extent[2];
        return out;
    }
    case VK_IMAGE_ASPECT_DEPTH_BIT:
        // Depth copies are tightly packed per the spec, whatever the combined format's layout.
        switch (format) {
        case VK_FORMAT_D16_UNORM:
        case VK_FORMAT_D16_UNORM_S8_UINT:
            out.bytes = 2;
            return out;
        case VK_FORMAT_X8_D24_UNORM_PACK32:
        case VK_FORMAT_D24_UNORM_S8_UINT:
        case VK_FORMAT_D32_SFLOAT:
        case VK_FORMAT_D32_SFLOAT_S8_UINT:
            out.bytes = 4;
            return out;
        default:
            return {};
        }
    case VK_IMAGE_ASPECT_STENCIL_BIT:
        switch (format) {
        case VK_FORMAT_S8_UINT:
        case VK_FORMAT_D16_UNORM_S8_UINT:
        case VK_FORMAT_D24_UNORM_S8_UINT:
        case VK_FORMAT_D32_SFLOAT_S8_UINT:
            out.bytes = 1;
            return out;
        default:
            return {};
        }
    case VK_IMAGE_ASPECT_PLANE_0_BIT:
    case VK_IMAGE_ASPECT_PLANE_1_BIT:
    case VK_IMAGE_ASPECT_PLANE_2_BIT: {
        const std::uint8_t plane = aspect == VK_IMAGE_ASPECT_PLANE_0_BIT   ? 0
                                   : aspect == VK_IMAGE_ASPECT_PLANE_1_BIT ? 1
                                                                           : 2;
        if (plane >= vk::planeCount(f) || vk::planeCount(f) < 2)
            return {};
        const vk::Format plane_format = vk::planeCompatibleFormat(f, plane);
        const auto extent = vk::blockExtent(plane_format);
        out.bytes = vk::blockSize(plane_format);
        out.width = extent[0];
        out.height = extent[1];
        out.depth = extent[2];
        out.width_divisor = vk::planeWidthDivisor(f, plane);
        out.height_divisor = vk::planeHeightDivisor(f, plane);
        return out;
    }
    default:
        return {};
    }
}

} // namespace vn::decoder
