// Venus commands executed on lavapipe: the driver-side encoder writes the stream, the decoder and
// executor run it on the host driver, and the driver-side decoder reads the replies back.
#include "device_objects.h"
#include "guest_context.h"
#include "vn/decoder/host_memory_probe.h"

// SPIR-V of the shaders, built by glslangValidator (need <cstdint> first).
#include "fill_comp.spv.h"
#include "patch_tesc.spv.h"
#include "patch_tese.spv.h"
#include "triangle_frag.spv.h"
#include "triangle_vert.spv.h"

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <string>
#include <tuple>
#include <unistd.h>
#include <vector>

using namespace vn;
using namespace vn::test_guest;

TEST_CASE("instance version and the Venus instance extensions") {
    Context r;
    std::uint32_t version = 0;
    gen::EnumerateInstanceVersionArgs a;
    a.pApiVersion = &version;
    gen::EnumerateInstanceVersionArgs reply;
    REQUIRE(r.call(a, reply) == DecodeResult::Ok);
    CHECK(*reply.pApiVersion >= VK_API_VERSION_1_1);
    // Capped at major.minor; the patch level is the host's, as virglrenderer reports it.
    CHECK(*reply.pApiVersion - VK_API_VERSION_PATCH(*reply.pApiVersion) <=
          decoder::Executor::max_api_version());

    std::uint32_t count = 8;
    VkExtensionProperties props[8]{};
    gen::EnumerateInstanceExtensionPropertiesArgs e;
    e.pPropertyCount = &count;
    e.pProperties = props;
    gen::EnumerateInstanceExtensionPropertiesArgs ereply;
    REQUIRE(r.call(e, ereply) == DecodeResult::Ok);
    REQUIRE(*ereply.pPropertyCount == 2);
    CHECK(std::string(ereply.pProperties[0].extensionName) == "VK_EXT_command_serialization");
    CHECK(std::string(ereply.pProperties[1].extensionName) == "VK_MESA_venus_protocol");
    CHECK(ereply.pProperties[1].specVersion == 3);
}

TEST_CASE("every core version the vk.xml in use has is offered: the executor runs all it adds") {
    // The generated table lists the core versions in scope of the registry (1.3 for vk.xml
    // 1.3.239, 1.4 for 1.4.309); a command of one without a handler would hold the guest back.
    REQUIRE(gen::core_version_count > 0);
    const auto& newest = gen::core_versions[gen::core_version_count - 1];
    static constexpr auto implemented = gen::implemented_commands<decoder::Executor>();
    for (const auto& v : gen::core_versions) {
        INFO("Vulkan " << VK_API_VERSION_MAJOR(v.api_version) << "."
                       << VK_API_VERSION_MINOR(v.api_version));
        CHECK(v.decodable);
        std::string missing;
        for (std::uint32_t i = 0; i < v.command_count; ++i)
            if (!implemented[v.command_ids[i]])
                missing += std::string(" ") + gen::command_name(v.command_ids[i]);
        INFO("without a handler:" << missing);
        CHECK(missing.empty());
    }
    CHECK(decoder::Executor::max_api_version() == newest.api_version);
    CHECK(decoder::Executor::cap_api_version(VK_MAKE_API_VERSION(0, 1, 9, 7)) ==
          newest.api_version + 7);
    CHECK(decoder::Executor::cap_api_version(VK_MAKE_API_VERSION(0, 1, 1, 3)) ==
          VK_MAKE_API_VERSION(0, 1, 1, 3));
}

TEST_CASE("lavapipe through Venus: instance, physical device, properties with a pNext chain") {
    Context r;
    create_instance(r);
    enumerate_physical_devices(r);

    VkPhysicalDeviceDriverProperties driver{};
    driver.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES;
    VkPhysicalDeviceProperties2 props{};
    props.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
    props.pNext = &driver;
    gen::GetPhysicalDeviceProperties2Args a;
    a.physicalDevice = {physical_device_id, id<VkPhysicalDevice>(physical_device_id)};
    a.pProperties = &props;
    gen::GetPhysicalDeviceProperties2Args reply;
    REQUIRE(r.call(a, reply) == DecodeResult::Ok);
    const VkPhysicalDeviceProperties& p = reply.pProperties->properties;
    INFO("device " << p.deviceName);
    CHECK(std::string(p.deviceName).find("llvmpipe") != std::string::npos);
    CHECK(p.apiVersion - VK_API_VERSION_PATCH(p.apiVersion) <=
          decoder::Executor::max_api_version());
    REQUIRE(reply.pProperties->pNext);
    const auto* d = static_cast<const VkPhysicalDeviceDriverProperties*>(reply.pProperties->pNext);
    CHECK(d->sType == VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES);
    CHECK(d->driverID == VK_DRIVER_ID_MESA_LLVMPIPE);

    std::uint32_t families = 0;
    gen::GetPhysicalDeviceQueueFamilyProperties2Args q;
    q.physicalDevice = a.physicalDevice;
    q.pQueueFamilyPropertyCount = &families;
    gen::GetPhysicalDeviceQueueFamilyProperties2Args qreply;
    REQUIRE(r.call(q, qreply) == DecodeResult::Ok);
    CHECK(*qreply.pQueueFamilyPropertyCount >= 1);

    VkPhysicalDeviceMemoryProperties2 mem{};
    mem.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2;
    gen::GetPhysicalDeviceMemoryProperties2Args m;
    m.physicalDevice = a.physicalDevice;
    m.pMemoryProperties = &mem;
    gen::GetPhysicalDeviceMemoryProperties2Args mreply;
    REQUIRE(r.call(m, mreply) == DecodeResult::Ok);
    CHECK(mreply.pMemoryProperties->memoryProperties.memoryTypeCount >= 1);
}

namespace {
VkPhysicalDeviceMemoryProperties memory_properties_through_venus() {
    Context r;
    create_instance(r);
    enumerate_physical_devices(r);
    return memory_properties(r);
}
} // namespace

TEST_CASE("memory types a server learnt once answer every context without a probe of its own") {
    // What a context finds by probing on its own (a throwaway device).
    const VkPhysicalDeviceMemoryProperties probed = memory_properties_through_venus();
    const auto learnt = decoder::probe_host_mappable_types();
    REQUIRE(learnt.size() >= 1);
    const auto& lvp = learnt.front();
    CHECK(lvp.memory_type_count == probed.memoryTypeCount);
    constexpr VkMemoryPropertyFlags kHostVisible = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT;
    bool any_visible = false;
    for (std::uint32_t i = 0; i < probed.memoryTypeCount; ++i) {
        INFO("memory type " << i);
        const bool visible = (probed.memoryTypes[i].propertyFlags & kHostVisible) != 0;
        // Never host-visible through Venus where the server's probe says it cannot be handed over.
        if (!((lvp.bits >> i) & 1u))
            CHECK_FALSE(visible);
        any_visible |= visible;
    }
    CHECK(any_visible);
    // Remembered answers are used as they are, not probed again: a table that withholds every
    // type shows in a new context's answer.
    auto withheld = learnt;
    for (auto& e : withheld)
        e.bits = 0;
    decoder::remember_mappable_types(withheld);
    CHECK(decoder::known_mappable_types(lvp.driver_uuid.data(), lvp.device_uuid.data(),
                                        lvp.memory_type_count) == 0u);
    CHECK_FALSE(decoder::known_mappable_types(lvp.driver_uuid.data(), lvp.device_uuid.data(),
                                              lvp.memory_type_count + 1));
    const VkPhysicalDeviceMemoryProperties hidden = memory_properties_through_venus();
    for (std::uint32_t i = 0; i < hidden.memoryTypeCount; ++i)
        CHECK((hidden.memoryTypes[i].propertyFlags & kHostVisible) == 0);
    decoder::remember_mappable_types({});
}

TEST_CASE("device extensions are the host's, filtered by what Venus can encode") {
    Context r;
    create_instance(r);
    enumerate_physical_devices(r);
    std::uint32_t count = 0;
    gen::EnumerateDeviceExtensionPropertiesArgs a;
    a.physicalDevice = {physical_device_id, id<VkPhysicalDevice>(physical_device_id)};
    a.pPropertyCount = &count;
    gen::EnumerateDeviceExtensionPropertiesArgs reply;
    REQUIRE(r.call(a, reply) == DecodeResult::Ok);
    const std::uint32_t n = *reply.pPropertyCount;
    REQUIRE(n > 10);
    std::vector<VkExtensionProperties> props(n);
    count = n;
    a.pProperties = props.data();
    REQUIRE(r.call(a, reply) == DecodeResult::Ok);
    bool has_sync2 = false;
    for (std::uint32_t i = 0; i < *reply.pPropertyCount; ++i) {
        const char* name = reply.pProperties[i].extensionName;
        CHECK(gen::extension_spec_version(name) != 0);
        CHECK(std::string(name) != "VK_KHR_swapchain"); // WSI never crosses Venus
        has_sync2 |= std::string(name) == "VK_KHR_synchronization2";
    }
    CHECK(has_sync2);
}

TEST_CASE("a physical device id used as another type is fatal before the driver") {
    Context r;
    create_instance(r);
    enumerate_physical_devices(r);
    VkPhysicalDeviceProperties2 props{};
    props.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
    gen::GetPhysicalDeviceProperties2Args a;
    a.physicalDevice = {instance_id, id<VkPhysicalDevice>(instance_id)}; // an instance id
    a.pProperties = &props;
    CHECK(r.submit(encode(a, VK_COMMAND_GENERATE_REPLY_BIT_EXT)) == DecodeResult::Fatal);
    CHECK(r.fatal.reason().find("VkInstance") != std::string::npos);
}

TEST_CASE("physical device groups name the ids the guest gave its physical devices") {
    Context r;
    create_instance(r);
    enumerate_physical_devices(r);
    std::uint32_t count = 0;
    gen::EnumeratePhysicalDeviceGroupsArgs a;
    a.instance = {instance_id, id<VkInstance>(instance_id)};
    a.pPhysicalDeviceGroupCount = &count;
    gen::EnumeratePhysicalDeviceGroupsArgs reply;
    REQUIRE(r.call(a, reply) == DecodeResult::Ok);
    REQUIRE(reply.ret == VK_SUCCESS);
    REQUIRE(*reply.pPhysicalDeviceGroupCount >= 1);

    // As Mesa does: placeholder handles (id 0) in, the known ids out.
    count = 1;
    VkPhysicalDeviceGroupProperties group{};
    group.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_GROUP_PROPERTIES;
    a.pPhysicalDeviceGroupProperties = &group;
    REQUIRE(r.call(a, reply) == DecodeResult::Ok);
    REQUIRE(reply.ret >= 0);
    REQUIRE(*reply.pPhysicalDeviceGroupCount == 1);
    const VkPhysicalDeviceGroupProperties& g = reply.pPhysicalDeviceGroupProperties[0];
    REQUIRE(g.physicalDeviceCount == 1);
    CHECK(protocol::handle_to_u64(g.physicalDevices[0]) == physical_device_id);
    for (std::uint32_t j = 1; j < VK_MAX_DEVICE_GROUP_SIZE; ++j)
        CHECK(protocol::handle_to_u64(g.physicalDevices[j]) == 0);
}

TEST_CASE("physical device groups before the devices were enumerated are fatal") {
    Context r;
    create_instance(r);
    std::uint32_t count = 1;
    VkPhysicalDeviceGroupProperties group{};
    group.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_GROUP_PROPERTIES;
    gen::EnumeratePhysicalDeviceGroupsArgs a;
    a.instance = {instance_id, id<VkInstance>(instance_id)};
    a.pPhysicalDeviceGroupCount = &count;
    a.pPhysicalDeviceGroupProperties = &group;
    CHECK(r.submit(encode(a, VK_COMMAND_GENERATE_REPLY_BIT_EXT)) == DecodeResult::Fatal);
    CHECK(r.fatal.reason().find("vkEnumeratePhysicalDevices") != std::string::npos);
}

