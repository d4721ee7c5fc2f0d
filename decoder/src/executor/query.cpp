// Query pools. Drivers index their query arrays with whatever the command names and write
// results for as many queries as asked, so every query range, stride and result size is checked
// against the pool and the destination (the reply buffer, or a buffer) before the driver sees it.
#include "executor.h"

#include <bit>

namespace vn::decoder {

using protocol::DecodeResult;

namespace {

// Every pipeline statistic this vk.xml defines (through the mesh shader ones).
constexpr VkQueryPipelineStatisticFlags known_statistics = (1u << 13) - 1;

// Values in one query's result; 0 for a query type whose result size we do not know.
std::uint32_t values_per_query(const VkQueryPoolCreateInfo& info) {
    switch (info.queryType) {
    case VK_QUERY_TYPE_OCCLUSION:
    case VK_QUERY_TYPE_TIMESTAMP:
    case VK_QUERY_TYPE_PRIMITIVES_GENERATED_EXT:
    case VK_QUERY_TYPE_MESH_PRIMITIVES_GENERATED_EXT:
        return 1;
    case VK_QUERY_TYPE_TRANSFORM_FEEDBACK_STREAM_EXT:
        return 2; // primitives written, primitives needed
    case VK_QUERY_TYPE_PIPELINE_STATISTICS:
        return static_cast<std::uint32_t>(std::popcount(info.pipelineStatistics));
    default:
        return 0;
    }
}

constexpr VkQueryResultFlags known_result_flags =
    VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT | VK_QUERY_RESULT_WITH_AVAILABILITY_BIT |
    VK_QUERY_RESULT_PARTIAL_BIT;

// Bytes from the first result to the end of the last one: (count - 1) * stride + one result.
// False when the flags or stride are malformed or the total overflows.
bool results_extent(const QueryPoolShape& pool, std::uint32_t count, VkDeviceSize stride,
                    VkQueryResultFlags flags, VkDeviceSize& out) {
    if (flags & ~known_result_flags)
        return false;
    const VkDeviceSize elem = (flags & VK_QUERY_RESULT_64_BIT) ? 8 : 4;
    const VkDeviceSize one =
        (pool.values + ((flags & VK_QUERY_RESULT_WITH_AVAILABILITY_BIT) ? 1 : 0)) * elem;
    if (count == 0) {
        out = 0;
        return true;
    }
    if (stride % elem != 0 || (count > 1 && stride == 0))
        return false;
    VkDeviceSize span = 0;
    if (__builtin_mul_overflow(static_cast<VkDeviceSize>(count - 1), stride, &span) ||
        __builtin_add_overflow(span, one, &out))
        return false;
    return true;
}

} // namespace

DecodeResult Executor::on_vkCreateQueryPool(protocol::Decoder& d, gen::CreateQueryPoolArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    const std::uint64_t id = protocol::handle_to_u64(*a.pQueryPool);
    VN_TRY(check_new_id(d, id));
    const VkQueryPoolCreateInfo& info = *a.pCreateInfo;
    const std::uint32_t values = values_per_query(info);
    if (values == 0 || (info.queryType == VK_QUERY_TYPE_PIPELINE_STATISTICS &&
                        (info.pipelineStatistics & ~known_statistics)))
        return d.in.fail("vkCreateQueryPool: query type " + std::to_string(info.queryType) +
                         " (statistics " + std::to_string(info.pipelineStatistics) +
                         ") is not supported");
    VkQueryPool host = VK_NULL_HANDLE;
    a.ret = dev->dispatch.CreateQueryPool(a.device.handle, &info, nullptr, &host);
    if (a.ret != VK_SUCCESS)
        return DecodeResult::Ok;
    VN_TRY(add_child<VkQueryPool>(*dev, id, host));
    dev->query_pools[host] = QueryPoolShape{info.queryType, info.queryCount, values};
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkDestroyQueryPool(protocol::Decoder& d, gen::DestroyQueryPoolArgs& a) {
    if (!a.queryPool.id)
        return DecodeResult::Ok;
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    VN_TRY(check_device_child(d, a.device, VK_OBJECT_TYPE_QUERY_POOL, a.queryPool.id));
    dev->dispatch.DestroyQueryPool(a.device.handle, a.queryPool.handle, nullptr);
    dev->query_pools.erase(a.queryPool.handle);
    return remove_child<VkQueryPool>(*dev, a.queryPool.id);
}

DecodeResult Executor::check_queries(protocol::Decoder& d, const DeviceState& dev, VkQueryPool pool,
                                     std::uint32_t first, std::uint32_t count, const char* what,
                                     const QueryPoolShape** out) {
    const auto it = dev.query_pools.find(pool);
    if (it == dev.query_pools.end())
        return d.in.fail(std::string(what) + ": a query pool of another device");
    if (first > it->second.count || count > it->second.count - first)
        return d.in.fail(std::string(what) + ": queries [" + std::to_string(first) + ", +" +
                         std::to_string(count) + ") are not in a pool of " +
                         std::to_string(it->second.count));
    if (out)
        *out = &it->second;
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkResetQueryPool(protocol::Decoder& d, gen::ResetQueryPoolArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    VN_TRY(
        check_queries(d, *dev, a.queryPool.handle, a.firstQuery, a.queryCount, "vkResetQueryPool"));
    dev->dispatch.ResetQueryPool(a.device.handle, a.queryPool.handle, a.firstQuery, a.queryCount);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkGetQueryPoolResults(protocol::Decoder& d,
                                                gen::GetQueryPoolResultsArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    const QueryPoolShape* pool = nullptr;
    VN_TRY(check_queries(d, *dev, a.queryPool.handle, a.firstQuery, a.queryCount,
                         "vkGetQueryPoolResults", &pool));
    // pData is the reply buffer the decoder sized to dataSize: the driver writes queryCount
    // results `stride` apart into it and checks none of that itself.
    VkDeviceSize extent = 0;
    if (!results_extent(*pool, a.queryCount, a.stride, a.flags, extent))
        return d.in.fail("vkGetQueryPoolResults: bad stride " + std::to_string(a.stride) +
                         " or flags " + std::to_string(a.flags));
    if (extent > a.dataSize || (extent && !a.pData))
        return d.in.fail("vkGetQueryPoolResults: " + std::to_string(a.queryCount) + " results " +
                         std::to_string(a.stride) + " bytes apart need " + std::to_string(extent) +
                         " bytes, the guest gave " + std::to_string(a.pData ? a.dataSize : 0));
    a.ret = dev->dispatch.GetQueryPoolResults(a.device.handle, a.queryPool.handle, a.firstQuery,
                                              a.queryCount, a.dataSize, a.pData, a.stride, a.flags);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdBeginQuery(protocol::Decoder& d, gen::CmdBeginQueryArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    VN_TRY(check_queries(d, *dev, a.queryPool.handle, a.query, 1, "vkCmdBeginQuery"));
    record([=] {
        dev->dispatch.CmdBeginQuery(a.commandBuffer.handle, a.queryPool.handle, a.query, a.flags);
    });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdEndQuery(protocol::Decoder& d, gen::CmdEndQueryArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    VN_TRY(check_queries(d, *dev, a.queryPool.handle, a.query, 1, "vkCmdEndQuery"));
    record([=] { dev->dispatch.CmdEndQuery(a.commandBuffer.handle, a.queryPool.handle, a.query); });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdResetQueryPool(protocol::Decoder& d, gen::CmdResetQueryPoolArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    VN_TRY(check_queries(d, *dev, a.queryPool.handle, a.firstQuery, a.queryCount,
                         "vkCmdResetQueryPool"));
    record([=] {
        dev->dispatch.CmdResetQueryPool(a.commandBuffer.handle, a.queryPool.handle, a.firstQuery,
                                        a.queryCount);
    });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdWriteTimestamp(protocol::Decoder& d, gen::CmdWriteTimestampArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    VN_TRY(check_queries(d, *dev, a.queryPool.handle, a.query, 1, "vkCmdWriteTimestamp"));
    record([=] {
        dev->dispatch.CmdWriteTimestamp(a.commandBuffer.handle, a.pipelineStage, a.queryPool.handle,
                                        a.query);
    });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdWriteTimestamp2(protocol::Decoder& d,
                                               gen::CmdWriteTimestamp2Args& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    VN_TRY(check_queries(d, *dev, a.queryPool.handle, a.query, 1, "vkCmdWriteTimestamp2"));
    record([=] {
        dev->dispatch.CmdWriteTimestamp2(a.commandBuffer.handle, a.stage, a.queryPool.handle,
                                         a.query);
    });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdCopyQueryPoolResults(protocol::Decoder& d,
                                                    gen::CmdCopyQueryPoolResultsArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    const QueryPoolShape* pool = nullptr;
    VN_TRY(check_queries(d, *dev, a.queryPool.handle, a.firstQuery, a.queryCount,
                         "vkCmdCopyQueryPoolResults", &pool));
    VkDeviceSize extent = 0;
    if (!results_extent(*pool, a.queryCount, a.stride, a.flags, extent) || a.dstOffset % 4 != 0)
        return d.in.fail("vkCmdCopyQueryPoolResults: bad offset, stride or flags");
    VN_TRY(check_buffer_range(d, *dev, a.dstBuffer.handle, a.dstOffset, extent,
                              "vkCmdCopyQueryPoolResults"));
    // With availability asked for, the values are copied on their own first. Mesa's Venus
    // driver reads query results from a buffer that such a copy fills (its query feedback), and
    // polls the availability word while the host may still be executing; nothing in Vulkan
    // orders the writes inside one copy, and lavapipe writes the availability word before the
    // values, so the guest could read a value of 0 next to "available" (dEQP-VK
    // transform_feedback.primitives_generated_query.get.*: 0.4 % of them through Venus, none
    // natively). Once the values are in place, the full copy rewrites them with the same results
    // and then sets availability: the buffer ends as one copy would leave it.
    const VkQueryResultFlags values_only = a.flags & ~VK_QUERY_RESULT_WITH_AVAILABILITY_BIT;
    const bool values_first = values_only != a.flags;
    record([=] {
        if (values_first)
            dev->dispatch.CmdCopyQueryPoolResults(a.commandBuffer.handle, a.queryPool.handle,
                                                  a.firstQuery, a.queryCount, a.dstBuffer.handle,
                                                  a.dstOffset, a.stride, values_only);
        dev->dispatch.CmdCopyQueryPoolResults(a.commandBuffer.handle, a.queryPool.handle,
                                              a.firstQuery, a.queryCount, a.dstBuffer.handle,
                                              a.dstOffset, a.stride, a.flags);
    });
    return DecodeResult::Ok;
}

} // namespace vn::decoder
