// Device memory from context resources and the fence/semaphore resource commands, on lavapipe:
// a shm resource (a memfd the guest maps) becomes device memory the GPU writes and the guest
// reads without a copy.
#include "device_objects.h"
#include "guest_context.h"

#include <catch2/catch.hpp>

using namespace vn;
using namespace vn::test_guest;

namespace {

constexpr std::uint32_t shm_resource = 2; // the 64 KiB "replies" memfd of the harness
constexpr std::uint64_t memory_id = 0x7f0000006000, buffer_id = 0x7f0000007000,
                        pool_id = 0x7f0000008000, cb_id = 0x7f0000009000, fence_id = 0x7f000000a000;

const protocol::Ref<VkDevice> dev{device_id, id<VkDevice>(device_id)};

gen::GetMemoryResourcePropertiesMESAArgs
resource_properties(Context& c, std::uint32_t resource, VkMemoryResourcePropertiesMESA& props) {
    gen::GetMemoryResourcePropertiesMESAArgs a;
    a.device = dev;
    a.resourceId = resource;
    a.pMemoryResourceProperties = &props;
    return c.call(a);
}

VkResult import(Context& c, std::uint32_t resource, VkDeviceSize size, std::uint32_t type) {
    VkImportMemoryResourceInfoMESA res{};
    res.sType = VK_STRUCTURE_TYPE_IMPORT_MEMORY_RESOURCE_INFO_MESA;
    res.resourceId = resource;
    return try_allocate_memory(c, dev, memory_id, size, type, &res);
}

} // namespace

TEST_CASE("a shm resource's memory types and size, and memory imported from it") {
    Context c;
    device_with_queue_on(c, 0);

    VkMemoryResourceAllocationSizePropertiesMESA size{};
    size.sType = VK_STRUCTURE_TYPE_MEMORY_RESOURCE_ALLOCATION_SIZE_PROPERTIES_MESA;
    VkMemoryResourcePropertiesMESA props{};
    props.sType = VK_STRUCTURE_TYPE_MEMORY_RESOURCE_PROPERTIES_MESA;
    props.pNext = &size;
    const auto reply = resource_properties(c, shm_resource, props);
    REQUIRE(reply.ret == VK_SUCCESS);
    const std::uint32_t types = reply.pMemoryResourceProperties->memoryTypeBits;
    REQUIRE(types != 0);
    const auto* reply_size = static_cast<const VkMemoryResourceAllocationSizePropertiesMESA*>(
        reply.pMemoryResourceProperties->pNext);
    REQUIRE(reply_size);
    CHECK(reply_size->allocationSize == c.shm.replies.size());
    const std::uint32_t type = static_cast<std::uint32_t>(__builtin_ctz(types));
    const VkDeviceSize bytes = c.shm.replies.size();

    SECTION("the GPU fills a buffer bound to the imported memory; the guest sees it in place") {
        REQUIRE(import(c, shm_resource, bytes, type) == VK_SUCCESS);
        CHECK(c.executor.resource_in_use(shm_resource));

        const auto buffer =
            create_buffer(c, dev, buffer_id, bytes, VK_BUFFER_USAGE_TRANSFER_DST_BIT);
        VkBindBufferMemoryInfo bind{};
        bind.sType = VK_STRUCTURE_TYPE_BIND_BUFFER_MEMORY_INFO;
        bind.buffer = buffer.handle;
        bind.memory = id<VkDeviceMemory>(memory_id);
        gen::BindBufferMemory2Args bm;
        bm.device = dev;
        bm.bindInfoCount = 1;
        bm.pBindInfos = &bind;
        REQUIRE(c.call(bm).ret == VK_SUCCESS);

        const auto cbr = allocate_command_buffer(c, dev, pool_id, cb_id);
        VkCommandBufferBeginInfo bi{};
        bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
        gen::BeginCommandBufferArgs begin;
        begin.commandBuffer = cbr;
        begin.pBeginInfo = &bi;
        gen::CmdFillBufferArgs fill;
        fill.commandBuffer = cbr;
        fill.dstBuffer = buffer;
        fill.size = VK_WHOLE_SIZE;
        fill.data = 0xabcdef01u;
        gen::EndCommandBufferArgs end;
        end.commandBuffer = cbr;
        VkSubmitInfo si{};
        si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
        si.commandBufferCount = 1;
        si.pCommandBuffers = &cbr.handle;
        gen::QueueSubmitArgs qs;
        qs.queue = {queue_id, id<VkQueue>(queue_id)};
        qs.submitCount = 1;
        qs.pSubmits = &si;
        gen::QueueWaitIdleArgs wait;
        wait.queue = qs.queue;
        REQUIRE(c.submit(concat({encode(begin), encode(fill), encode(end), encode(qs)})) ==
                DecodeResult::Ok);
        REQUIRE(c.call(wait).ret == VK_SUCCESS);

        const auto* words = reinterpret_cast<const std::uint32_t*>(c.shm.replies.data());
        std::size_t good = 0;
        for (std::size_t i = 0; i < bytes / 4; ++i)
            good += words[i] == 0xabcdef01u;
        CHECK(good == bytes / 4);

        gen::DestroyBufferArgs db;
        db.device = dev;
        db.buffer = buffer;
        gen::FreeMemoryArgs fm;
        fm.device = dev;
        fm.memory = {memory_id, id<VkDeviceMemory>(memory_id)};
        REQUIRE(c.submit(concat({encode(db), encode(fm)})) == DecodeResult::Ok);
        CHECK_FALSE(c.executor.resource_in_use(shm_resource));
    }
    SECTION("more than the resource holds is a Vulkan error") {
        CHECK(import(c, shm_resource, bytes + 4096, type) == VK_ERROR_INVALID_EXTERNAL_HANDLE);
        CHECK_FALSE(c.is_fatal());
    }
    SECTION("a size off the driver's import granularity is a Vulkan error") {
        CHECK(import(c, shm_resource, 100, type) == VK_ERROR_INVALID_EXTERNAL_HANDLE);
        CHECK_FALSE(c.is_fatal());
    }
}