TEST_CASE("image format properties: the driver's answer, structs of hidden extensions zeroed") {
    Context r;
    create_instance(r);
    enumerate_physical_devices(r);
    const protocol::Ref<VkPhysicalDevice> pd{physical_device_id,
                                             id<VkPhysicalDevice>(physical_device_id)};
    VkPhysicalDeviceImageFormatInfo2 info{};
    info.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_IMAGE_FORMAT_INFO_2;
    info.format = VK_FORMAT_R8G8B8A8_UNORM;
    info.type = VK_IMAGE_TYPE_2D;
    info.tiling = VK_IMAGE_TILING_OPTIMAL;
    info.usage = VK_IMAGE_USAGE_SAMPLED_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT;
    // VK_EXT_filter_cubic is in the protocol but not on lavapipe: the guest reads zeros.
    VkFilterCubicImageViewImageFormatPropertiesEXT cubic{};
    cubic.sType = VK_STRUCTURE_TYPE_FILTER_CUBIC_IMAGE_VIEW_IMAGE_FORMAT_PROPERTIES_EXT;
    cubic.filterCubic = VK_TRUE;
    cubic.filterCubicMinmax = VK_TRUE;
    VkImageFormatProperties2 props{};
    props.sType = VK_STRUCTURE_TYPE_IMAGE_FORMAT_PROPERTIES_2;
    props.pNext = &cubic;
    gen::GetPhysicalDeviceImageFormatProperties2Args a;
    a.physicalDevice = pd;
    a.pImageFormatInfo = &info;
    a.pImageFormatProperties = &props;
    gen::GetPhysicalDeviceImageFormatProperties2Args reply;
    REQUIRE(r.call(a, reply) == DecodeResult::Ok);
    REQUIRE(reply.ret == VK_SUCCESS);
    CHECK(reply.pImageFormatProperties->imageFormatProperties.maxExtent.width >= 4096);
    CHECK(reply.pImageFormatProperties->imageFormatProperties.maxMipLevels > 1);
    REQUIRE(reply.pImageFormatProperties->pNext);
    const auto* c = static_cast<const VkFilterCubicImageViewImageFormatPropertiesEXT*>(
        reply.pImageFormatProperties->pNext);
    CHECK(c->sType == VK_STRUCTURE_TYPE_FILTER_CUBIC_IMAGE_VIEW_IMAGE_FORMAT_PROPERTIES_EXT);
    CHECK(c->filterCubic == VK_FALSE);
    CHECK(c->filterCubicMinmax == VK_FALSE);

    // An unsupported combination is the driver's error, returned, not a fatal context.
    info.format = VK_FORMAT_BC1_RGBA_UNORM_BLOCK;
    info.usage = VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT;
    props.pNext = nullptr;
    REQUIRE(r.call(a, reply) == DecodeResult::Ok);
    CHECK(reply.ret == VK_ERROR_FORMAT_NOT_SUPPORTED);

    // Sparse: lavapipe has none, and a count query says so.
    VkPhysicalDeviceSparseImageFormatInfo2 sparse{};
    sparse.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SPARSE_IMAGE_FORMAT_INFO_2;
    sparse.format = VK_FORMAT_R8G8B8A8_UNORM;
    sparse.type = VK_IMAGE_TYPE_2D;
    sparse.samples = VK_SAMPLE_COUNT_1_BIT;
    sparse.usage = VK_IMAGE_USAGE_SAMPLED_BIT;
    sparse.tiling = VK_IMAGE_TILING_OPTIMAL;
    std::uint32_t sparse_count = 7;
    gen::GetPhysicalDeviceSparseImageFormatProperties2Args s;
    s.physicalDevice = pd;
    s.pFormatInfo = &sparse;
    s.pPropertyCount = &sparse_count;
    gen::GetPhysicalDeviceSparseImageFormatProperties2Args sreply;
    REQUIRE(r.call(s, sreply) == DecodeResult::Ok);
    CHECK(*sreply.pPropertyCount == 0);
}

TEST_CASE("external buffer, fence and semaphore properties come from the driver") {
    Context r;
    create_instance(r);
    enumerate_physical_devices(r);
    const protocol::Ref<VkPhysicalDevice> pd{physical_device_id,
                                             id<VkPhysicalDevice>(physical_device_id)};
    VkPhysicalDeviceExternalBufferInfo binfo{};
    binfo.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_BUFFER_INFO;
    binfo.usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT;
    binfo.handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT;
    VkExternalBufferProperties bprops{};
    bprops.sType = VK_STRUCTURE_TYPE_EXTERNAL_BUFFER_PROPERTIES;
    gen::GetPhysicalDeviceExternalBufferPropertiesArgs b;
    b.physicalDevice = pd;
    b.pExternalBufferInfo = &binfo;
    b.pExternalBufferProperties = &bprops;
    gen::GetPhysicalDeviceExternalBufferPropertiesArgs breply;
    REQUIRE(r.call(b, breply) == DecodeResult::Ok);
    // lavapipe exports and imports opaque fds (VK_KHR_external_memory_fd).
    CHECK((breply.pExternalBufferProperties->externalMemoryProperties.compatibleHandleTypes &
           VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT) != 0);

    VkPhysicalDeviceExternalFenceInfo finfo{};
    finfo.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_FENCE_INFO;
    finfo.handleType = VK_EXTERNAL_FENCE_HANDLE_TYPE_SYNC_FD_BIT;
    VkExternalFenceProperties fprops{};
    fprops.sType = VK_STRUCTURE_TYPE_EXTERNAL_FENCE_PROPERTIES;
    fprops.externalFenceFeatures = 0xff; // the driver overwrites it
    gen::GetPhysicalDeviceExternalFencePropertiesArgs f;
    f.physicalDevice = pd;
    f.pExternalFenceInfo = &finfo;
    f.pExternalFenceProperties = &fprops;
    gen::GetPhysicalDeviceExternalFencePropertiesArgs freply;
    REQUIRE(r.call(f, freply) == DecodeResult::Ok);
    CHECK((freply.pExternalFenceProperties->externalFenceFeatures & ~0x3u) == 0);

    VkPhysicalDeviceExternalSemaphoreInfo sinfo{};
    sinfo.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_SEMAPHORE_INFO;
    sinfo.handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT;
    VkExternalSemaphoreProperties sprops{};
    sprops.sType = VK_STRUCTURE_TYPE_EXTERNAL_SEMAPHORE_PROPERTIES;
    sprops.externalSemaphoreFeatures = 0xff;
    gen::GetPhysicalDeviceExternalSemaphorePropertiesArgs sm;
    sm.physicalDevice = pd;
    sm.pExternalSemaphoreInfo = &sinfo;
    sm.pExternalSemaphoreProperties = &sprops;
    gen::GetPhysicalDeviceExternalSemaphorePropertiesArgs smreply;
    REQUIRE(r.call(sm, smreply) == DecodeResult::Ok);
    CHECK((smreply.pExternalSemaphoreProperties->externalSemaphoreFeatures & ~0x3u) == 0);
}

TEST_CASE("calibrateable time domains: count, then the list") {
    Context r;
    create_instance(r);
    enumerate_physical_devices(r);
    std::uint32_t count = 0;
    gen::GetPhysicalDeviceCalibrateableTimeDomainsKHRArgs a;
    a.physicalDevice = {physical_device_id, id<VkPhysicalDevice>(physical_device_id)};
    a.pTimeDomainCount = &count;
    gen::GetPhysicalDeviceCalibrateableTimeDomainsKHRArgs reply;
    REQUIRE(r.call(a, reply) == DecodeResult::Ok);
    REQUIRE(reply.ret == VK_SUCCESS);
    const std::uint32_t n = *reply.pTimeDomainCount;
    REQUIRE(n >= 1);
    // Not VK_TIME_DOMAIN_MAX_ENUM_EXT: vk.xml 1.4 spells it _KHR only.
    std::vector<VkTimeDomainEXT> domains(n, static_cast<VkTimeDomainEXT>(0x7fffffff));
    count = n;
    a.pTimeDomains = domains.data();
    REQUIRE(r.call(a, reply) == DecodeResult::Ok);
    REQUIRE(reply.ret == VK_SUCCESS);
    CHECK(std::find(reply.pTimeDomains, reply.pTimeDomains + n, VK_TIME_DOMAIN_DEVICE_EXT) !=
          reply.pTimeDomains + n);
}

namespace {
constexpr std::uint64_t pool_id = 0x7f0000005000;
constexpr std::uint64_t cb_id = 0x7f0000006000;
constexpr std::uint64_t fence_id = 0x7f0000007000;

// Encodes and runs one command; bad-input tests expect Fatal.
// Shader stages entering at "main", one per module.
template <std::size_t N>
std::array<VkPipelineShaderStageCreateInfo, N>
shader_stages(const VkShaderModule (&modules)[N], const VkShaderStageFlagBits (&kinds)[N]) {
    std::array<VkPipelineShaderStageCreateInfo, N> out{};
    for (std::size_t i = 0; i < N; ++i) {
        out[i].sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
        out[i].stage = kinds[i];
        out[i].module = modules[i];
        out[i].pName = "main";
    }
    return out;
}

// triangle.vert's input: a vec2 position per vertex from binding 0. Points into itself, so it
// stays where it was made.
struct PositionInput {
    VkVertexInputBindingDescription binding{0, 8, VK_VERTEX_INPUT_RATE_VERTEX};
    VkVertexInputAttributeDescription attribute{0, 0, VK_FORMAT_R32G32_SFLOAT, 0};
    VkPipelineVertexInputStateCreateInfo state{
        VK_STRUCTURE_TYPE_PIPELINE_VERTEX_INPUT_STATE_CREATE_INFO,
        nullptr,
        0,
        1,
        &binding,
        1,
        &attribute};
    PositionInput() = default;
    PositionInput(const PositionInput&) = delete;
    PositionInput& operator=(const PositionInput&) = delete;
};

template <typename Args>
DecodeResult submit_one(Context& r, const Args& a, std::uint32_t flags = 0) {
    return r.submit(encode(a, flags));
}

} // namespace

TEST_CASE("a device records a command buffer and a fence signals its submission") {
    Context r;
    const auto dev = create_device(r);
    // The queue, bound to fence timeline 1 as Mesa does.
    VkDeviceQueueTimelineInfoMESA timeline{};
    timeline.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_TIMELINE_INFO_MESA;
    timeline.ringIdx = 1;
    const auto queue = get_queue(r, dev, &timeline);
    const auto cbr = begin_commands(r, dev, pool_id, cb_id);

    VkMemoryBarrier barrier{};
    barrier.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
    barrier.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    barrier.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
    gen::CmdPipelineBarrierArgs pb;
    pb.commandBuffer = cbr;
    pb.srcStageMask = VK_PIPELINE_STAGE_TRANSFER_BIT;
    pb.dstStageMask = VK_PIPELINE_STAGE_HOST_BIT;
    pb.memoryBarrierCount = 1;
    pb.pMemoryBarriers = &barrier;
    send(r, pb); // generated passthrough
    gen::EndCommandBufferArgs end;
    end.commandBuffer = cbr;
    gen::EndCommandBufferArgs end_reply;
    REQUIRE(r.call(end, end_reply) == DecodeResult::Ok);
    CHECK(end_reply.ret == VK_SUCCESS);

    const VkFence fence = create_fence(r, dev, fence_id);

    VkSubmitInfo si{};
    si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cbr.handle;
    gen::QueueSubmitArgs qs;
    qs.queue = queue;
    qs.submitCount = 1;
    qs.pSubmits = &si;
    qs.fence = {fence_id, fence};
    gen::QueueSubmitArgs qs_reply;
    REQUIRE(r.call(qs, qs_reply) == DecodeResult::Ok);
    CHECK(qs_reply.ret == VK_SUCCESS);

    const std::uint64_t fence_ids[] = {fence_id};
    gen::WaitForFencesArgs wf;
    wf.device = dev;
    wf.fenceCount = 1;
    wf.pFences = &fence;
    wf.pFences_ids = fence_ids;
    wf.waitAll = VK_TRUE;
    wf.timeout = 5'000'000'000ull;
    gen::WaitForFencesArgs wf_reply;
    REQUIRE(r.call(wf, wf_reply) == DecodeResult::Ok);
    CHECK(wf_reply.ret == VK_SUCCESS);

    gen::GetFenceStatusArgs gs;
    gs.device = dev;
    gs.fence = {fence_id, fence};
    gen::GetFenceStatusArgs gs_reply;
    REQUIRE(r.call(gs, gs_reply) == DecodeResult::Ok);
    CHECK(gs_reply.ret == VK_SUCCESS);

    SECTION("destroying the pool frees its command buffers' ids") {
        gen::DestroyCommandPoolArgs dp;
        dp.device = dev;
        dp.commandPool = {pool_id, id<VkCommandPool>(pool_id)};
        send(r, dp);
        CHECK_FALSE(r.objects.type_of(cb_id).has_value());
        CHECK(r.submit(encode(pb)) == DecodeResult::Fatal); // the freed buffer is unknown now
    }
    SECTION("destroying the device takes every child with it") {
        gen::DestroyDeviceArgs dd;
        dd.device = dev;
        send(r, dd);
        CHECK_FALSE(r.objects.type_of(queue_id).has_value());
        CHECK_FALSE(r.objects.type_of(pool_id).has_value());
        CHECK_FALSE(r.objects.type_of(cb_id).has_value());
        CHECK_FALSE(r.objects.type_of(fence_id).has_value());
    }
}

TEST_CASE("device extensions the protocol cannot carry are refused") {
    Context r;
    create_instance(r);
    enumerate_physical_devices(r);
    const char* ext[] = {"VK_KHR_swapchain"};
    VkDeviceCreateInfo dci{};
    dci.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
    dci.enabledExtensionCount = 1;
    dci.ppEnabledExtensionNames = ext;
    VkDevice device = id<VkDevice>(device_id);
    gen::CreateDeviceArgs cd;
    cd.physicalDevice = {physical_device_id, id<VkPhysicalDevice>(physical_device_id)};
    cd.pCreateInfo = &dci;
    cd.pDevice = &device;
    gen::CreateDeviceArgs reply;
    REQUIRE(r.call(cd, reply) == DecodeResult::Ok);
    CHECK(reply.ret == VK_ERROR_EXTENSION_NOT_PRESENT);
    CHECK_FALSE(r.objects.type_of(device_id).has_value());
}
namespace {

// Shared memory as the worker would map it: one resource id, one buffer.
class FakeResources final : public decoder::ResourceProvider {
  public:
    std::vector<std::byte> shm_bytes = std::vector<std::byte>(8192);
    std::optional<decoder::ShmRegion> shm(std::uint32_t id) override {
        if (id != 1)
            return std::nullopt;
        return decoder::ShmRegion{shm_bytes.data(), shm_bytes.size()};
    }
};

} // namespace

TEST_CASE("replies go to the reply stream set in shared memory") {
    Context r;
    FakeResources res;
    r.executor.set_resources(&res);
    REQUIRE(r.submit(concat({set_reply_stream(1, 64, 256), version_request()})) ==
            DecodeResult::Ok);
    CHECK(decode_version_reply(res.shm_bytes.data() + 64, 256) >= VK_API_VERSION_1_1);
    CHECK(r.replies.empty()); // nothing went to the test's own writer

    SECTION("seek moves the write position") {
        gen::SeekReplyCommandStreamMESAArgs seek;
        seek.position = 128;
        REQUIRE(r.submit(concat({encode(seek), version_request()})) == DecodeResult::Ok);
        CHECK(decode_version_reply(res.shm_bytes.data() + 64 + 128, 128) >= VK_API_VERSION_1_1);
    }
    SECTION("seeking past the end is fatal") {
        gen::SeekReplyCommandStreamMESAArgs seek;
        seek.position = 257;
        CHECK(submit_one(r, seek) == DecodeResult::Fatal);
    }
}

