// Graphics pipelines and pipeline caches. The codec decodes every state struct of a graphics
// pipeline; what it accepts as NULL because the guest driver leaves ignored state out (see
// ignorable_members in the protocol TOML) is checked here against the state that makes it unused,
// since the host driver would otherwise dereference it.
#include "executor.h"

#include <algorithm>
#include <vector>

namespace vn::decoder {

using protocol::DecodeResult;

namespace {

bool has_dynamic_state(const VkGraphicsPipelineCreateInfo& info, VkDynamicState a,
                       VkDynamicState b) {
    if (!info.pDynamicState || !info.pDynamicState->pDynamicStates)
        return false;
    const VkDynamicState* begin = info.pDynamicState->pDynamicStates;
    const VkDynamicState* end = begin + info.pDynamicState->dynamicStateCount;
    return std::find(begin, end, a) != end || std::find(begin, end, b) != end;
}

bool has_tessellation_stages(const VkGraphicsPipelineCreateInfo& info) {
    for (std::uint32_t i = 0; info.pStages && i < info.stageCount; ++i)
        if (info.pStages[i].stage & (VK_SHADER_STAGE_TESSELLATION_CONTROL_BIT |
                                     VK_SHADER_STAGE_TESSELLATION_EVALUATION_BIT))
            return true;
    return false;
}

// Empty when the create info is safe to hand to the driver, else why not.
std::string ignored_state_problem(const VkGraphicsPipelineCreateInfo& info) {
    bool library = (info.flags & VK_PIPELINE_CREATE_LIBRARY_BIT_KHR) != 0;
    for (auto* n = static_cast<const VkBaseInStructure*>(info.pNext); n; n = n->pNext)
        library |= n->sType == VK_STRUCTURE_TYPE_GRAPHICS_PIPELINE_LIBRARY_CREATE_INFO_EXT ||
                   n->sType == VK_STRUCTURE_TYPE_PIPELINE_LIBRARY_CREATE_INFO_KHR;
    if (!info.pStages && info.stageCount && !library)
        return "no shader stages although stageCount is " + std::to_string(info.stageCount);
    if (library)
        return {}; // parts of a pipeline: the driver takes only the state of the parts named
    if (!info.pRasterizationState)
        return "no rasterization state";
    if (has_tessellation_stages(info) && !info.pTessellationState &&
        !has_dynamic_state(info, VK_DYNAMIC_STATE_PATCH_CONTROL_POINTS_EXT,
                           VK_DYNAMIC_STATE_PATCH_CONTROL_POINTS_EXT))
        return "tessellation shaders without a tessellation state";
    const bool discard = info.pRasterizationState->rasterizerDiscardEnable &&
                         !has_dynamic_state(info, VK_DYNAMIC_STATE_RASTERIZER_DISCARD_ENABLE,
                                            VK_DYNAMIC_STATE_RASTERIZER_DISCARD_ENABLE);
    if (const VkPipelineViewportStateCreateInfo* vp = info.pViewportState; vp && !discard) {
        if (!vp->pViewports && vp->viewportCount &&
            !has_dynamic_state(info, VK_DYNAMIC_STATE_VIEWPORT,
                               VK_DYNAMIC_STATE_VIEWPORT_WITH_COUNT))
            return "no viewports although they are not dynamic";
        if (!vp->pScissors && vp->scissorCount &&
            !has_dynamic_state(info, VK_DYNAMIC_STATE_SCISSOR, VK_DYNAMIC_STATE_SCISSOR_WITH_COUNT))
            return "no scissors although they are not dynamic";
    }
    return {};
}

} // namespace

DecodeResult Executor::on_vkCreateGraphicsPipelines(protocol::Decoder& d,
                                                    gen::CreateGraphicsPipelinesArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    const std::uint32_t n = a.createInfoCount;
    if (n && !a.pPipelines)
        return d.in.fail("vkCreateGraphicsPipelines without ids for the new pipelines");
    for (std::uint32_t i = 0; i < n; ++i)
        if (const std::string problem = ignored_state_problem(a.pCreateInfos[i]); !problem.empty())
            return d.in.fail("vkCreateGraphicsPipelines: pipeline " + std::to_string(i) + " has " +
                             problem);
    std::vector<std::uint64_t> ids(n);
    for (std::uint32_t i = 0; i < n; ++i)
        ids[i] = protocol::handle_to_u64(a.pPipelines[i]);
    VN_TRY(check_new_ids(d, ids.data(), n));
    // With the patch control points dynamic, a pipeline may leave its tessellation state out
    // (VK_EXT_extended_dynamic_state2), but some drivers read it anyway: lavapipe in Mesa 22.3
    // (Debian 12) crashes, natively too (dEQP-VK.pipeline.*.extended_dynamic_state.*.
    // null_tessellation_state). They get a state whose only member the dynamic one replaces.
    static constexpr VkPipelineTessellationStateCreateInfo dynamic_tessellation{
        VK_STRUCTURE_TYPE_PIPELINE_TESSELLATION_STATE_CREATE_INFO, nullptr, 0, 1};
    std::vector<VkGraphicsPipelineCreateInfo> fixed;
    for (std::uint32_t i = 0; i < n; ++i) {
        const VkGraphicsPipelineCreateInfo& info = a.pCreateInfos[i];
        if (info.pTessellationState || !has_tessellation_stages(info))
            continue;
        if (fixed.empty())
            fixed.assign(a.pCreateInfos, a.pCreateInfos + n);
        fixed[i].pTessellationState = &dynamic_tessellation;
    }
    std::vector<VkPipeline> hosts(n, VK_NULL_HANDLE);
    a.ret = dev->dispatch.CreateGraphicsPipelines(a.device.handle, a.pipelineCache.handle, n,
                                                  fixed.empty() ? a.pCreateInfos : fixed.data(),
                                                  nullptr, hosts.data());
    // As for compute pipelines: keep exactly the ones the driver created.
    for (std::uint32_t i = 0; i < n; ++i)
        if (hosts[i] != VK_NULL_HANDLE)
            VN_TRY(add_child<VkPipeline>(*dev, ids[i], hosts[i]));
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkGetPipelineCacheData(protocol::Decoder& d,
                                                 gen::GetPipelineCacheDataArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    VN_TRY(check_device_child(d, a.device, VK_OBJECT_TYPE_PIPELINE_CACHE, a.pipelineCache.id));
    // The guest's size bounds both the driver's write (the decoder gave pData exactly that many
    // bytes) and the reply; never hand the driver more room than the cache needs, so the reply
    // carries only real cache bytes, and refuse a driver answer beyond the guest's buffer.
    const std::size_t guest_size = *a.pDataSize;
    if (!a.pData) {
        a.ret = dev->dispatch.GetPipelineCacheData(a.device.handle, a.pipelineCache.handle,
                                                   a.pDataSize, nullptr);
        return DecodeResult::Ok;
    }
    std::size_t cache_size = 0;
    a.ret = dev->dispatch.GetPipelineCacheData(a.device.handle, a.pipelineCache.handle, &cache_size,
                                               nullptr);
    if (a.ret != VK_SUCCESS) {
        *a.pDataSize = 0;
        return DecodeResult::Ok;
    }
    *a.pDataSize = std::min(guest_size, cache_size);
    a.ret = dev->dispatch.GetPipelineCacheData(a.device.handle, a.pipelineCache.handle, a.pDataSize,
                                               a.pData);
    if (*a.pDataSize > guest_size)
        return d.in.fail("vkGetPipelineCacheData: the driver wrote past the guest's buffer");
    return DecodeResult::Ok;
}

} // namespace vn::decoder
