// Host image copies (VK_EXT_host_image_copy, Vulkan 1.4 core) through the executor: data in
// and out of an image as Mesa's driver sends it (vkCopyMemoryToImageMESA with the bytes inline,
// vkCopyImageToMemoryMESA with them in the reply), image to image and layout transitions, and
// every region, size and image the driver would trust checked first.
//
// Needs a host driver with hostImageCopy: Debian 13's lavapipe (Mesa 25) has it, Debian 12's
// does not. Where the host lacks it the cases say so and pass, unless
// VN_REQUIRE_HOST_IMAGE_COPY is set (CI's trixie phase sets it), when they fail.
#include "device_objects.h"

#include <cstdlib>
#include <string>
#include <vector>

#ifdef VN_GEN_HAS_vkCopyMemoryToImageMESA

using namespace vn;
using namespace vn::test_guest;

namespace {

constexpr std::uint32_t side = 8;
constexpr std::size_t image_bytes = side * side * 4;

// The effective API version of the first physical device and whether it offers hostImageCopy
// through our exposure rules, or nullopt where it does not.
std::optional<std::uint32_t> host_image_copy_api() {
    Context c;
    create_instance(c, decoder::Executor::max_api_version());
    enumerate_physical_devices(c);
    VkPhysicalDeviceHostImageCopyFeaturesEXT hic{};
    hic.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_HOST_IMAGE_COPY_FEATURES_EXT;
    VkPhysicalDeviceFeatures2 features{};
    features.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
    features.pNext = &hic;
    gen::GetPhysicalDeviceFeatures2Args f;
    f.physicalDevice = {physical_device_id, id<VkPhysicalDevice>(physical_device_id)};
    f.pFeatures = &features;
    gen::GetPhysicalDeviceFeatures2Args freply;
    REQUIRE(c.call(f, freply) == DecodeResult::Ok);
    const auto* got =
        static_cast<const VkPhysicalDeviceHostImageCopyFeaturesEXT*>(freply.pFeatures->pNext);
    if (!got || !got->hostImageCopy)
        return std::nullopt;
    VkPhysicalDeviceProperties2 props{};
    props.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
    gen::GetPhysicalDeviceProperties2Args p;
    p.physicalDevice = f.physicalDevice;
    p.pProperties = &props;
    gen::GetPhysicalDeviceProperties2Args preply;
    REQUIRE(c.call(p, preply) == DecodeResult::Ok);
    return preply.pProperties->properties.apiVersion;
}

// Asked once per process: each ask creates an instance of its own.
const std::optional<std::uint32_t>& host_api() {
    static const std::optional<std::uint32_t> api = host_image_copy_api();
    return api;
}

bool host_lacks_host_image_copy() {
    const auto& api = host_api();
    if (api) {
        WARN("through the executor the device reports Vulkan "
             << VK_API_VERSION_MAJOR(*api) << "." << VK_API_VERSION_MINOR(*api) << "."
             << VK_API_VERSION_PATCH(*api) << " with hostImageCopy");
        return false;
    }
    const bool required = std::getenv("VN_REQUIRE_HOST_IMAGE_COPY") != nullptr;
    if (required)
        FAIL("VN_REQUIRE_HOST_IMAGE_COPY is set, but the host driver offers no hostImageCopy");
    WARN("the host driver offers no hostImageCopy (Debian 12's lavapipe): not run here");
    return true;
}

// A device with hostImageCopy enabled: through Vulkan 1.4 where the device has it, else through
// the extension. `enable` false leaves the feature off.
protocol::Ref<VkDevice> host_copy_device(Context& c, bool enable = true) {
    VkPhysicalDeviceHostImageCopyFeaturesEXT hic{};
    hic.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_HOST_IMAGE_COPY_FEATURES_EXT;
    hic.hostImageCopy = enable ? VK_TRUE : VK_FALSE;
    const std::uint32_t api = *host_api();
    const bool core = VK_API_VERSION_MINOR(api) >= 4;
    std::vector<const char*> extensions;
    if (!core)
        extensions.push_back("VK_EXT_host_image_copy");
    return create_device(c, &hic, extensions, decoder::Executor::max_api_version());
}

// An 8x8 RGBA8 image bound to memory of its own.
protocol::Ref<VkImage>
host_copy_image(Context& c, const protocol::Ref<VkDevice>& dev, std::uint64_t image_id,
                std::uint64_t memory_id,
                VkImageUsageFlags usage = VK_IMAGE_USAGE_HOST_TRANSFER_BIT_EXT |
                                          VK_IMAGE_USAGE_TRANSFER_SRC_BIT) {
    VkImageCreateInfo ici{};
    ici.sType = VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO;
    ici.imageType = VK_IMAGE_TYPE_2D;
    ici.format = VK_FORMAT_R8G8B8A8_UNORM;
    ici.extent = {side, side, 1};
    ici.mipLevels = 1;
    ici.arrayLayers = 1;
    ici.samples = VK_SAMPLE_COUNT_1_BIT;
    ici.tiling = VK_IMAGE_TILING_OPTIMAL;
    ici.usage = usage;
    ici.initialLayout = VK_IMAGE_LAYOUT_UNDEFINED;
    VkImage image = id<VkImage>(image_id);
    gen::CreateImageArgs ci;
    ci.device = dev;
    ci.pCreateInfo = &ici;
    ci.pImage = &image;
    REQUIRE(c.call(ci).ret == VK_SUCCESS);

    VkImageMemoryRequirementsInfo2 ri{};
    ri.sType = VK_STRUCTURE_TYPE_IMAGE_MEMORY_REQUIREMENTS_INFO_2;
    ri.image = image;
    VkMemoryRequirements2 req{};
    req.sType = VK_STRUCTURE_TYPE_MEMORY_REQUIREMENTS_2;
    gen::GetImageMemoryRequirements2Args gr;
    gr.device = dev;
    gr.pInfo = &ri;
    gr.pMemoryRequirements = &req;
    const VkMemoryRequirements mr = c.call(gr).pMemoryRequirements->memoryRequirements;
    const auto memory = allocate_memory(c, dev, memory_id, mr.size, mr.memoryTypeBits);
    gen::BindImageMemoryArgs bind;
    bind.device = dev;
    bind.image = {image_id, image};
    bind.memory = memory;
    REQUIRE(c.call(bind).ret == VK_SUCCESS);
    return {image_id, image};
}

gen::TransitionImageLayoutArgs to_general(const protocol::Ref<VkDevice>& dev,
                                          VkHostImageLayoutTransitionInfoEXT& t, VkImage image) {
    t = {};
    t.sType = VK_STRUCTURE_TYPE_HOST_IMAGE_LAYOUT_TRANSITION_INFO_EXT;
    t.image = image;
    t.oldLayout = VK_IMAGE_LAYOUT_UNDEFINED;
    t.newLayout = VK_IMAGE_LAYOUT_GENERAL;
    t.subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1};
    gen::TransitionImageLayoutArgs a;
    a.device = dev;
    a.transitionCount = 1;
    a.pTransitions = &t;
    return a;
}