TEST_CASE("reply streams outside their resource, or not shm, are fatal") {
    Context r;
    FakeResources res;
    r.executor.set_resources(&res);
    const auto [resource, offset, size] = GENERATE(std::tuple{2u, 0ull, 16ull},      // unknown
                                                   std::tuple{1u, 8190ull, 16ull},   // past the end
                                                   std::tuple{1u, 8193ull, 0ull},    // offset past
                                                   std::tuple{1u, 8ull, ~0ull - 4}); // wraps
    CHECK(r.submit(set_reply_stream(resource, static_cast<std::size_t>(offset),
                                    static_cast<std::size_t>(size))) == DecodeResult::Fatal);
}

TEST_CASE("a reply larger than the reply stream is fatal") {
    Context r;
    FakeResources res;
    r.executor.set_resources(&res);
    CHECK(r.submit(concat({set_reply_stream(1, 0, 8), version_request()})) == DecodeResult::Fatal);
    CHECK(r.fatal.reason().find("does not fit") != std::string::npos);
}

TEST_CASE("command streams execute out of shared memory, one level deep") {
    Context r;
    FakeResources res;
    r.executor.set_resources(&res);
    const auto inner = concat({set_reply_stream(1, 64, 256), version_request()});
    std::copy(inner.begin(), inner.end(), res.shm_bytes.begin() + 4096);

    VkCommandStreamDescriptionMESA stream{1, 4096, inner.size()};
    gen::ExecuteCommandStreamsMESAArgs ex;
    ex.streamCount = 1;
    ex.pStreams = &stream;
    const std::vector<std::byte> outer = encode(ex);

    SECTION("the executed stream runs and replies") {
        REQUIRE(r.submit(outer) == DecodeResult::Ok);
        CHECK(decode_version_reply(res.shm_bytes.data() + 64, 256) >= VK_API_VERSION_1_1);
    }
    SECTION("a stream that executes streams is fatal") {
        std::copy(outer.begin(), outer.end(), res.shm_bytes.begin() + 4096);
        stream.size = outer.size();
        CHECK(r.submit(encode(ex)) == DecodeResult::Fatal);
        CHECK(r.fatal.reason().find("inside an executed stream") != std::string::npos);
    }
    SECTION("a stream outside its resource is fatal before anything runs") {
        stream.offset = 8000;
        CHECK(r.submit(encode(ex)) == DecodeResult::Fatal);
    }
}

TEST_CASE("plain device children: generated create and destroy, ownership checked") {
    Context r;
    const auto dev = create_device(r);
    constexpr std::uint64_t buffer_id = 0x7f0000008000;
    VkBufferCreateInfo bci{};
    bci.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
    bci.size = 4096;
    bci.usage = VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    VkBuffer buffer = id<VkBuffer>(buffer_id);
    gen::CreateBufferArgs cb;
    cb.device = dev;
    cb.pCreateInfo = &bci;
    cb.pBuffer = &buffer;
    gen::CreateBufferArgs cb_reply;
    REQUIRE(r.call(cb, cb_reply) == DecodeResult::Ok);
    CHECK(cb_reply.ret == VK_SUCCESS);
    CHECK(r.objects.type_of(buffer_id) == VK_OBJECT_TYPE_BUFFER);

    SECTION("the same id twice is fatal") {
        CHECK(submit_one(r, cb) == DecodeResult::Fatal);
    }
    SECTION("destroy forgets the id") {
        gen::DestroyBufferArgs db;
        db.device = dev;
        db.buffer = {buffer_id, buffer};
        send(r, db);
        CHECK_FALSE(r.objects.type_of(buffer_id).has_value());
    }
    SECTION("destroying it as another type is fatal") {
        gen::DestroyImageArgs di;
        di.device = dev;
        di.image = {buffer_id, id<VkImage>(buffer_id)};
        CHECK(submit_one(r, di) == DecodeResult::Fatal);
        CHECK(r.objects.type_of(buffer_id) == VK_OBJECT_TYPE_BUFFER);
    }
    SECTION("the device takes it along") {
        gen::DestroyDeviceArgs dd;
        dd.device = dev;
        send(r, dd);
        CHECK_FALSE(r.objects.type_of(buffer_id).has_value());
    }
}

TEST_CASE("host-visible memory is a sealed memfd the GPU writes and the guest maps") {
    Context r;
    const auto dev = create_device(r);
    const auto queue = get_queue(r, dev);
    constexpr std::uint64_t buffer_id = 0x7f0000008000, memory_id = 0x7f0000009000;
    constexpr VkDeviceSize size = 64 * 1024;
    const auto b =
        create_bound_buffer(r, dev, buffer_id, memory_id, size, VK_BUFFER_USAGE_TRANSFER_DST_BIT);
    const auto cbr = begin_commands(r, dev, pool_id, cb_id);
    gen::CmdFillBufferArgs fill;
    fill.commandBuffer = cbr;
    fill.dstBuffer = b.buffer;
    fill.size = VK_WHOLE_SIZE;
    fill.data = 0xc0ffee11u;
    send(r, fill);
    end_submit_wait(r, dev, queue, cbr);

    const auto blob = r.executor.export_memory(memory_id);
    REQUIRE(blob.has_value());
    const int seals = ::fcntl(blob->fd, F_GET_SEALS);
    CHECK((seals & F_SEAL_SHRINK) != 0);
    CHECK((seals & F_SEAL_GROW) != 0);
    ::close(blob->fd);
    const auto words = read_memory(r, memory_id, size / 4);
    CHECK(std::count(words.begin(), words.end(), 0xc0ffee11u) ==
          static_cast<std::ptrdiff_t>(size / 4));
    CHECK_FALSE(r.executor.export_memory(buffer_id).has_value()); // not a memory object

    // A second buffer bound where it would run past the end of the memory is refused before
    // the driver sees it: the GPU would otherwise write outside our mapping.
    constexpr std::uint64_t second_id = 0x7f000000a000;
    const auto second = create_buffer(r, dev, second_id, size, VK_BUFFER_USAGE_TRANSFER_DST_BIT);
    VkBindBufferMemoryInfo past{};
    past.sType = VK_STRUCTURE_TYPE_BIND_BUFFER_MEMORY_INFO;
    past.buffer = second.handle;
    past.memory = b.memory.handle;
    past.memoryOffset = b.requirements.size;
    gen::BindBufferMemory2Args bm;
    bm.device = dev;
    bm.bindInfoCount = 1;
    bm.pBindInfos = &past;
    CHECK(submit_one(r, bm) == DecodeResult::Fatal);
    CHECK(r.fatal.reason().find("does not fit its memory") != std::string::npos);
}

namespace {
// The set layout of vn_fill_comp_spv: binding 0, one storage buffer.
VkDescriptorSetLayout create_fill_set_layout(Context& r, const protocol::Ref<VkDevice>& dev,
                                             std::uint64_t dsl_id) {
    VkDescriptorSetLayoutBinding binding{0, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1,
                                         VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
    VkDescriptorSetLayoutCreateInfo dslci{};
    dslci.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO;
    dslci.bindingCount = 1;
    dslci.pBindings = &binding;
    VkDescriptorSetLayout dsl = id<VkDescriptorSetLayout>(dsl_id);
    gen::CreateDescriptorSetLayoutArgs cdsl;
    cdsl.device = dev;
    cdsl.pCreateInfo = &dslci;
    cdsl.pSetLayout = &dsl;
    send(r, cdsl);
    return dsl;
}
} // namespace

TEST_CASE("a compute shader writes a buffer the guest maps") {
    Context r;
    const auto dev = create_device(r);
    const auto queue = get_queue(r, dev);
    constexpr std::uint32_t invocations = 256;
    constexpr std::uint64_t buffer_id = 0x7f0000010000, memory_id = 0x7f0000011000,
                            dsl_id = 0x7f0000012000, layout_id = 0x7f0000013000,
                            shader_id = 0x7f0000014000, pipeline_id = 0x7f0000015000,
                            dpool_id = 0x7f0000016000, set_id = 0x7f0000017000;
    const auto b = create_bound_buffer(r, dev, buffer_id, memory_id, invocations * 4,
                                       VK_BUFFER_USAGE_STORAGE_BUFFER_BIT);

    const VkDescriptorSetLayout dsl = create_fill_set_layout(r, dev, dsl_id);
    const VkPipelineLayout layout = create_pipeline_layout(r, dev, layout_id, {dsl});
    const VkShaderModule shader =
        create_shader_module(r, dev, shader_id, vn_fill_comp_spv, sizeof(vn_fill_comp_spv));
    VkComputePipelineCreateInfo cpci{};
    cpci.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO;
    cpci.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
    cpci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    cpci.stage.module = shader;
    cpci.stage.pName = "main";
    cpci.layout = layout;
    VkPipeline pipeline = id<VkPipeline>(pipeline_id);
    gen::CreateComputePipelinesArgs ccp;
    ccp.device = dev;
    ccp.createInfoCount = 1;
    ccp.pCreateInfos = &cpci;
    ccp.pPipelines = &pipeline;
    gen::CreateComputePipelinesArgs ccp_reply;
    REQUIRE(r.call(ccp, ccp_reply) == DecodeResult::Ok);
    REQUIRE(ccp_reply.ret == VK_SUCCESS);

    VkDescriptorPoolSize pool_size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1};
    VkDescriptorPoolCreateInfo dpci{};
    dpci.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO;
    dpci.maxSets = 1;
    dpci.poolSizeCount = 1;
    dpci.pPoolSizes = &pool_size;
    VkDescriptorPool dpool = id<VkDescriptorPool>(dpool_id);
    gen::CreateDescriptorPoolArgs cdp;
    cdp.device = dev;
    cdp.pCreateInfo = &dpci;
    cdp.pDescriptorPool = &dpool;
    send(r, cdp);
    VkDescriptorSetAllocateInfo dsai{};
    dsai.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO;
    dsai.descriptorPool = dpool;
    dsai.descriptorSetCount = 1;
    dsai.pSetLayouts = &dsl;
    VkDescriptorSet set = id<VkDescriptorSet>(set_id);
    gen::AllocateDescriptorSetsArgs ads;
    ads.device = dev;
    ads.pAllocateInfo = &dsai;
    ads.pDescriptorSets = &set;
    send(r, ads);
    VkDescriptorBufferInfo dbi{b.buffer.handle, 0, VK_WHOLE_SIZE};
    VkWriteDescriptorSet write{};
    write.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
    write.dstSet = set;
    write.descriptorCount = 1;
    write.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    write.pBufferInfo = &dbi;
    gen::UpdateDescriptorSetsArgs uds;
    uds.device = dev;
    uds.descriptorWriteCount = 1;
    uds.pDescriptorWrites = &write;
    send(r, uds);

    const auto cbr = begin_commands(r, dev, pool_id, cb_id);
    gen::CmdBindPipelineArgs bp;
    bp.commandBuffer = cbr;
    bp.pipelineBindPoint = VK_PIPELINE_BIND_POINT_COMPUTE;
    bp.pipeline = {pipeline_id, pipeline};
    send(r, bp);
    const std::uint64_t set_ids[] = {set_id};
    gen::CmdBindDescriptorSetsArgs bds;
    bds.commandBuffer = cbr;
    bds.pipelineBindPoint = VK_PIPELINE_BIND_POINT_COMPUTE;
    bds.layout = {layout_id, layout};
    bds.descriptorSetCount = 1;
    bds.pDescriptorSets = &set;
    bds.pDescriptorSets_ids = set_ids;
    send(r, bds);
    gen::CmdDispatchArgs disp;
    disp.commandBuffer = cbr;
    disp.groupCountX = invocations / 64;
    disp.groupCountY = 1;
    disp.groupCountZ = 1;
    send(r, disp);
    end_submit_wait(r, dev, queue, cbr);

    const auto values = read_memory(r, memory_id, invocations);
    std::uint32_t good = 0;
    for (std::uint32_t i = 0; i < invocations; ++i)
        good += values[i] == i * 3 + 1;
    CHECK(good == invocations);

    SECTION("a descriptor range past the end of the buffer is fatal before the driver") {
        dbi.offset = 4;
        dbi.range = invocations * 4;
        CHECK(submit_one(r, uds) == DecodeResult::Fatal);
        CHECK(r.fatal.reason().find("vkUpdateDescriptorSets: [4, +1024) lies outside") !=
              std::string::npos);
    }
    SECTION("a descriptor write past its binding is fatal before the driver") {
        write.dstArrayElement = 1; // the binding has one descriptor
        CHECK(submit_one(r, uds) == DecodeResult::Fatal);
        CHECK(r.fatal.reason().find("which its set does not have") != std::string::npos);
    }
    SECTION("a write to a binding the layout does not have is fatal") {
        write.dstBinding = 7;
        CHECK(submit_one(r, uds) == DecodeResult::Fatal);
    }
    SECTION("sets bound past the pipeline layout's are fatal before the driver") {
        bds.firstSet = 1;
        CHECK(submit_one(r, bds) == DecodeResult::Fatal);
        CHECK(r.fatal.reason().find("sets 1 +1 of a layout with 1") != std::string::npos);
    }
    SECTION("dynamic offsets for sets without dynamic descriptors are fatal") {
        const std::uint32_t offsets[] = {0};
        bds.dynamicOffsetCount = 1;
        bds.pDynamicOffsets = offsets;
        CHECK(submit_one(r, bds) == DecodeResult::Fatal);
        CHECK(r.fatal.reason().find("1 dynamic offsets for 0") != std::string::npos);
    }
    SECTION("destroying the descriptor pool retires its sets") {
        gen::DestroyDescriptorPoolArgs ddp;
        ddp.device = dev;
        ddp.descriptorPool = {dpool_id, dpool};
        send(r, ddp);
        CHECK_FALSE(r.objects.type_of(set_id).has_value());
    }
}

