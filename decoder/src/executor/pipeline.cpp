// Graphics pipelines and pipeline caches. The codec decodes every state struct of a graphics
// pipeline; what it accepts as NULL because the guest driver leaves ignored state out (see
// ignorable_members in the protocol TOML) is checked here against the state that makes it unused,
// since the host driver would otherwise dereference it.
#include "executor.h"

#include <algorithm>
#include <initializer_list>
#include <vector>

namespace vn::decoder {

using protocol::DecodeResult;

namespace {

bool any_dynamic(const VkGraphicsPipelineCreateInfo& info,
                 std::initializer_list<VkDynamicState> states) {
    if (!info.pDynamicState || !info.pDynamicState->pDynamicStates)
        return false;
    const VkDynamicState* begin = info.pDynamicState->pDynamicStates;
    const VkDynamicState* end = begin + info.pDynamicState->dynamicStateCount;
    return std::any_of(begin, end, [&](VkDynamicState d) {
        return std::find(states.begin(), states.end(), d) != states.end();
    });
}

bool has_stages(const VkGraphicsPipelineCreateInfo& info, VkShaderStageFlags stages) {
    for (std::uint32_t i = 0; info.pStages && i < info.stageCount; ++i)
        if (info.pStages[i].stage & stages)
            return true;
    return false;
}

bool has_tessellation_stages(const VkGraphicsPipelineCreateInfo& info) {
    return has_stages(info, VK_SHADER_STAGE_TESSELLATION_CONTROL_BIT |
                                VK_SHADER_STAGE_TESSELLATION_EVALUATION_BIT);
}

// The states a pipeline may leave out once the members it would set are dynamic
// (VK_EXT_extended_dynamic_state2/3), or that are ignored (rasterizer discard, no attachments,
// mesh shaders). Some drivers read them anyway: Debian 12's lavapipe (Mesa 22.3) crashes, natively
// too, in the dEQP-VK.pipeline.*.extended_dynamic_state.*.null_*_state cases of these states (120
// of the 369 null_* cases). Such a driver gets
// a placeholder in place of each left-out state: what the dynamic state sets replaces its
// members, and an ignored state is not read.
bool input_assembly_dynamic(const VkGraphicsPipelineCreateInfo& info) {
    return any_dynamic(
        info, {VK_DYNAMIC_STATE_PRIMITIVE_TOPOLOGY, VK_DYNAMIC_STATE_PRIMITIVE_RESTART_ENABLE});
}
bool rasterization_dynamic(const VkGraphicsPipelineCreateInfo& info) {
    return any_dynamic(info, {VK_DYNAMIC_STATE_DEPTH_CLAMP_ENABLE_EXT,
                              VK_DYNAMIC_STATE_RASTERIZER_DISCARD_ENABLE,
                              VK_DYNAMIC_STATE_POLYGON_MODE_EXT, VK_DYNAMIC_STATE_CULL_MODE,
                              VK_DYNAMIC_STATE_FRONT_FACE, VK_DYNAMIC_STATE_DEPTH_BIAS_ENABLE,
                              VK_DYNAMIC_STATE_DEPTH_BIAS, VK_DYNAMIC_STATE_LINE_WIDTH});
}
constexpr VkPipelineInputAssemblyStateCreateInfo placeholder_input_assembly{
    VK_STRUCTURE_TYPE_PIPELINE_INPUT_ASSEMBLY_STATE_CREATE_INFO, nullptr, 0,
    VK_PRIMITIVE_TOPOLOGY_TRIANGLE_LIST, VK_FALSE};
constexpr VkPipelineTessellationStateCreateInfo placeholder_tessellation{
    VK_STRUCTURE_TYPE_PIPELINE_TESSELLATION_STATE_CREATE_INFO, nullptr, 0, 1};
constexpr VkPipelineViewportStateCreateInfo placeholder_viewport{
    VK_STRUCTURE_TYPE_PIPELINE_VIEWPORT_STATE_CREATE_INFO, nullptr, 0, 0, nullptr, 0, nullptr};
constexpr VkPipelineRasterizationStateCreateInfo placeholder_rasterization{
    VK_STRUCTURE_TYPE_PIPELINE_RASTERIZATION_STATE_CREATE_INFO,
    nullptr,
    0,
    VK_FALSE,
    VK_FALSE,
    VK_POLYGON_MODE_FILL,
    VK_CULL_MODE_NONE,
    VK_FRONT_FACE_COUNTER_CLOCKWISE,
    VK_FALSE,
    0.0f,
    0.0f,
    0.0f,
    1.0f};
constexpr VkPipelineMultisampleStateCreateInfo placeholder_multisample{
    VK_STRUCTURE_TYPE_PIPELINE_MULTISAMPLE_STATE_CREATE_INFO,
    nullptr,
    0,
    VK_SAMPLE_COUNT_1_BIT,
    VK_FALSE,
    0.0f,
    nullptr,
    VK_FALSE,
    VK_FALSE};
constexpr VkPipelineDepthStencilStateCreateInfo placeholder_depth_stencil{
    VK_STRUCTURE_TYPE_PIPELINE_DEPTH_STENCIL_STATE_CREATE_INFO,
    nullptr,
    0,
    VK_FALSE,
    VK_FALSE,
    VK_COMPARE_OP_ALWAYS,
    VK_FALSE,
    VK_FALSE,
    {},
    {},
    0.0f,
    1.0f};
constexpr VkPipelineColorBlendStateCreateInfo placeholder_color_blend{
    VK_STRUCTURE_TYPE_PIPELINE_COLOR_BLEND_STATE_CREATE_INFO,
    nullptr,
    0,
    VK_FALSE,
    VK_LOGIC_OP_COPY,
    0,
    nullptr,
    {0.0f, 0.0f, 0.0f, 0.0f}};

// The create info with a placeholder for each left-out state; false when it has none left out.
bool with_placeholders(const VkGraphicsPipelineCreateInfo& info,
                       VkGraphicsPipelineCreateInfo& out) {
    out = info;
    bool changed = false;
    auto fill = [&](auto& member, const auto& placeholder) {
        if (!member) {
            member = &placeholder;
            changed = true;
        }
    };
    fill(out.pInputAssemblyState, placeholder_input_assembly);
    if (has_tessellation_stages(info))
        fill(out.pTessellationState, placeholder_tessellation);
    fill(out.pViewportState, placeholder_viewport);
    fill(out.pRasterizationState, placeholder_rasterization);
    fill(out.pMultisampleState, placeholder_multisample);
    fill(out.pDepthStencilState, placeholder_depth_stencil);
    fill(out.pColorBlendState, placeholder_color_blend);
    return changed;
}

// A pipeline library, or a pipeline linked from them.
bool is_library(const VkGraphicsPipelineCreateInfo& info) {
    bool library = (info.flags & VK_PIPELINE_CREATE_LIBRARY_BIT_KHR) != 0;
    for (auto* n = static_cast<const VkBaseInStructure*>(info.pNext); n; n = n->pNext)
        library |= n->sType == VK_STRUCTURE_TYPE_GRAPHICS_PIPELINE_LIBRARY_CREATE_INFO_EXT ||
                   n->sType == VK_STRUCTURE_TYPE_PIPELINE_LIBRARY_CREATE_INFO_KHR;
    return library;
}

// Empty when the create info is safe to hand to the driver, else why not.
std::string ignored_state_problem(const VkGraphicsPipelineCreateInfo& info) {
    const bool library = is_library(info);
    if (!info.pStages && info.stageCount && !library)
        return "no shader stages although stageCount is " + std::to_string(info.stageCount);
    if (library)
        return {}; // parts of a pipeline: the driver takes only the state of the parts named
    // The states every pipeline with a vertex stage needs, unless their members are dynamic.
    if (!info.pRasterizationState && !rasterization_dynamic(info))
        return "no rasterization state";
    if (!info.pInputAssemblyState && !input_assembly_dynamic(info) &&
        !has_stages(info, VK_SHADER_STAGE_MESH_BIT_EXT))
        return "no input assembly state";
    if (has_tessellation_stages(info) && !info.pTessellationState &&
        !any_dynamic(info, {VK_DYNAMIC_STATE_PATCH_CONTROL_POINTS_EXT}))
        return "tessellation shaders without a tessellation state";
    const bool discard = info.pRasterizationState &&
                         info.pRasterizationState->rasterizerDiscardEnable &&
                         !any_dynamic(info, {VK_DYNAMIC_STATE_RASTERIZER_DISCARD_ENABLE});
    if (!info.pViewportState && !discard &&
        !any_dynamic(info,
                     {VK_DYNAMIC_STATE_VIEWPORT_WITH_COUNT, VK_DYNAMIC_STATE_SCISSOR_WITH_COUNT,
                      VK_DYNAMIC_STATE_RASTERIZER_DISCARD_ENABLE}))
        return "no viewport state although it rasterizes";
    if (const VkPipelineViewportStateCreateInfo* vp = info.pViewportState; vp && !discard) {
        if (!vp->pViewports && vp->viewportCount &&
            !any_dynamic(info, {VK_DYNAMIC_STATE_VIEWPORT, VK_DYNAMIC_STATE_VIEWPORT_WITH_COUNT}))
            return "no viewports although they are not dynamic";
        if (!vp->pScissors && vp->scissorCount &&
            !any_dynamic(info, {VK_DYNAMIC_STATE_SCISSOR, VK_DYNAMIC_STATE_SCISSOR_WITH_COUNT}))
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
    // Left-out states get placeholders (with_placeholders says why), libraries too: a driver
    // takes only the states of the parts a library builds, and lavapipe crashes on a left-out
    // one there as in a whole pipeline (dEQP-VK.pipeline.fast_linked_library.
    // extended_dynamic_state.*.null_*_state killed workers by SIGSEGV).
    std::vector<VkGraphicsPipelineCreateInfo> fixed;
    for (std::uint32_t i = 0; i < n; ++i) {
        VkGraphicsPipelineCreateInfo info;
        if (!with_placeholders(a.pCreateInfos[i], info))
            continue;
        if (fixed.empty())
            fixed.assign(a.pCreateInfos, a.pCreateInfos + n);
        fixed[i] = info;
    }
    std::vector<VkPipeline> hosts(n, VK_NULL_HANDLE);
    a.ret = dev->dispatch.CreateGraphicsPipelines(a.device.handle, a.pipelineCache.handle, n,
                                                  fixed.empty() ? a.pCreateInfos : fixed.data(),
                                                  nullptr, hosts.data());
    return keep_created_pipelines(*dev, ids, hosts, a.pPipelines);
}

DecodeResult Executor::keep_created_pipelines(DeviceState& dev,
                                              const std::vector<std::uint64_t>& ids,
                                              const std::vector<VkPipeline>& hosts,
                                              VkPipeline* reply) {
    for (std::size_t i = 0; i < hosts.size(); ++i) {
        if (hosts[i] != VK_NULL_HANDLE)
            VN_TRY(add_child<VkPipeline>(dev, ids[i], hosts[i]));
        else
            reply[i] = VK_NULL_HANDLE;
    }
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
