#include "vn/sandbox/bpf_program.h"

#include <cstdlib>

namespace vn::sandbox {

namespace gen {
extern const unsigned char kWorkerBpfKill[];
extern const std::size_t kWorkerBpfKillSize;
extern const unsigned char kWorkerBpfTrap[];
extern const std::size_t kWorkerBpfTrapSize;
extern const unsigned char kWorkerPolicy[];
extern const std::size_t kWorkerPolicySize;
} // namespace gen

BpfProgram default_worker_filter(bool trap) {
    const auto* data =
        reinterpret_cast<const std::byte*>(trap ? gen::kWorkerBpfTrap : gen::kWorkerBpfKill);
    const std::size_t size = trap ? gen::kWorkerBpfTrapSize : gen::kWorkerBpfKillSize;
    std::string error;
    auto program = BpfProgram::from_bytes({data, size}, error);
    // The build produced these bytes with seccomp_export_bpf; a bad shape is a broken build.
    if (!program)
        std::abort();
    return std::move(*program);
}

std::string_view default_worker_policy_text() {
    return {reinterpret_cast<const char*>(gen::kWorkerPolicy), gen::kWorkerPolicySize};
}

} // namespace vn::sandbox