// dEQP-VK.pipeline.*.creation_cache_control.*: the driver made some pipelines of a batch and
// not the others (VK_PIPELINE_COMPILE_REQUIRED), the reply still named all of them, and the
// guest's later vkDestroyPipeline of one never made ended its context.
TEST_CASE("pipelines a batch did not make come back null in the reply") {
    Context r;
    const auto dev = create_device(r);
    constexpr std::uint64_t dsl_id = 0x7f0000038f00, layout_id = 0x7f0000039000,
                            shader_id = 0x7f0000039100,
                            pipeline_ids[2] = {0x7f0000039200, 0x7f0000039300};
    const VkDescriptorSetLayout dsl = create_fill_set_layout(r, dev, dsl_id);
    const VkPipelineLayout layout = create_pipeline_layout(r, dev, layout_id, {dsl});
    const VkShaderModule shader =
        create_shader_module(r, dev, shader_id, vn_fill_comp_spv, sizeof(vn_fill_comp_spv));
    VkComputePipelineCreateInfo infos[2]{};
    for (auto& info : infos) {
        info.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO;
        info.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
        info.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
        info.stage.module = shader;
        info.stage.pName = "main";
        info.layout = layout;
    }
    // Nothing is cached, so a driver that honours the flag cannot make the first one.
    infos[0].flags = VK_PIPELINE_CREATE_FAIL_ON_PIPELINE_COMPILE_REQUIRED_BIT;
    VkPipeline pipelines[2] = {id<VkPipeline>(pipeline_ids[0]), id<VkPipeline>(pipeline_ids[1])};
    gen::CreateComputePipelinesArgs ccp;
    ccp.device = dev;
    ccp.createInfoCount = 2;
    ccp.pCreateInfos = infos;
    ccp.pPipelines = pipelines;
    gen::CreateComputePipelinesArgs reply;
    REQUIRE(r.call(ccp, reply) == DecodeResult::Ok);
    // Lavapipe keeps no pipeline cache: it makes the second and not the first.
    REQUIRE(reply.ret == VK_PIPELINE_COMPILE_REQUIRED);
    CHECK(reply.pPipelines[0] == VK_NULL_HANDLE);
    CHECK(reply.pPipelines[1] == id<VkPipeline>(pipeline_ids[1]));

    // The one made is the guest's to destroy; the one not made is a free id again.
    gen::DestroyPipelineArgs destroy;
    destroy.device = dev;
    destroy.pipeline = {pipeline_ids[1], id<VkPipeline>(pipeline_ids[1])};
    CHECK(submit_one(r, destroy) == DecodeResult::Ok);
    destroy.pipeline = {pipeline_ids[0], id<VkPipeline>(pipeline_ids[0])};
    CHECK(submit_one(r, destroy) == DecodeResult::Fatal);
    CHECK(r.fatal.reason().find("unknown VkPipeline id") != std::string::npos);
}

TEST_CASE("timeline semaphores: signal, read back and wait through generated passthrough") {
    Context r;
    VkPhysicalDeviceVulkan12Features v12{};
    v12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
    v12.timelineSemaphore = VK_TRUE;
    const auto dev = create_device(r, &v12);

    constexpr std::uint64_t sem_id = 0x7f0000020000;
    const VkSemaphore sem = create_timeline_semaphore(r, dev, sem_id, 1);
    CHECK(signal_semaphore(r, dev, sem, 5) == VK_SUCCESS);

    std::uint64_t value = 0;
    gen::GetSemaphoreCounterValueArgs gv;
    gv.device = dev;
    gv.semaphore = {sem_id, sem};
    gv.pValue = &value;
    gen::GetSemaphoreCounterValueArgs gv_reply;
    REQUIRE(r.call(gv, gv_reply) == DecodeResult::Ok);
    CHECK(gv_reply.ret == VK_SUCCESS);
    CHECK(*gv_reply.pValue == 5);

    const std::uint64_t wait_value = 5;
    VkSemaphoreWaitInfo wait{};
    wait.sType = VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO;
    wait.semaphoreCount = 1;
    wait.pSemaphores = &sem;
    wait.pValues = &wait_value;
    gen::WaitSemaphoresArgs ws;
    ws.device = dev;
    ws.pWaitInfo = &wait;
    ws.timeout = 1'000'000'000ull;
    gen::WaitSemaphoresArgs ws_reply;
    REQUIRE(r.call(ws, ws_reply) == DecodeResult::Ok);
    CHECK(ws_reply.ret == VK_SUCCESS);
}

// On lavapipe the executor sends a submission of several batches as two, the last batch waiting
// on a semaphore of its own that the others signal (sync.cpp: llvmpipe finishes fragment-shader
// stores after later batches ran, which Mesa's fence feedback turns into early fences; the CTS
// cases dEQP-VK.robustness.buffer_access.fragment.* caught it). The guest's own semaphores, the
// arrays beside them and the fence must come through that rewrite intact, for vkQueueSubmit and
// vkQueueSubmit2, and the queue's semaphore must serve submission after submission. With a
// timeline semaphore on the device nothing is split: a batch waiting for a value the host
// signals afterwards must not block the submission (that deadlocked
// dEQP-VK.synchronization.timeline_semaphore.device_host.*).
TEST_CASE("batches of one submission keep their semaphores and fence when the last one is gated") {
    Context r;
    VkPhysicalDeviceVulkan12Features v12{};
    v12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
    v12.timelineSemaphore = VK_TRUE;
    VkPhysicalDeviceVulkan13Features v13{};
    v13.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES;
    v13.synchronization2 = VK_TRUE;
    v12.pNext = &v13;
    const auto dev = create_device(r, &v12);
    const auto queue = get_queue(r, dev);
    constexpr std::uint64_t sem_ids[] = {0x7f0000021000, 0x7f0000021001};
    constexpr std::uint64_t timeline_id = 0x7f0000021002, fence2_id = 0x7f0000021100;
    const VkSemaphore sems[] = {create_semaphore(r, dev, sem_ids[0]),
                                create_semaphore(r, dev, sem_ids[1])};
    const VkFence fences[] = {create_fence(r, dev, fence_id), create_fence(r, dev, fence2_id)};
    const std::uint64_t fence_ids[] = {fence_id, fence2_id};
    auto wait_fence = [&](int f) {
        gen::WaitForFencesArgs wf;
        wf.device = dev;
        wf.fenceCount = 1;
        wf.pFences = &fences[f];
        wf.pFences_ids = &fence_ids[f];
        wf.waitAll = VK_TRUE;
        wf.timeout = 5'000'000'000ull;
        gen::WaitForFencesArgs wf_reply;
        REQUIRE(r.call(wf, wf_reply) == DecodeResult::Ok);
        REQUIRE(wf_reply.ret == VK_SUCCESS);
        gen::ResetFencesArgs rf;
        rf.device = dev;
        rf.fenceCount = 1;
        rf.pFences = &fences[f];
        rf.pFences_ids = &fence_ids[f];
        send(r, rf);
    };
    const VkPipelineStageFlags stage = VK_PIPELINE_STAGE_ALL_COMMANDS_BIT;
    const std::uint64_t unused_values[] = {0};
    // Three batches chained by binary semaphores, with timeline value arrays beside them (allowed,
    // and ignored for binary semaphores): the gate extends those too. Twice, so that the
    // queue's own semaphore is signalled and waited on again.
    auto submit_chain = [&](int f) {
        VkTimelineSemaphoreSubmitInfo values[3]{};
        VkSubmitInfo batches[3]{};
        for (int i = 0; i < 3; ++i) {
            values[i].sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO;
            values[i].waitSemaphoreValueCount = i > 0 ? 1 : 0;
            values[i].pWaitSemaphoreValues = unused_values;
            values[i].signalSemaphoreValueCount = i < 2 ? 1 : 0;
            values[i].pSignalSemaphoreValues = unused_values;
            batches[i].sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
            batches[i].pNext = &values[i];
            batches[i].waitSemaphoreCount = i > 0 ? 1 : 0;
            batches[i].pWaitSemaphores = i > 0 ? &sems[i - 1] : nullptr;
            batches[i].pWaitDstStageMask = &stage;
            batches[i].signalSemaphoreCount = i < 2 ? 1 : 0;
            batches[i].pSignalSemaphores = i < 2 ? &sems[i] : nullptr;
        }
        gen::QueueSubmitArgs qs;
        qs.queue = queue;
        qs.submitCount = 3;
        qs.pSubmits = batches;
        qs.fence = {fence_ids[f], fences[f]};
        gen::QueueSubmitArgs qs_reply;
        REQUIRE(r.call(qs, qs_reply) == DecodeResult::Ok);
        REQUIRE(qs_reply.ret == VK_SUCCESS);
        wait_fence(f);
    };
    submit_chain(0);
    submit_chain(1);

    // vkQueueSubmit2: two batches, the second waiting on the first's semaphore.
    VkSemaphoreSubmitInfo link{};
    link.sType = VK_STRUCTURE_TYPE_SEMAPHORE_SUBMIT_INFO;
    link.semaphore = sems[0];
    link.stageMask = VK_PIPELINE_STAGE_2_ALL_COMMANDS_BIT;
    VkSubmitInfo2 batches2[2]{};
    batches2[0].sType = VK_STRUCTURE_TYPE_SUBMIT_INFO_2;
    batches2[0].signalSemaphoreInfoCount = 1;
    batches2[0].pSignalSemaphoreInfos = &link;
    batches2[1].sType = VK_STRUCTURE_TYPE_SUBMIT_INFO_2;
    batches2[1].waitSemaphoreInfoCount = 1;
    batches2[1].pWaitSemaphoreInfos = &link;
    gen::QueueSubmit2Args qs2;
    qs2.queue = queue;
    qs2.submitCount = 2;
    qs2.pSubmits = batches2;
    qs2.fence = {fence2_id, fences[1]};
    gen::QueueSubmit2Args qs2_reply;
    REQUIRE(r.call(qs2, qs2_reply) == DecodeResult::Ok);
    REQUIRE(qs2_reply.ret == VK_SUCCESS);
    wait_fence(1);

    // A timeline semaphore now exists: a submission whose first batch waits for a value the host
    // signals only after the submission returned.
    const VkSemaphore timeline = create_timeline_semaphore(r, dev, timeline_id);
    const std::uint64_t one = 1;
    VkTimelineSemaphoreSubmitInfo wait_value{};
    wait_value.sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO;
    wait_value.waitSemaphoreValueCount = 1;
    wait_value.pWaitSemaphoreValues = &one;
    VkSubmitInfo later[2]{};
    later[0].sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
    later[0].pNext = &wait_value;
    later[0].waitSemaphoreCount = 1;
    later[0].pWaitSemaphores = &timeline;
    later[0].pWaitDstStageMask = &stage;
    later[1].sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
    gen::QueueSubmitArgs qs;
    qs.queue = queue;
    qs.submitCount = 2;
    qs.pSubmits = later;
    qs.fence = {fence_ids[0], fences[0]};
    gen::QueueSubmitArgs qs_reply;
    REQUIRE(r.call(qs, qs_reply) == DecodeResult::Ok);
    REQUIRE(qs_reply.ret == VK_SUCCESS);
    CHECK(signal_semaphore(r, dev, timeline, 1) == VK_SUCCESS);
    wait_fence(0);
}

namespace {

constexpr std::uint32_t image_size = 32;

// A 32x32 RGBA8 image the draw renders into and the copy reads, and its requirements.
// An image made from `ici`, and its memory requirements.
VkMemoryRequirements create_image(Context& r, const protocol::Ref<VkDevice>& dev,
                                  std::uint64_t image_id, const VkImageCreateInfo& ici) {
    VkImage image = id<VkImage>(image_id);
    gen::CreateImageArgs ci;
    ci.device = dev;
    ci.pCreateInfo = &ici;
    ci.pImage = &image;
    gen::CreateImageArgs ci_reply;
    REQUIRE(r.call(ci, ci_reply) == DecodeResult::Ok);
    REQUIRE(ci_reply.ret == VK_SUCCESS);

    VkImageMemoryRequirementsInfo2 ri{};
    ri.sType = VK_STRUCTURE_TYPE_IMAGE_MEMORY_REQUIREMENTS_INFO_2;
    ri.image = image;
    VkMemoryRequirements2 req{};
    req.sType = VK_STRUCTURE_TYPE_MEMORY_REQUIREMENTS_2;
    gen::GetImageMemoryRequirements2Args gr;
    gr.device = dev;
    gr.pInfo = &ri;
    gr.pMemoryRequirements = &req;
    gen::GetImageMemoryRequirements2Args gr_reply;
    REQUIRE(r.call(gr, gr_reply) == DecodeResult::Ok);
    return gr_reply.pMemoryRequirements->memoryRequirements;
}

VkMemoryRequirements create_color_image(Context& r, const protocol::Ref<VkDevice>& dev,
                                        std::uint64_t image_id) {
    VkImageCreateInfo ici{};
    ici.sType = VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO;
    ici.imageType = VK_IMAGE_TYPE_2D;
    ici.format = VK_FORMAT_R8G8B8A8_UNORM;
    ici.extent = {image_size, image_size, 1};
    ici.mipLevels = 1;
    ici.arrayLayers = 1;
    ici.samples = VK_SAMPLE_COUNT_1_BIT;
    ici.tiling = VK_IMAGE_TILING_OPTIMAL;
    ici.usage = VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT | VK_IMAGE_USAGE_TRANSFER_SRC_BIT;
    ici.initialLayout = VK_IMAGE_LAYOUT_UNDEFINED;
    const VkMemoryRequirements mr = create_image(r, dev, image_id, ici);
    REQUIRE(mr.size >= image_size * image_size * 4);
    return mr;
}

// The arguments of vkCreateImageView for a 2D view of a color image; tests change `info` or
// `view` before submitting `args` to try views the image cannot have. Not copyable: `args`
// points at the members.
struct ColorImageViewArgs {
    VkImageViewCreateInfo info{};
    VkImageView view;
    gen::CreateImageViewArgs args;

