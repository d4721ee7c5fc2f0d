#pragma once
// A compiled seccomp filter: the raw `struct sock_filter` array that the kernel takes, as produced
// by seccomp_export_bpf and as read from `--worker-seccomp-bpf` files.
#include <linux/filter.h>

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace vn::sandbox {

class BpfProgram {
  public:
    // Checks the shape only (non-empty, whole instructions, at most BPF_MAXINSNS); the kernel's
    // verifier judges the rest when the filter is installed.
    static std::optional<BpfProgram> from_bytes(std::span<const std::byte> bytes,
                                                std::string& error);
    static std::optional<BpfProgram> from_file(const std::string& path, std::string& error);

    std::size_t instruction_count() const { return m_insns.size(); }
    std::span<const std::byte> bytes() const { return std::as_bytes(std::span(m_insns)); }

    // seccomp(SECCOMP_SET_MODE_FILTER) on the calling thread; needs no_new_privs (or
    // CAP_SYS_ADMIN). Threads created afterwards inherit it.
    bool install(std::string& error) const;

  private:
    std::vector<sock_filter> m_insns;
};

// The worker policy for this architecture, compiled at build time and linked in.
BpfProgram default_worker_filter(bool trap);
// Its source text, for tools and for `--worker-seccomp-minijail-policy`-style recompilation.
std::string_view default_worker_policy_text();

} // namespace vn::sandbox