// The arguments of a whole-image upload of `data`; tests change them before sending.
struct Upload {
    VkMemoryToImageCopyMESA region{};
    VkCopyMemoryToImageInfoMESA info{};
    gen::CopyMemoryToImageMESAArgs args;
    Upload(const protocol::Ref<VkDevice>& dev, VkImage image,
           const std::vector<std::uint8_t>& data) {
        region.sType = VK_STRUCTURE_TYPE_MEMORY_TO_IMAGE_COPY_MESA;
        region.dataSize = data.size();
        region.pData = data.data();
        region.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1};
        region.imageExtent = {side, side, 1};
        info.sType = VK_STRUCTURE_TYPE_COPY_MEMORY_TO_IMAGE_INFO_MESA;
        info.dstImage = image;
        info.dstImageLayout = VK_IMAGE_LAYOUT_GENERAL;
        info.regionCount = 1;
        info.pRegions = &region;
        args.device = dev;
        args.pCopyMemoryToImageInfo = &info;
    }
    Upload(const Upload&) = delete;
};

// The same for a whole-image read back into `out`.
struct Readback {
    VkCopyImageToMemoryInfoMESA info{};
    gen::CopyImageToMemoryMESAArgs args;
    Readback(const protocol::Ref<VkDevice>& dev, VkImage image, std::vector<std::uint8_t>& out) {
        info.sType = VK_STRUCTURE_TYPE_COPY_IMAGE_TO_MEMORY_INFO_MESA;
        info.srcImage = image;
        info.srcImageLayout = VK_IMAGE_LAYOUT_GENERAL;
        info.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1};
        info.imageExtent = {side, side, 1};
        args.device = dev;
        args.pCopyImageToMemoryInfo = &info;
        args.dataSize = out.size();
        args.pData = out.data();
    }
    Readback(const Readback&) = delete;
};

std::vector<std::uint8_t> pattern() {
    std::vector<std::uint8_t> data(image_bytes);
    for (std::size_t i = 0; i < data.size(); ++i)
        data[i] = static_cast<std::uint8_t>(i * 7 + 3);
    return data;
}

constexpr std::uint64_t image_id = 0x7f00000a1000, memory_id = 0x7f00000a1100,
                        image2_id = 0x7f00000a2000, memory2_id = 0x7f00000a2100;

} // namespace