    ColorImageViewArgs(const protocol::Ref<VkDevice>& dev, VkImage image, std::uint64_t view_id,
                       const VkImageSubresourceRange& range)
        : view(id<VkImageView>(view_id)) {
        info.sType = VK_STRUCTURE_TYPE_IMAGE_VIEW_CREATE_INFO;
        info.image = image;
        info.viewType = VK_IMAGE_VIEW_TYPE_2D;
        info.format = VK_FORMAT_R8G8B8A8_UNORM;
        info.subresourceRange = range;
        args.device = dev;
        args.pCreateInfo = &info;
        args.pView = &view;
    }
    ColorImageViewArgs(const ColorImageViewArgs&) = delete;
    ColorImageViewArgs& operator=(const ColorImageViewArgs&) = delete;
};

// Whether the center of pixel (x, y) lies inside the triangle, and by how much (in pixels) it
// clears every edge; pixels within a pixel of an edge are not compared.
struct Coverage {
    bool inside;
    bool near_edge;
};
Coverage triangle_coverage(const float (&v)[3][2], std::uint32_t x, std::uint32_t y) {
    const float half = image_size / 2.0f;
    const float px = (static_cast<float>(x) + 0.5f) / half - 1.0f;
    const float py = (static_cast<float>(y) + 0.5f) / half - 1.0f;
    bool inside = true, near_edge = false;
    for (int i = 0; i < 3; ++i) {
        const float* a = v[i];
        const float* b = v[(i + 1) % 3];
        const float ex = b[0] - a[0], ey = b[1] - a[1];
        const float len = std::sqrt(ex * ex + ey * ey);
        // Signed distance in NDC, converted to pixels; the winding below is clockwise on screen.
        const float dist = ((px - a[0]) * ey - (py - a[1]) * ex) / len * half;
        inside &= dist <= 0;
        near_edge |= std::fabs(dist) < 1.5f;
    }
    return {inside, near_edge};
}

} // namespace

TEST_CASE("a triangle through a render pass and graphics pipeline, read back through memory") {
    Context r;
    const auto dev = create_device(r);
    const auto queue = get_queue(r, dev);
    constexpr std::uint64_t image_id = 0x7f0000030000, image_memory_id = 0x7f0000030100,
                            view_id = 0x7f0000030200, pass_id = 0x7f0000030300,
                            fb_id = 0x7f0000030400, vs_id = 0x7f0000030500, fs_id = 0x7f0000030600,
                            layout_id = 0x7f0000030700, pipeline_id = 0x7f0000030800,
                            vbuf_id = 0x7f0000030900, vmem_id = 0x7f0000030a00,
                            rbuf_id = 0x7f0000030b00, rmem_id = 0x7f0000030c00,
                            query_pool_id = 0x7f0000030d00, qbuf_id = 0x7f0000030e00,
                            qmem_id = 0x7f0000030f00;

    // Bad input at two points of the way (each fatal before the driver), or none. Sections
    // cannot end the test early: the ones after a return would never be discovered.
    enum class Bad {
        none,
        no_viewports,
        copy_past_buffer,
        copy_outside_image,
        framebuffer_too_big,
        render_area_outside,
        no_clear_value
    };
    const Bad bad =
        GENERATE(Bad::none, Bad::no_viewports, Bad::copy_past_buffer, Bad::copy_outside_image,
                 Bad::framebuffer_too_big, Bad::render_area_outside, Bad::no_clear_value);

    const VkMemoryRequirements mr = create_color_image(r, dev, image_id);
    const auto image_memory = allocate_memory(r, dev, image_memory_id, mr.size, mr.memoryTypeBits);
    const VkImage image = id<VkImage>(image_id);
    VkBindImageMemoryInfo bind{};
    bind.sType = VK_STRUCTURE_TYPE_BIND_IMAGE_MEMORY_INFO;
    bind.image = image;
    bind.memory = image_memory.handle;
    gen::BindImageMemory2Args bim;
    bim.device = dev;
    bim.bindInfoCount = 1;
    bim.pBindInfos = &bind;
    gen::BindImageMemory2Args bim_reply;
    REQUIRE(r.call(bim, bim_reply) == DecodeResult::Ok);
    REQUIRE(bim_reply.ret == VK_SUCCESS);

    const ColorImageViewArgs civ(dev, image, view_id, {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1});
    send(r, civ.args);

    VkAttachmentDescription color{};
    color.format = VK_FORMAT_R8G8B8A8_UNORM;
    color.samples = VK_SAMPLE_COUNT_1_BIT;
    color.loadOp = VK_ATTACHMENT_LOAD_OP_CLEAR;
    color.storeOp = VK_ATTACHMENT_STORE_OP_STORE;
    color.stencilLoadOp = VK_ATTACHMENT_LOAD_OP_DONT_CARE;
    color.stencilStoreOp = VK_ATTACHMENT_STORE_OP_DONT_CARE;
    color.initialLayout = VK_IMAGE_LAYOUT_UNDEFINED;
    color.finalLayout = VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL;
    VkAttachmentReference color_ref{0, VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL};
    VkSubpassDescription subpass{};
    subpass.pipelineBindPoint = VK_PIPELINE_BIND_POINT_GRAPHICS;
    subpass.colorAttachmentCount = 1;
    subpass.pColorAttachments = &color_ref;
    // The copy after the pass waits for the attachment writes.
    VkSubpassDependency dep{};
    dep.srcSubpass = 0;
    dep.dstSubpass = VK_SUBPASS_EXTERNAL;
    dep.srcStageMask = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT;
    dep.dstStageMask = VK_PIPELINE_STAGE_TRANSFER_BIT;
    dep.srcAccessMask = VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT;
    dep.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT;
    VkRenderPassCreateInfo rpci{};
    rpci.sType = VK_STRUCTURE_TYPE_RENDER_PASS_CREATE_INFO;
    rpci.attachmentCount = 1;
    rpci.pAttachments = &color;
    rpci.subpassCount = 1;
    rpci.pSubpasses = &subpass;
    rpci.dependencyCount = 1;
    rpci.pDependencies = &dep;
    VkRenderPass pass = id<VkRenderPass>(pass_id);
    gen::CreateRenderPassArgs crp;
    crp.device = dev;
    crp.pCreateInfo = &rpci;
    crp.pRenderPass = &pass;
    send(r, crp);

    VkFramebufferCreateInfo fbci{};
    fbci.sType = VK_STRUCTURE_TYPE_FRAMEBUFFER_CREATE_INFO;
    fbci.renderPass = pass;
    fbci.attachmentCount = 1;
    fbci.pAttachments = &civ.view;
    fbci.width = image_size;
    fbci.height = image_size;
    fbci.layers = 1;
    VkFramebuffer fb = id<VkFramebuffer>(fb_id);
    gen::CreateFramebufferArgs cfb;
    cfb.device = dev;
    cfb.pCreateInfo = &fbci;
    cfb.pFramebuffer = &fb;
    if (bad == Bad::framebuffer_too_big) {
        fbci.height = image_size + 1; // the driver would render past the image's last row
        CHECK(submit_one(r, cfb) == DecodeResult::Fatal);
        CHECK(r.fatal.reason().find("attachment 0 is smaller than the framebuffer") !=
              std::string::npos);
        return;
    }
    send(r, cfb);

    const VkShaderModule modules[2] = {
        create_shader_module(r, dev, vs_id, vn_triangle_vert_spv, sizeof(vn_triangle_vert_spv)),
        create_shader_module(r, dev, fs_id, vn_triangle_frag_spv, sizeof(vn_triangle_frag_spv))};
    const VkPipelineLayout layout = create_pipeline_layout(r, dev, layout_id);

    const auto stages =
        shader_stages(modules, {VK_SHADER_STAGE_VERTEX_BIT, VK_SHADER_STAGE_FRAGMENT_BIT});
    const PositionInput vi;
    VkPipelineInputAssemblyStateCreateInfo ia{};
    ia.sType = VK_STRUCTURE_TYPE_PIPELINE_INPUT_ASSEMBLY_STATE_CREATE_INFO;
    ia.topology = VK_PRIMITIVE_TOPOLOGY_TRIANGLE_LIST;
    VkViewport viewport{0, 0, image_size, image_size, 0, 1};
    VkRect2D scissor{{0, 0}, {image_size, image_size}};
    VkPipelineViewportStateCreateInfo vp{};
    vp.sType = VK_STRUCTURE_TYPE_PIPELINE_VIEWPORT_STATE_CREATE_INFO;
    vp.viewportCount = 1;
    vp.pViewports = &viewport;
    vp.scissorCount = 1;
    vp.pScissors = &scissor;
    VkPipelineRasterizationStateCreateInfo rs{};
    rs.sType = VK_STRUCTURE_TYPE_PIPELINE_RASTERIZATION_STATE_CREATE_INFO;
    rs.polygonMode = VK_POLYGON_MODE_FILL;
    rs.cullMode = VK_CULL_MODE_NONE;
    rs.frontFace = VK_FRONT_FACE_CLOCKWISE;
    rs.lineWidth = 1.0f;
    VkPipelineMultisampleStateCreateInfo ms{};
    ms.sType = VK_STRUCTURE_TYPE_PIPELINE_MULTISAMPLE_STATE_CREATE_INFO;
    ms.rasterizationSamples = VK_SAMPLE_COUNT_1_BIT;
    VkPipelineColorBlendAttachmentState blend{};
    blend.colorWriteMask = VK_COLOR_COMPONENT_R_BIT | VK_COLOR_COMPONENT_G_BIT |
                           VK_COLOR_COMPONENT_B_BIT | VK_COLOR_COMPONENT_A_BIT;
    VkPipelineColorBlendStateCreateInfo cb{};
    cb.sType = VK_STRUCTURE_TYPE_PIPELINE_COLOR_BLEND_STATE_CREATE_INFO;
    cb.attachmentCount = 1;
    cb.pAttachments = &blend;
    VkGraphicsPipelineCreateInfo gpci{};
    gpci.sType = VK_STRUCTURE_TYPE_GRAPHICS_PIPELINE_CREATE_INFO;
    gpci.stageCount = 2;
    gpci.pStages = stages.data();
    gpci.pVertexInputState = &vi.state;
    gpci.pInputAssemblyState = &ia;
    gpci.pViewportState = &vp;
    gpci.pRasterizationState = &rs;
    gpci.pMultisampleState = &ms;
    gpci.pColorBlendState = &cb;
    gpci.layout = layout;
    gpci.renderPass = pass;
    gpci.subpass = 0;
    VkPipeline pipeline = id<VkPipeline>(pipeline_id);
    gen::CreateGraphicsPipelinesArgs cgp;
    cgp.device = dev;
    cgp.createInfoCount = 1;
    cgp.pCreateInfos = &gpci;
    cgp.pPipelines = &pipeline;

    if (bad == Bad::no_viewports) {
        vp.pViewports = nullptr;
        CHECK(submit_one(r, cgp) == DecodeResult::Fatal);
        CHECK(r.fatal.reason().find("no viewports") != std::string::npos);
        return;
    }
    gen::CreateGraphicsPipelinesArgs cgp_reply;
    REQUIRE(r.call(cgp, cgp_reply) == DecodeResult::Ok);
    REQUIRE(cgp_reply.ret == VK_SUCCESS);

    // Clockwise on screen (y points down in Vulkan's clip space).
    const float vertices[3][2] = {{0.0f, -0.75f}, {0.75f, 0.75f}, {-0.75f, 0.75f}};
    const auto vbuf =
        create_bound_buffer(r, dev, vbuf_id, vmem_id, sizeof(vertices),
                            VK_BUFFER_USAGE_VERTEX_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT);
    constexpr VkDeviceSize readback_size = image_size * image_size * 4;
    const auto rbuf = create_bound_buffer(r, dev, rbuf_id, rmem_id, readback_size,
                                          VK_BUFFER_USAGE_TRANSFER_DST_BIT);

    VkQueryPoolCreateInfo qpci{};
    qpci.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO;
    qpci.queryType = VK_QUERY_TYPE_OCCLUSION;
    qpci.queryCount = 2;
    VkQueryPool query_pool = id<VkQueryPool>(query_pool_id);
    gen::CreateQueryPoolArgs cqp;
    cqp.device = dev;
    cqp.pCreateInfo = &qpci;
    cqp.pQueryPool = &query_pool;
    send(r, cqp);
    const protocol::Ref<VkQueryPool> pool_ref{query_pool_id, query_pool};

    const auto cbr = begin_commands(r, dev, pool_id, cb_id);
    gen::CmdResetQueryPoolArgs reset;
    reset.commandBuffer = cbr;
    reset.queryPool = pool_ref;
    reset.firstQuery = 0;
    reset.queryCount = 2;
    send(r, reset);
    gen::CmdUpdateBufferArgs upd;
    upd.commandBuffer = cbr;
    upd.dstBuffer = vbuf.buffer;
    upd.dataSize = sizeof(vertices);
    upd.pData = vertices;
    send(r, upd);
    VkMemoryBarrier barrier{};
    barrier.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
    barrier.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    barrier.dstAccessMask = VK_ACCESS_VERTEX_ATTRIBUTE_READ_BIT;
    gen::CmdPipelineBarrierArgs pb;
    pb.commandBuffer = cbr;
    pb.srcStageMask = VK_PIPELINE_STAGE_TRANSFER_BIT;
    pb.dstStageMask = VK_PIPELINE_STAGE_VERTEX_INPUT_BIT;
    pb.memoryBarrierCount = 1;
    pb.pMemoryBarriers = &barrier;
    send(r, pb);

    VkClearValue clear{};
    clear.color.float32[0] = 1.0f;
    clear.color.float32[3] = 1.0f;
    VkRenderPassBeginInfo rpbi{};
    rpbi.sType = VK_STRUCTURE_TYPE_RENDER_PASS_BEGIN_INFO;
    rpbi.renderPass = pass;
    rpbi.framebuffer = fb;
    rpbi.renderArea = scissor;
    rpbi.clearValueCount = 1;
    rpbi.pClearValues = &clear;
    gen::CmdBeginRenderPassArgs brp;
    brp.commandBuffer = cbr;
    brp.pRenderPassBegin = &rpbi;
    brp.contents = VK_SUBPASS_CONTENTS_INLINE;
    if (bad == Bad::render_area_outside || bad == Bad::no_clear_value) {
        if (bad == Bad::render_area_outside)
            rpbi.renderArea.offset.x = 1; // the clear would write past the framebuffer
        else
            rpbi.clearValueCount = 0; // the driver would read a clear value that is not there
        CHECK(submit_one(r, brp) == DecodeResult::Fatal);
        CHECK(r.fatal.reason().find(bad == Bad::render_area_outside
                                        ? "the render area or the attachments"
                                        : "0 clear values for 1 cleared attachments") !=
              std::string::npos);
        return;
    }
    send(r, brp);
    gen::CmdBindPipelineArgs bp;
    bp.commandBuffer = cbr;
    bp.pipelineBindPoint = VK_PIPELINE_BIND_POINT_GRAPHICS;
    bp.pipeline = {pipeline_id, pipeline};
    send(r, bp);
    const std::uint64_t vbuf_ids[] = {vbuf_id};
    const VkDeviceSize offsets[] = {0};
    gen::CmdBindVertexBuffersArgs bvb;
    bvb.commandBuffer = cbr;
    bvb.firstBinding = 0;
    bvb.bindingCount = 1;
    bvb.pBuffers = &vbuf.buffer.handle;
    bvb.pBuffers_ids = vbuf_ids;
    bvb.pOffsets = offsets;
    send(r, bvb);
    gen::CmdBeginQueryArgs bq;
    bq.commandBuffer = cbr;
    bq.queryPool = pool_ref;
    bq.query = 1;
    bq.flags = VK_QUERY_CONTROL_PRECISE_BIT;
    send(r, bq);
    gen::CmdDrawArgs draw;
    draw.commandBuffer = cbr;
    draw.vertexCount = 3;
    draw.instanceCount = 1;
    send(r, draw);
    gen::CmdEndQueryArgs eq;
    eq.commandBuffer = cbr;
    eq.queryPool = pool_ref;
    eq.query = 1;
    send(r, eq);
    gen::CmdEndRenderPassArgs erp;
    erp.commandBuffer = cbr;
    send(r, erp);
    VkBufferImageCopy region{};
    region.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1};
    region.imageExtent = {image_size, image_size, 1};
    gen::CmdCopyImageToBufferArgs copy;
    copy.commandBuffer = cbr;
    copy.srcImage = {image_id, image};
    copy.srcImageLayout = VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL;
    copy.dstBuffer = rbuf.buffer;
    copy.regionCount = 1;
    copy.pRegions = &region;

    if (bad == Bad::copy_past_buffer) {
        region.bufferOffset = 4;
        CHECK(submit_one(r, copy) == DecodeResult::Fatal);
        CHECK(r.fatal.reason().find("lies outside a buffer of 4096 bytes") != std::string::npos);
        return;
    }
    if (bad == Bad::copy_outside_image) {
        region.imageOffset = {1, 0, 0};
        CHECK(submit_one(r, copy) == DecodeResult::Fatal);
        CHECK(r.fatal.reason().find("outside the image") != std::string::npos);
        return;
    }
    send(r, copy);
    // The query copied into a buffer with its availability, as Mesa's Venus driver does for its
    // query feedback: the executor copies the values on their own first (query.cpp says why),
    // and the buffer must still end as the one copy would leave it.
    const auto qbuf =
        create_bound_buffer(r, dev, qbuf_id, qmem_id, 64, VK_BUFFER_USAGE_TRANSFER_DST_BIT);
    gen::CmdCopyQueryPoolResultsArgs cq;
    cq.commandBuffer = cbr;
    cq.queryPool = pool_ref;
    cq.firstQuery = 1;
    cq.queryCount = 1;
    cq.dstBuffer = qbuf.buffer;
    cq.dstOffset = 8;
    cq.stride = 16;
    cq.flags =
        VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WITH_AVAILABILITY_BIT | VK_QUERY_RESULT_WAIT_BIT;
    send(r, cq);
    end_submit_wait(r, dev, queue, cbr);

    // The guest's view of the pixels, through the memfd it maps.
    const auto pixels = read_memory(r, rmem_id, image_size * image_size);
    const std::uint32_t green = 0xff00ff00u, red = 0xff0000ffu; // RGBA8 bytes, little endian
    std::uint32_t checked = 0, wrong = 0, covered = 0;
    for (std::uint32_t y = 0; y < image_size; ++y)
        for (std::uint32_t x = 0; x < image_size; ++x) {
            const std::uint32_t p = pixels[y * image_size + x];
            covered += p == green;
            const Coverage c = triangle_coverage(vertices, x, y);
            if (c.near_edge)
                continue;
            ++checked;
            wrong += p != (c.inside ? green : red);
        }
    CHECK(checked > image_size * image_size / 2);
    CHECK(wrong == 0);
    CHECK(covered > 100);

    // The occlusion query counted exactly the covered samples; read through the checked path.
    std::uint64_t results[2] = {~0ull, ~0ull};
    gen::GetQueryPoolResultsArgs gq;
    gq.device = dev;
    gq.queryPool = pool_ref;
    gq.firstQuery = 1;
    gq.queryCount = 1;
    gq.dataSize = sizeof(results);
    gq.pData = results;
    gq.stride = sizeof(results);
    gq.flags = VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WITH_AVAILABILITY_BIT;
    gen::GetQueryPoolResultsArgs gq_reply;
    REQUIRE(r.call(gq, gq_reply) == DecodeResult::Ok);
    REQUIRE(gq_reply.ret == VK_SUCCESS);
    std::uint64_t got[2];
    std::memcpy(got, gq_reply.pData, sizeof(got));
    CHECK(got[0] == covered);
    CHECK(got[1] == 1); // available
    const auto copied = read_memory(r, qmem_id, 8);
    CHECK(copied[0] == 0); // before dstOffset: untouched
    CHECK(copied[1] == 0);
    CHECK(copied[2] == covered); // the value (64 bits)
    CHECK(copied[3] == 0);
    CHECK(copied[4] == 1); // availability
    CHECK(copied[5] == 0);
    CHECK(copied[6] == 0); // past the one slot: untouched
    CHECK(copied[7] == 0);

    SECTION("query results past the end of the pool are fatal") {
        gq.firstQuery = 1;
        gq.queryCount = 2;
        gq.stride = 8;
        CHECK(submit_one(r, gq, VK_COMMAND_GENERATE_REPLY_BIT_EXT) == DecodeResult::Fatal);
        CHECK(r.fatal.reason().find("are not in a pool of 2") != std::string::npos);
    }
    SECTION("a stride that takes results past the reply buffer is fatal") {
        gq.firstQuery = 0;
        gq.queryCount = 2;
        gq.stride = 1u << 20;
        CHECK(submit_one(r, gq, VK_COMMAND_GENERATE_REPLY_BIT_EXT) == DecodeResult::Fatal);
        CHECK(r.fatal.reason().find("the guest gave 16") != std::string::npos);
    }
    SECTION("results larger than the reply buffer are fatal") {
        gq.queryCount = 1;
        gq.dataSize = 8; // 64-bit value plus availability need 16
        CHECK(submit_one(r, gq, VK_COMMAND_GENERATE_REPLY_BIT_EXT) == DecodeResult::Fatal);
        CHECK(r.fatal.reason().find("need 16 bytes") != std::string::npos);
    }
    SECTION("the device takes images, views, passes, framebuffers and pipelines along") {
        gen::DestroyDeviceArgs dd;
        dd.device = dev;
        send(r, dd);
        for (std::uint64_t gone : {image_id, view_id, pass_id, fb_id, pipeline_id, query_pool_id})
            CHECK_FALSE(r.objects.type_of(gone).has_value());
    }
}