TEST_CASE("memory resource commands naming no resource of the context are fatal") {
    Context c;
    device_with_queue_on(c, 0);
    SECTION("properties") {
        VkMemoryResourcePropertiesMESA props{};
        props.sType = VK_STRUCTURE_TYPE_MEMORY_RESOURCE_PROPERTIES_MESA;
        gen::GetMemoryResourcePropertiesMESAArgs a;
        a.device = dev;
        a.resourceId = 9;
        a.pMemoryResourceProperties = &props;
        CHECK(c.submit(encode(a, VK_COMMAND_GENERATE_REPLY_BIT_EXT)) == DecodeResult::Fatal);
    }
    SECTION("import") {
        VkImportMemoryResourceInfoMESA res{};
        res.sType = VK_STRUCTURE_TYPE_IMPORT_MEMORY_RESOURCE_INFO_MESA;
        res.resourceId = 9;
        VkMemoryAllocateInfo ai{};
        ai.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
        ai.pNext = &res;
        ai.allocationSize = 4096;
        VkDeviceMemory memory = id<VkDeviceMemory>(memory_id);
        gen::AllocateMemoryArgs am;
        am.device = dev;
        am.pAllocateInfo = &ai;
        am.pMemory = &memory;
        CHECK(c.submit(encode(am)) == DecodeResult::Fatal);
    }
    CHECK(c.reason().find("resource 9 is not a resource of this context") != std::string::npos);
}

TEST_CASE("fence and semaphore resource commands need sync_fd support, resource 0 only") {
    Context c;
    device_with_queue_on(c, 0);
    const VkFence fence = create_fence(c, dev, fence_id);
    const VkSemaphore sem = create_semaphore(c, dev, semaphore_id);

    std::string expect;
    SECTION("an import of a real resource") {
        VkImportSemaphoreResourceInfoMESA info{};
        info.sType = VK_STRUCTURE_TYPE_IMPORT_SEMAPHORE_RESOURCE_INFO_MESA;
        info.semaphore = sem;
        info.resourceId = 5;
        gen::ImportSemaphoreResourceMESAArgs a;
        a.device = dev;
        a.pImportSemaphoreResourceInfo = &info;
        CHECK(c.send(a) == DecodeResult::Fatal);
        expect = "resource 5 cannot be imported";
    }
    // The guest enabled no VK_KHR_external_*_fd (lavapipe has none to enable): as on a host
    // driver without sync_fd, these cannot be honoured.
    SECTION("a fence reset without VK_KHR_external_fence_fd") {
        gen::ResetFenceResourceMESAArgs a;
        a.device = dev;
        a.fence = {fence_id, fence};
        CHECK(c.send(a) == DecodeResult::Fatal);
        expect = "no VK_KHR_external_fence_fd";
    }
    SECTION("a semaphore wait without VK_KHR_external_semaphore_fd") {
        gen::WaitSemaphoreResourceMESAArgs a;
        a.device = dev;
        a.semaphore = {semaphore_id, sem};
        CHECK(c.send(a) == DecodeResult::Fatal);
        expect = "no VK_KHR_external_semaphore_fd";
    }
    SECTION("a signalled import without VK_KHR_external_semaphore_fd") {
        VkImportSemaphoreResourceInfoMESA info{};
        info.sType = VK_STRUCTURE_TYPE_IMPORT_SEMAPHORE_RESOURCE_INFO_MESA;
        info.semaphore = sem;
        gen::ImportSemaphoreResourceMESAArgs a;
        a.device = dev;
        a.pImportSemaphoreResourceInfo = &info;
        CHECK(c.send(a) == DecodeResult::Fatal);
        expect = "no VK_KHR_external_semaphore_fd";
    }
    INFO(c.reason());
    CHECK(c.reason().find(expect) != std::string::npos);
}