TEST_CASE("host image copy: memory to image, image to image, image to memory") {
    if (host_lacks_host_image_copy())
        return;
    Context c;
    const auto dev = host_copy_device(c);
    const auto image = host_copy_image(c, dev, image_id, memory_id);
    const auto image2 = host_copy_image(c, dev, image2_id, memory2_id);
    VkHostImageLayoutTransitionInfoEXT t{};
    for (VkImage i : {image.handle, image2.handle})
        REQUIRE(c.call(to_general(dev, t, i)).ret == VK_SUCCESS);

    const auto data = pattern();
    Upload up(dev, image.handle, data);
    REQUIRE(c.call(up.args).ret == VK_SUCCESS);

    VkImageCopy2 region{};
    region.sType = VK_STRUCTURE_TYPE_IMAGE_COPY_2;
    region.srcSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1};
    region.dstSubresource = region.srcSubresource;
    region.extent = {side, side, 1};
    VkCopyImageToImageInfoEXT copy{};
    copy.sType = VK_STRUCTURE_TYPE_COPY_IMAGE_TO_IMAGE_INFO_EXT;
    copy.srcImage = image.handle;
    copy.srcImageLayout = VK_IMAGE_LAYOUT_GENERAL;
    copy.dstImage = image2.handle;
    copy.dstImageLayout = VK_IMAGE_LAYOUT_GENERAL;
    copy.regionCount = 1;
    copy.pRegions = &region;
    gen::CopyImageToImageArgs ci;
    ci.device = dev;
    ci.pCopyImageToImageInfo = &copy;
    REQUIRE(c.call(ci).ret == VK_SUCCESS);

    for (VkImage i : {image.handle, image2.handle}) {
        std::vector<std::uint8_t> out(image_bytes, 0);
        Readback rb(dev, i, out);
        gen::CopyImageToMemoryMESAArgs reply;
        REQUIRE(c.call(rb.args, reply) == DecodeResult::Ok);
        REQUIRE(reply.ret == VK_SUCCESS);
        REQUIRE(reply.pData);
        const auto* got = static_cast<const std::uint8_t*>(reply.pData);
        CHECK(std::vector<std::uint8_t>(got, got + image_bytes) == data);
    }
    CHECK_FALSE(c.is_fatal());
}

TEST_CASE("host image copy: regions, sizes and images the driver would trust are checked") {
    if (host_lacks_host_image_copy())
        return;
    Context c;
    const auto dev = host_copy_device(c);
    const auto image = host_copy_image(c, dev, image_id, memory_id);
    VkHostImageLayoutTransitionInfoEXT t{};
    REQUIRE(c.call(to_general(dev, t, image.handle)).ret == VK_SUCCESS);
    const auto data = pattern();
    std::vector<std::uint8_t> out(image_bytes);

    const int bad = GENERATE(range(0, 7));
    std::string expected;
    DecodeResult result = DecodeResult::Ok;
    Upload up(dev, image.handle, data);
    Readback rb(dev, image.handle, out);
    switch (bad) {
    case 0: // a box past the right edge
        up.region.imageOffset = {4, 0, 0};
        result = c.send(up.args);
        expected = "vkCopyMemoryToImageMESA: the region lies outside the image";
        break;
    case 1: // fewer bytes than the region reads
        up.region.dataSize = image_bytes - 1;
        result = c.send(up.args);
        expected = "reads 256 bytes, but the guest sent 255";
        break;
    case 2: // a row length that makes the region read past the data
        up.region.memoryRowLength = side * 2;
        result = c.send(up.args);
        expected = "reads 480 bytes";
        break;
    case 3: // a reply too small for what the copy writes
        rb.args.dataSize = 100;
        result = c.send(rb.args);
        expected =
            "vkCopyImageToMemoryMESA: the copy writes 256 bytes, but the guest asked for 100";
        break;
    case 4: { // an image not made for host transfers
        const auto plain =
            host_copy_image(c, dev, image2_id, memory2_id, VK_IMAGE_USAGE_TRANSFER_SRC_BIT);
        up.info.dstImage = plain.handle;
        result = c.send(up.args);
        expected = "an image not created for host transfers";
        break;
    }
    case 5: { // its memory freed: the driver would write into an unmapped allocation
        gen::FreeMemoryArgs fm;
        fm.device = dev;
        fm.memory = {memory_id, id<VkDeviceMemory>(memory_id)};
        send(c, fm);
        result = c.send(rb.args);
        expected = "the image's memory was freed";
        break;
    }
    case 6: { // a transition of a level the image does not have
        auto tr = to_general(dev, t, image.handle);
        t.subresourceRange.baseMipLevel = 1;
        result = c.send(tr);
        expected = "vkTransitionImageLayout: range 0 names levels or layers";
        break;
    }
    default:
        break;
    }
    INFO("case " << bad << ": " << c.reason());
    CHECK(result == DecodeResult::Fatal);
    CHECK(c.reason().find(expected) != std::string::npos);
}

TEST_CASE("host image copy on a device that did not enable hostImageCopy is fatal") {
    if (host_lacks_host_image_copy())
        return;
    Context c;
    const auto dev = host_copy_device(c, false);
    const auto image =
        host_copy_image(c, dev, image_id, memory_id, VK_IMAGE_USAGE_TRANSFER_SRC_BIT);
    const auto data = pattern();
    Upload up(dev, image.handle, data);
    CHECK(c.send(up.args) == DecodeResult::Fatal);
    CHECK(c.reason().find("has not enabled hostImageCopy") != std::string::npos);
}

#endif