TEST_CASE("an image bound past the end of its memory is fatal before the driver") {
    Context r;
    const auto dev = create_device(r);
    constexpr std::uint64_t image_id = 0x7f0000031000, memory_id = 0x7f0000031100;
    const VkMemoryRequirements mr = create_color_image(r, dev, image_id);
    const auto memory = allocate_memory(r, dev, memory_id, mr.size, mr.memoryTypeBits);
    gen::BindImageMemoryArgs bind;
    bind.device = dev;
    bind.image = {image_id, id<VkImage>(image_id)};
    bind.memory = memory;
    bind.memoryOffset = mr.alignment; // the image no longer fits
    CHECK(submit_one(r, bind) == DecodeResult::Fatal);
    CHECK(r.fatal.reason().find("does not fit its memory") != std::string::npos);
}

TEST_CASE("buffer ranges in commands are checked before the driver records them") {
    Context r;
    const auto dev = create_device(r);
    constexpr std::uint64_t buffer_id = 0x7f0000032000, memory_id = 0x7f0000032100;
    const auto b =
        create_bound_buffer(r, dev, buffer_id, memory_id, 4096,
                            VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT |
                                VK_BUFFER_USAGE_INDIRECT_BUFFER_BIT);
    const auto cbr = begin_commands(r, dev, pool_id, cb_id);
    gen::CmdFillBufferArgs fill;
    fill.commandBuffer = cbr;
    fill.dstBuffer = b.buffer;
    fill.dstOffset = 4000;
    fill.size = 96;
    fill.data = 1;
    send(r, fill); // ends exactly at the end

    SECTION("a fill past the end") {
        fill.size = 100;
        CHECK(submit_one(r, fill) == DecodeResult::Fatal);
        CHECK(r.fatal.reason().find("vkCmdFillBuffer: [4000, +100) lies outside") !=
              std::string::npos);
    }
    SECTION("a fill whose end wraps around") {
        fill.size = ~0ull - 8;
        CHECK(submit_one(r, fill) == DecodeResult::Fatal);
    }
    SECTION("a whole-size fill from past the end") {
        fill.dstOffset = 4100;
        fill.size = VK_WHOLE_SIZE;
        CHECK(submit_one(r, fill) == DecodeResult::Fatal);
    }
    SECTION("a copy region past the end") {
        VkBufferCopy region{0, 2048, 2049};
        gen::CmdCopyBufferArgs copy;
        copy.commandBuffer = cbr;
        copy.srcBuffer = b.buffer;
        copy.dstBuffer = b.buffer;
        copy.regionCount = 1;
        copy.pRegions = &region;
        CHECK(submit_one(r, copy) == DecodeResult::Fatal);
        CHECK(r.fatal.reason().find("vkCmdCopyBuffer destination") != std::string::npos);
    }
    SECTION("indirect draws past the end") {
        gen::CmdDrawIndirectArgs draw;
        draw.commandBuffer = cbr;
        draw.buffer = b.buffer;
        draw.offset = 0;
        draw.drawCount = 256;
        draw.stride = 16; // 256 records of 16 bytes fill the buffer exactly
        send(r, draw);
        draw.offset = 4;
        CHECK(submit_one(r, draw) == DecodeResult::Fatal);
        CHECK(r.fatal.reason().find("vkCmdDrawIndirect") != std::string::npos);
    }
    SECTION("an indirect dispatch past the end") {
        gen::CmdDispatchIndirectArgs disp;
        disp.commandBuffer = cbr;
        disp.buffer = b.buffer;
        disp.offset = 4096 - 8;
        CHECK(submit_one(r, disp) == DecodeResult::Fatal);
    }
    SECTION("a vertex buffer binding past maxVertexInputBindings") {
        const std::uint64_t ids[] = {buffer_id};
        const VkDeviceSize offsets[] = {0};
        gen::CmdBindVertexBuffersArgs bvb;
        bvb.commandBuffer = cbr;
        bvb.firstBinding = 1u << 20;
        bvb.bindingCount = 1;
        bvb.pBuffers = &b.buffer.handle;
        bvb.pBuffers_ids = ids;
        bvb.pOffsets = offsets;
        CHECK(submit_one(r, bvb) == DecodeResult::Fatal);
        CHECK(r.fatal.reason().find("maxVertexInputBindings") != std::string::npos);
    }
    SECTION("a texel buffer view past the end") {
        VkBufferViewCreateInfo bvci{};
        bvci.sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO;
        bvci.buffer = b.buffer.handle;
        bvci.format = VK_FORMAT_R32_UINT;
        bvci.offset = 64;
        bvci.range = 4096;
        VkBufferView view = id<VkBufferView>(0x7f0000032200);
        gen::CreateBufferViewArgs cbv;
        cbv.device = dev;
        cbv.pCreateInfo = &bvci;
        cbv.pView = &view;
        CHECK(submit_one(r, cbv) == DecodeResult::Fatal);
        CHECK(r.fatal.reason().find("vkCreateBufferView: [64, +4096)") != std::string::npos);
    }
    SECTION("an update past the end") {
        const std::uint32_t words[32] = {};
        gen::CmdUpdateBufferArgs upd;
        upd.commandBuffer = cbr;
        upd.dstBuffer = b.buffer;
        upd.dstOffset = 4096 - 64;
        upd.dataSize = sizeof(words);
        upd.pData = words;
        CHECK(submit_one(r, upd) == DecodeResult::Fatal);
    }
}

