#include "vn/scenarios/compute_dispatch.h"

#include <algorithm>

namespace vn::scenarios {

ComputeRun run_storage_shader(client::Guest& guest, const Device& device,
                              std::span<const std::uint32_t> spirv, std::uint32_t invocations) {
    if (invocations == 0 || invocations % 64 != 0)
        throw Failure("invocations must be a non-zero multiple of 64");
    const auto dev = device.ref();
    HostBuffer out = create_host_buffer(guest, device, VkDeviceSize{invocations} * 4,
                                        VK_BUFFER_USAGE_STORAGE_BUFFER_BIT);
    ComputeRun run;
    run.readable = out.mapping.mapped();
    run.fd_type = out.mapping.fd_type();
    auto words = out.mapping.as<std::uint32_t>();
    if (run.readable && words.size() < invocations)
        throw Failure("the mapped blob is smaller than the buffer");
    std::fill(words.begin(), words.end(), 0xdeadbeefu);

    VkDescriptorSetLayoutBinding binding{0, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1,
                                         VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
    VkDescriptorSetLayoutCreateInfo dslci{};
    dslci.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO;
    dslci.bindingCount = 1;
    dslci.pBindings = &binding;
    const std::uint64_t dsl_id = guest.new_id();
    VkDescriptorSetLayout dsl = handle<VkDescriptorSetLayout>(dsl_id);
    gen::CreateDescriptorSetLayoutArgs cdsl;
    cdsl.device = dev;
    cdsl.pCreateInfo = &dslci;
    cdsl.pSetLayout = &dsl;
    expect_success(call(guest, cdsl).ret, "vkCreateDescriptorSetLayout");

    VkPipelineLayoutCreateInfo plci{};
    plci.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO;
    plci.setLayoutCount = 1;
    plci.pSetLayouts = &dsl;
    const std::uint64_t layout_id = guest.new_id();
    VkPipelineLayout layout = handle<VkPipelineLayout>(layout_id);
    gen::CreatePipelineLayoutArgs cpl;
    cpl.device = dev;
    cpl.pCreateInfo = &plci;
    cpl.pPipelineLayout = &layout;
    expect_success(call(guest, cpl).ret, "vkCreatePipelineLayout");

    VkShaderModuleCreateInfo smci{};
    smci.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO;
    smci.codeSize = spirv.size_bytes();
    smci.pCode = spirv.data();
    const std::uint64_t shader_id = guest.new_id();
    VkShaderModule shader = handle<VkShaderModule>(shader_id);
    gen::CreateShaderModuleArgs csm;
    csm.device = dev;
    csm.pCreateInfo = &smci;
    csm.pShaderModule = &shader;
    expect_success(call(guest, csm).ret, "vkCreateShaderModule");

    VkComputePipelineCreateInfo cpci{};
    cpci.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO;
    cpci.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
    cpci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    cpci.stage.module = shader;
    cpci.stage.pName = "main";
    cpci.layout = layout;
    const std::uint64_t pipeline_id = guest.new_id();
    VkPipeline pipeline = handle<VkPipeline>(pipeline_id);
    gen::CreateComputePipelinesArgs ccp;
    ccp.device = dev;
    ccp.createInfoCount = 1;
    ccp.pCreateInfos = &cpci;
    ccp.pPipelines = &pipeline;
    expect_success(call(guest, ccp).ret, "vkCreateComputePipelines");

    VkDescriptorPoolSize pool_size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1};
    VkDescriptorPoolCreateInfo dpci{};
    dpci.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO;
    dpci.maxSets = 1;
    dpci.poolSizeCount = 1;
    dpci.pPoolSizes = &pool_size;
    const std::uint64_t dpool_id = guest.new_id();
    VkDescriptorPool dpool = handle<VkDescriptorPool>(dpool_id);
    gen::CreateDescriptorPoolArgs cdp;
    cdp.device = dev;
    cdp.pCreateInfo = &dpci;
    cdp.pDescriptorPool = &dpool;
    expect_success(call(guest, cdp).ret, "vkCreateDescriptorPool");

    VkDescriptorSetAllocateInfo dsai{};
    dsai.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO;
    dsai.descriptorPool = dpool;
    dsai.descriptorSetCount = 1;
    dsai.pSetLayouts = &dsl;
    const std::uint64_t set_id = guest.new_id();
    VkDescriptorSet set = handle<VkDescriptorSet>(set_id);
    gen::AllocateDescriptorSetsArgs ads;
    ads.device = dev;
    ads.pAllocateInfo = &dsai;
    ads.pDescriptorSets = &set;
    expect_success(call(guest, ads).ret, "vkAllocateDescriptorSets");

    VkDescriptorBufferInfo dbi{handle<VkBuffer>(out.buffer), 0, VK_WHOLE_SIZE};
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
    send(guest, uds);

    const std::uint64_t cb = begin_command_buffer(guest, device);
    gen::CmdBindPipelineArgs bp;
    bp.commandBuffer = ref<VkCommandBuffer>(cb);
    bp.pipelineBindPoint = VK_PIPELINE_BIND_POINT_COMPUTE;
    bp.pipeline = ref<VkPipeline>(pipeline_id);
    send(guest, bp);
    gen::CmdBindDescriptorSetsArgs bds;
    bds.commandBuffer = ref<VkCommandBuffer>(cb);
    bds.pipelineBindPoint = VK_PIPELINE_BIND_POINT_COMPUTE;
    bds.layout = ref<VkPipelineLayout>(layout_id);
    bds.descriptorSetCount = 1;
    bds.pDescriptorSets = &set;
    send(guest, bds);
    gen::CmdDispatchArgs disp;
    disp.commandBuffer = ref<VkCommandBuffer>(cb);
    disp.groupCountX = invocations / 64;
    disp.groupCountY = 1;
    disp.groupCountZ = 1;
    send(guest, disp);
    // Make the shader's writes visible to the host before the fence signals.
    VkMemoryBarrier barrier{};
    barrier.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
    barrier.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
    barrier.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
    gen::CmdPipelineBarrierArgs pb;
    pb.commandBuffer = ref<VkCommandBuffer>(cb);
    pb.srcStageMask = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT;
    pb.dstStageMask = VK_PIPELINE_STAGE_HOST_BIT;
    pb.memoryBarrierCount = 1;
    pb.pMemoryBarriers = &barrier;
    send(guest, pb);
    end_command_buffer(guest, cb);

    const std::uint64_t fence = create_fence(guest, device);
    const std::uint64_t cbs[] = {cb};
    submit(guest, device, cbs, fence);
    wait_fence(guest, device, fence);

    if (run.readable)
        run.values.assign(words.begin(), words.begin() + invocations);
    destroy_host_buffer(guest, device, out);
    if (guest.sync() != client::Status::Ok)
        throw Failure("after freeing: " + guest.last_error());

    // Lavapipe (Mesa 22.3) faults freeing memory that a live command buffer still names.
    free_command_buffer(guest, device, cb);
    gen::DestroyFenceArgs df;
    df.device = dev;
    df.fence = ref<VkFence>(fence);
    send(guest, df);
    gen::DestroyPipelineArgs dp;
    dp.device = dev;
    dp.pipeline = ref<VkPipeline>(pipeline_id);
    send(guest, dp);
    gen::DestroyShaderModuleArgs dsm;
    dsm.device = dev;
    dsm.shaderModule = ref<VkShaderModule>(shader_id);
    send(guest, dsm);
    gen::DestroyDescriptorPoolArgs ddp;
    ddp.device = dev;
    ddp.descriptorPool = ref<VkDescriptorPool>(dpool_id);
    send(guest, ddp);
    gen::DestroyPipelineLayoutArgs dpl;
    dpl.device = dev;
    dpl.pipelineLayout = ref<VkPipelineLayout>(layout_id);
    send(guest, dpl);
    gen::DestroyDescriptorSetLayoutArgs ddsl;
    ddsl.device = dev;
    ddsl.descriptorSetLayout = ref<VkDescriptorSetLayout>(dsl_id);
    send(guest, ddsl);
    if (guest.sync() != client::Status::Ok)
        throw Failure("after the dispatch: " + guest.last_error());
    return run;
}

} // namespace vn::scenarios