TEST_CASE("dynamic state and push constants stay inside the driver's fixed arrays") {
    Context r;
    const auto dev = create_device(r);
    constexpr std::uint64_t layout_id = 0x7f0000033000;
    const VkPushConstantRange range{VK_SHADER_STAGE_COMPUTE_BIT, 0, 16};
    VkPipelineLayoutCreateInfo plci{};
    plci.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO;
    plci.pushConstantRangeCount = 1;
    plci.pPushConstantRanges = &range;
    VkPipelineLayout layout = id<VkPipelineLayout>(layout_id);
    gen::CreatePipelineLayoutArgs cpl;
    cpl.device = dev;
    cpl.pCreateInfo = &plci;
    cpl.pPipelineLayout = &layout;
    send(r, cpl);
    const auto cbr = begin_commands(r, dev, pool_id, cb_id);

    const std::uint32_t values[4] = {1, 2, 3, 4};
    gen::CmdPushConstantsArgs push;
    push.commandBuffer = cbr;
    push.layout = protocol::Ref<VkPipelineLayout>{layout_id, layout};
    push.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
    push.offset = 0;
    push.size = sizeof(values);
    push.pValues = values;
    send(r, push); // the whole range

    const VkViewport viewport{0, 0, 16, 16, 0, 1};
    gen::CmdSetViewportArgs vp;
    vp.commandBuffer = cbr;
    vp.firstViewport = 0;
    vp.viewportCount = 1;
    vp.pViewports = &viewport;
    send(r, vp);

    SECTION("push constants past the layout's block") {
        push.offset = 4;
        CHECK(submit_one(r, push) == DecodeResult::Fatal);
        CHECK(r.fatal.reason().find("vkCmdPushConstants: push constants [4, +16)") !=
              std::string::npos);
    }
    SECTION("push constants far past it") {
        push.offset = 1u << 30;
        CHECK(submit_one(r, push) == DecodeResult::Fatal);
    }
    SECTION("a viewport past maxViewports") {
        vp.firstViewport = 1u << 16;
        CHECK(submit_one(r, vp) == DecodeResult::Fatal);
        CHECK(r.fatal.reason().find("maxViewports") != std::string::npos);
    }
    SECTION("a scissor past maxViewports") {
        const VkRect2D rect{{0, 0}, {16, 16}};
        gen::CmdSetScissorArgs sc;
        sc.commandBuffer = cbr;
        sc.firstScissor = 1u << 16;
        sc.scissorCount = 1;
        sc.pScissors = &rect;
        CHECK(submit_one(r, sc) == DecodeResult::Fatal);
    }
    SECTION("more counted viewports than maxViewports") {
        std::vector<VkViewport> many(1024, viewport);
        gen::CmdSetViewportWithCountArgs vwc;
        vwc.commandBuffer = cbr;
        vwc.viewportCount = static_cast<std::uint32_t>(many.size());
        vwc.pViewports = many.data();
        CHECK(submit_one(r, vwc) == DecodeResult::Fatal);
        CHECK(r.fatal.reason().find("vkCmdSetViewportWithCount") != std::string::npos);
    }
    SECTION("a push constant range past maxPushConstantsSize") {
        const VkPushConstantRange big{VK_SHADER_STAGE_COMPUTE_BIT, 0, 1u << 20};
        plci.pPushConstantRanges = &big;
        VkPipelineLayout other = id<VkPipelineLayout>(layout_id + 1);
        cpl.pPipelineLayout = &other;
        CHECK(submit_one(r, cpl) == DecodeResult::Fatal);
        CHECK(r.fatal.reason().find("maxPushConstantsSize") != std::string::npos);
    }
}

TEST_CASE("pipeline cache data is bounded by the guest's buffer and the cache") {
    Context r;
    const auto dev = create_device(r);
    constexpr std::uint64_t cache_id = 0x7f0000033000;
    VkPipelineCacheCreateInfo pcci{};
    pcci.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO;
    VkPipelineCache cache = id<VkPipelineCache>(cache_id);
    gen::CreatePipelineCacheArgs cpc;
    cpc.device = dev;
    cpc.pCreateInfo = &pcci;
    cpc.pPipelineCache = &cache;
    send(r, cpc);

    std::size_t size = 0;
    gen::GetPipelineCacheDataArgs g;
    g.device = dev;
    g.pipelineCache = {cache_id, cache};
    g.pDataSize = &size;
    gen::GetPipelineCacheDataArgs g_reply;
    REQUIRE(r.call(g, g_reply) == DecodeResult::Ok);
    REQUIRE(g_reply.ret == VK_SUCCESS);
    const std::size_t cache_size = *g_reply.pDataSize;
    REQUIRE(cache_size >= 16); // at least the header

    // A guest buffer far larger than the cache gets only the cache's bytes back.
    std::vector<std::byte> big(cache_size + 4096);
    size = big.size();
    g.pData = big.data();
    REQUIRE(r.call(g, g_reply) == DecodeResult::Ok);
    CHECK(g_reply.ret == VK_SUCCESS);
    CHECK(*g_reply.pDataSize == cache_size);
    std::uint32_t header_size = 0;
    std::memcpy(&header_size, g_reply.pData, 4);
    CHECK(header_size >= 16); // VkPipelineCacheHeaderVersionOne.headerSize

    // A smaller one gets what fits, and VK_INCOMPLETE.
    size = 8;
    REQUIRE(r.call(g, g_reply) == DecodeResult::Ok);
    CHECK(g_reply.ret == VK_INCOMPLETE);
    CHECK(*g_reply.pDataSize <= 8);
}

TEST_CASE("image regions, ranges and views are checked before the driver") {
    Context r;
    const auto dev = create_device(r);
    constexpr std::uint64_t image_id = 0x7f0000034000, memory_id = 0x7f0000034100,
                            view_id = 0x7f0000034200;
    const VkMemoryRequirements mr = create_color_image(r, dev, image_id);
    const protocol::Ref<VkImage> image{image_id, id<VkImage>(image_id)};

    ColorImageViewArgs civ(
        dev, image.handle, view_id,
        {VK_IMAGE_ASPECT_COLOR_BIT, 0, VK_REMAINING_MIP_LEVELS, 0, VK_REMAINING_ARRAY_LAYERS});

    const auto memory = allocate_memory(r, dev, memory_id, mr.size, mr.memoryTypeBits);
    gen::BindImageMemoryArgs bind;
    bind.device = dev;
    bind.image = image;
    bind.memory = memory;
    gen::BindImageMemoryArgs bind_reply;
    REQUIRE(r.call(bind, bind_reply) == DecodeResult::Ok);
    REQUIRE(bind_reply.ret == VK_SUCCESS);
    send(r, civ.args);

    const auto cbr = begin_commands(r, dev, pool_id, cb_id);
    VkImageSubresourceRange level0{VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1};
    VkClearColorValue color{};
    gen::CmdClearColorImageArgs clear;
    clear.commandBuffer = cbr;
    clear.image = image;
    clear.imageLayout = VK_IMAGE_LAYOUT_GENERAL;
    clear.pColor = &color;
    clear.rangeCount = 1;
    clear.pRanges = &level0;
    send(r, clear);
    VkImageCopy copy_region{};
    copy_region.srcSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1};
    copy_region.dstSubresource = copy_region.srcSubresource;
    copy_region.dstOffset = {16, 16, 0};
    copy_region.extent = {16, 16, 1};
    gen::CmdCopyImageArgs copy;
    copy.commandBuffer = cbr;
    copy.srcImage = image;
    copy.srcImageLayout = VK_IMAGE_LAYOUT_GENERAL;
    copy.dstImage = image;
    copy.dstImageLayout = VK_IMAGE_LAYOUT_GENERAL;
    copy.regionCount = 1;
    copy.pRegions = &copy_region;
    send(r, copy); // the lower right quarter: inside

    // Each of these would make the driver touch texels or levels the image does not have.
    const int bad = GENERATE(range(0, 6));
    std::string expected;
    DecodeResult result = DecodeResult::Ok;
    VkImageBlit blit_region{};
    gen::CmdBlitImageArgs blit;
    switch (bad) {
    case 0:
        civ.info.subresourceRange.baseMipLevel = 1;
        civ.view = id<VkImageView>(view_id + 1);
        result = submit_one(r, civ.args);
        expected = "vkCreateImageView: levels 1";
        break;
    case 1:
        level0.baseArrayLayer = 1;
        result = submit_one(r, clear);
        expected = "vkCmdClearColorImage: range 0";
        break;
    case 2:
        copy_region.dstOffset = {17, 16, 0};
        result = submit_one(r, copy);
        expected = "vkCmdCopyImage destination: the region lies outside";
        break;
    case 3:
        copy_region.srcOffset = {0, 0, 1}; // a 2D image has one slice
        result = submit_one(r, copy);
        expected = "vkCmdCopyImage source: the region lies outside";
        break;
    case 4:
        blit_region.srcSubresource = copy_region.srcSubresource;
        blit_region.dstSubresource = copy_region.srcSubresource;
        blit_region.srcOffsets[0] = {32, 32, 0};
        blit_region.srcOffsets[1] = {-1, 0, 1}; // reversed corners, one past the left edge
        blit_region.dstOffsets[1] = {32, 32, 1};
        blit.commandBuffer = cbr;
        blit.srcImage = image;
        blit.srcImageLayout = VK_IMAGE_LAYOUT_GENERAL;
        blit.dstImage = image;
        blit.dstImageLayout = VK_IMAGE_LAYOUT_GENERAL;
        blit.regionCount = 1;
        blit.pRegions = &blit_region;
        blit.filter = VK_FILTER_NEAREST;
        result = submit_one(r, blit);
        expected = "vkCmdBlitImage source: the region lies outside";
        break;
    default: {
        VkImageSubresource sub{VK_IMAGE_ASPECT_COLOR_BIT, 1, 0};
        VkSubresourceLayout layout{};
        gen::GetImageSubresourceLayoutArgs gl;
        gl.device = dev;
        gl.image = image;
        gl.pSubresource = &sub;
        gl.pLayout = &layout;
        result = submit_one(r, gl, VK_COMMAND_GENERATE_REPLY_BIT_EXT);
        expected = "vkGetImageSubresourceLayout: no such subresource (level 1";
        break;
    }
    }
    INFO("case " << bad << ": " << r.fatal.reason());
    CHECK(result == DecodeResult::Fatal);
    CHECK(r.fatal.reason().find(expected) != std::string::npos);
}

// dEQP-VK.api.copy_and_blit.*.image_to_image.3d_images.{3d_to_2d,2d_to_3d}_whole ended their
// contexts: the depth of a copy between a 3D and a 2D image counts the 2D side's layers.
TEST_CASE("copies between a 3D and a 2D array image map slices to layers") {
    Context r;
    const auto dev = create_device(r);
    constexpr std::uint32_t side = 16, slices = 4;
    VkImageCreateInfo ici{};
    ici.sType = VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO;
    ici.format = VK_FORMAT_R8G8B8A8_UNORM;
    ici.mipLevels = 1;
    ici.samples = VK_SAMPLE_COUNT_1_BIT;
    ici.tiling = VK_IMAGE_TILING_OPTIMAL;
    ici.usage = VK_IMAGE_USAGE_TRANSFER_SRC_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT;
    const auto bound = [&](std::uint64_t image_id, std::uint64_t memory_id, VkImageType type,
                           std::uint32_t depth, std::uint32_t layers) {
        ici.imageType = type;
        ici.extent = {side, side, depth};
        ici.arrayLayers = layers;
        const VkMemoryRequirements mr = create_image(r, dev, image_id, ici);
        const protocol::Ref<VkImage> image{image_id, id<VkImage>(image_id)};
        gen::BindImageMemoryArgs bind;
        bind.device = dev;
        bind.image = image;
        bind.memory = allocate_memory(r, dev, memory_id, mr.size, mr.memoryTypeBits);
        gen::BindImageMemoryArgs bind_reply;
        REQUIRE(r.call(bind, bind_reply) == DecodeResult::Ok);
        REQUIRE(bind_reply.ret == VK_SUCCESS);
        return image;
    };
    const auto volume = bound(0x7f0000038000, 0x7f0000038100, VK_IMAGE_TYPE_3D, slices, 1);
    const auto array = bound(0x7f0000038200, 0x7f0000038300, VK_IMAGE_TYPE_2D, 1, slices);
    const auto cbr = begin_commands(r, dev, pool_id, cb_id);

    VkImageCopy region{};
    region.srcSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1};
    region.dstSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, slices};
    region.extent = {side, side, slices};
    gen::CmdCopyImageArgs copy;
    copy.commandBuffer = cbr;
    copy.srcImage = volume;
    copy.srcImageLayout = VK_IMAGE_LAYOUT_GENERAL;
    copy.dstImage = array;
    copy.dstImageLayout = VK_IMAGE_LAYOUT_GENERAL;
    copy.regionCount = 1;
    copy.pRegions = &region;
    REQUIRE(submit_one(r, copy) == DecodeResult::Ok); // every slice into its layer

    VkImageCopy2 region2{};
    region2.sType = VK_STRUCTURE_TYPE_IMAGE_COPY_2;
    region2.srcSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 2};
    region2.dstSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1};
    region2.dstOffset = {0, 0, 2};
    region2.extent = {side, side, 2};
    VkCopyImageInfo2 info2{};
    info2.sType = VK_STRUCTURE_TYPE_COPY_IMAGE_INFO_2;
    info2.srcImage = array.handle;
    info2.srcImageLayout = VK_IMAGE_LAYOUT_GENERAL;
    info2.dstImage = volume.handle;
    info2.dstImageLayout = VK_IMAGE_LAYOUT_GENERAL;
    info2.regionCount = 1;
    info2.pRegions = &region2;
    gen::CmdCopyImage2Args copy2;
    copy2.commandBuffer = cbr;
    copy2.pCopyImageInfo = &info2;
    REQUIRE(submit_one(r, copy2) == DecodeResult::Ok); // layers 1 and 2 into slices 2 and 3

    // A depth beyond the layers named would have the driver copy layers nobody checked.
    const bool second = GENERATE(false, true);
    DecodeResult result;
    std::string expected;
    if (!second) {
        region.dstSubresource.layerCount = 2;
        result = submit_one(r, copy);
        expected = "vkCmdCopyImage destination: a copy between a 3D and a 2D image covers 4 "
                   "slices but 2 layers";
    } else {
        region2.srcSubresource.layerCount = 1;
        result = submit_one(r, copy2);
        expected = "vkCmdCopyImage2: a copy between a 3D and a 2D image covers 2 slices but 1 "
                   "layers";
    }
    INFO(r.fatal.reason());
    CHECK(result == DecodeResult::Fatal);
    CHECK(r.fatal.reason().find(expected) != std::string::npos);
}

TEST_CASE("buffers and images without memory are fatal in commands and views") {
    Context r;
    const auto dev = create_device(r);
    SECTION("a view of an image without memory") {
        constexpr std::uint64_t image_id = 0x7f0000035100, view_id = 0x7f0000035200;
        create_color_image(r, dev, image_id);
        const ColorImageViewArgs civ(dev, id<VkImage>(image_id), view_id,
                                     {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1});
        CHECK(submit_one(r, civ.args) == DecodeResult::Fatal);
        CHECK(r.fatal.reason().find("not bound to memory") != std::string::npos);
    }
    SECTION("a fill of a buffer without memory") {
        constexpr std::uint64_t buffer_id = 0x7f0000035000;
        const auto buffer =
            create_buffer(r, dev, buffer_id, 4096, VK_BUFFER_USAGE_TRANSFER_DST_BIT);
        const auto cbr = begin_commands(r, dev, pool_id, cb_id);
        gen::CmdFillBufferArgs fill;
        fill.commandBuffer = cbr;
        fill.dstBuffer = buffer;
        fill.size = VK_WHOLE_SIZE;
        CHECK(submit_one(r, fill) == DecodeResult::Fatal);
        CHECK(r.fatal.reason().find("vkCmdFillBuffer: a buffer not bound to memory") !=
              std::string::npos);
    }
}

TEST_CASE("calibrated timestamps: only with the extension enabled, and then the driver's") {
    VkCalibratedTimestampInfoEXT info[2]{};
    for (auto& i : info)
        i.sType = VK_STRUCTURE_TYPE_CALIBRATED_TIMESTAMP_INFO_EXT;
    info[0].timeDomain = VK_TIME_DOMAIN_DEVICE_EXT;
    info[1].timeDomain = VK_TIME_DOMAIN_CLOCK_MONOTONIC_EXT;
    std::uint64_t stamps[2]{};
    std::uint64_t deviation = 0;
    gen::GetCalibratedTimestampsKHRArgs a;
    a.timestampCount = 2;
    a.pTimestampInfos = info;
    a.pTimestamps = stamps;
    a.pMaxDeviation = &deviation;
    SECTION("enabled") {
        Context r;
        a.device = create_device(r, nullptr, {"VK_EXT_calibrated_timestamps"});
        gen::GetCalibratedTimestampsKHRArgs reply;
        REQUIRE(r.call(a, reply) == DecodeResult::Ok);
        REQUIRE(reply.ret == VK_SUCCESS);
        CHECK(reply.pTimestamps[0] != 0);
        CHECK(reply.pTimestamps[1] != 0);
    }
    SECTION("not enabled: fatal, the driver never called") {
        Context r;
        a.device = create_device(r);
        CHECK(submit_one(r, a, VK_COMMAND_GENERATE_REPLY_BIT_EXT) == DecodeResult::Fatal);
        CHECK(r.fatal.reason().find("is not enabled on this device") != std::string::npos);
    }
}

TEST_CASE("a structure vk.xml marks allowduplicate may repeat in a pNext chain") {
    // dEQP-VK.api.object_management.private_data.*: each VkDevicePrivateDataCreateInfo reserves
    // slots, and the CTS chains two.
    Context r;
    VkDevicePrivateDataCreateInfo first{};
    first.sType = VK_STRUCTURE_TYPE_DEVICE_PRIVATE_DATA_CREATE_INFO;
    first.privateDataSlotRequestCount = 2;
    VkDevicePrivateDataCreateInfo second = first;
    second.pNext = &first;
    second.privateDataSlotRequestCount = 3;
    create_device(r, &second);
    CHECK_FALSE(r.is_fatal());
}

// A pipeline may leave a state out when the members it would set are dynamic
// (VK_EXT_extended_dynamic_state2/3); Debian 12's lavapipe reads it anyway and crashed the worker
// (dEQP-VK.pipeline.*.extended_dynamic_state.*.null_*_state crash natively too). The executor
// hands such drivers a placeholder; without the dynamic state a missing one is the guest's error,
// fatal before the driver sees it.
TEST_CASE("a pipeline that leaves out states whose members are dynamic is created") {
    Context r;
    VkPhysicalDeviceGraphicsPipelineLibraryFeaturesEXT gpl{};
    gpl.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_GRAPHICS_PIPELINE_LIBRARY_FEATURES_EXT;
    gpl.graphicsPipelineLibrary = VK_TRUE;
    VkPhysicalDeviceExtendedDynamicState2FeaturesEXT eds2{};
    eds2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTENDED_DYNAMIC_STATE_2_FEATURES_EXT;
    eds2.pNext = &gpl;
    eds2.extendedDynamicState2PatchControlPoints = VK_TRUE;
    VkPhysicalDeviceFeatures2 features{};
    features.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
    features.pNext = &eds2;
    features.features.tessellationShader = VK_TRUE;
    const auto dev = create_device(r, &features,
                                   {VK_EXT_EXTENDED_DYNAMIC_STATE_2_EXTENSION_NAME,
                                    VK_KHR_PIPELINE_LIBRARY_EXTENSION_NAME,
                                    VK_EXT_GRAPHICS_PIPELINE_LIBRARY_EXTENSION_NAME});
    constexpr std::uint64_t vs_id = 0x7f0000041000, tcs_id = 0x7f0000042000,
                            tes_id = 0x7f0000043000, layout_id = 0x7f0000044000,
                            pipeline_id = 0x7f0000045000;
    const VkShaderModule modules[3] = {
        create_shader_module(r, dev, vs_id, vn_triangle_vert_spv, sizeof(vn_triangle_vert_spv)),
        create_shader_module(r, dev, tcs_id, vn_patch_tesc_spv, sizeof(vn_patch_tesc_spv)),
        create_shader_module(r, dev, tes_id, vn_patch_tese_spv, sizeof(vn_patch_tese_spv))};
    const auto stages = shader_stages(modules, {VK_SHADER_STAGE_VERTEX_BIT,
                                                VK_SHADER_STAGE_TESSELLATION_CONTROL_BIT,
                                                VK_SHADER_STAGE_TESSELLATION_EVALUATION_BIT});
    const PositionInput vi;
    VkPipelineInputAssemblyStateCreateInfo ia{};
    ia.sType = VK_STRUCTURE_TYPE_PIPELINE_INPUT_ASSEMBLY_STATE_CREATE_INFO;
    ia.topology = VK_PRIMITIVE_TOPOLOGY_PATCH_LIST;
    // Rasterization discarded: no attachments, viewports or blending to set up.
    VkPipelineRasterizationStateCreateInfo rs{};
    rs.sType = VK_STRUCTURE_TYPE_PIPELINE_RASTERIZATION_STATE_CREATE_INFO;
    rs.rasterizerDiscardEnable = VK_TRUE;
    rs.polygonMode = VK_POLYGON_MODE_FILL;
    rs.lineWidth = 1.0f;
    const VkDynamicState dynamic_states[] = {VK_DYNAMIC_STATE_PATCH_CONTROL_POINTS_EXT};
    VkPipelineDynamicStateCreateInfo dyn{};
    dyn.sType = VK_STRUCTURE_TYPE_PIPELINE_DYNAMIC_STATE_CREATE_INFO;
    dyn.dynamicStateCount = 1;
    dyn.pDynamicStates = dynamic_states;
    VkPipelineRenderingCreateInfo rendering{};
    rendering.sType = VK_STRUCTURE_TYPE_PIPELINE_RENDERING_CREATE_INFO;
    VkGraphicsPipelineCreateInfo gpci{};
    gpci.sType = VK_STRUCTURE_TYPE_GRAPHICS_PIPELINE_CREATE_INFO;
    gpci.pNext = &rendering;
    gpci.stageCount = 3;
    gpci.pStages = stages.data();
    gpci.pVertexInputState = &vi.state;
    gpci.pInputAssemblyState = &ia;
    gpci.pTessellationState = nullptr;
    gpci.pRasterizationState = &rs;
    gpci.pDynamicState = &dyn;
    gpci.layout = create_pipeline_layout(r, dev, layout_id);
    VkPipeline pipeline = id<VkPipeline>(pipeline_id);
    gen::CreateGraphicsPipelinesArgs cgp;
    cgp.device = dev;
    cgp.createInfoCount = 1;
    cgp.pCreateInfos = &gpci;
    cgp.pPipelines = &pipeline;

    const auto created = [&] {
        gen::CreateGraphicsPipelinesArgs reply;
        REQUIRE(r.call(cgp, reply) == DecodeResult::Ok);
        CHECK(reply.ret == VK_SUCCESS);
        CHECK(r.objects.find<VkPipeline>(pipeline_id));
    };

    SECTION("dynamic patch control points: the driver gets a placeholder state") {
        created();
    }
    // dEQP-VK.pipeline.{pipeline_library,fast_linked_library}.extended_dynamic_state.*.null_*
    // killed workers by SIGSEGV in the driver (natively it crashes too): libraries get the
    // placeholders as well, which a driver reads only for the parts the library builds.
    SECTION("a pre-rasterization library with dynamic patch control points: a placeholder") {
        VkGraphicsPipelineLibraryCreateInfoEXT part{};
        part.sType = VK_STRUCTURE_TYPE_GRAPHICS_PIPELINE_LIBRARY_CREATE_INFO_EXT;
        part.pNext = &rendering;
        part.flags = VK_GRAPHICS_PIPELINE_LIBRARY_PRE_RASTERIZATION_SHADERS_BIT_EXT;
        gpci.pNext = &part;
        gpci.flags = VK_PIPELINE_CREATE_LIBRARY_BIT_KHR;
        gpci.stageCount = 3;
        created();
    }
    SECTION("no input assembly state with the topology dynamic: a placeholder too") {
        gpci.pTessellationState = nullptr;
        gpci.pInputAssemblyState = nullptr;
        const VkDynamicState more[] = {VK_DYNAMIC_STATE_PATCH_CONTROL_POINTS_EXT,
                                       VK_DYNAMIC_STATE_PRIMITIVE_TOPOLOGY,
                                       VK_DYNAMIC_STATE_PRIMITIVE_RESTART_ENABLE};
        dyn.dynamicStateCount = 3;
        dyn.pDynamicStates = more;
        created();
    }
    SECTION("no input assembly state and a static topology: fatal") {
        gpci.pInputAssemblyState = nullptr;
        CHECK(submit_one(r, cgp) == DecodeResult::Fatal);
        CHECK(r.fatal.reason().find("no input assembly state") != std::string::npos);
    }
    SECTION("static patch control points and no state: fatal, not a driver crash") {
        gpci.pDynamicState = nullptr;
        CHECK(submit_one(r, cgp) == DecodeResult::Fatal);
        CHECK(r.fatal.reason().find("tessellation shaders without a tessellation state") !=
              std::string::npos);
    }
}

// A worker that exits ends its driver objects with shut_down() and leaves the memory to the exit;
// the executor's destructor (a thread worker's, a test's) must then end nothing a second time.
TEST_CASE("shut_down ends the devices and instances once, the destructor after it nothing more") {
    Context r;
    const auto dev = create_device(r);
    const auto cb = begin_commands(r, dev, pool_id, cb_id);
    (void)cb;
    (void)create_fence(r, dev, fence_id);
    CHECK(r.objects.table<VkDevice>().size() == 1);
    CHECK(r.objects.table<VkInstance>().size() == 1);
    r.executor.shut_down();
    // Gone from the tables as from the driver, so nothing can reach them again.
    CHECK(r.objects.table<VkDevice>().size() == 0);
    CHECK(r.objects.table<VkInstance>().size() == 0);
    CHECK(r.objects.find<VkCommandPool>(pool_id) == nullptr);
    CHECK(r.objects.find<VkFence>(fence_id) == nullptr);
    r.executor.shut_down();
    // The destructor runs at the end of the scope: it and the second shut_down find nothing to
    // end (a vkDestroyInstance of a destroyed instance would be a use after free).
}
