#pragma once
// Seccomp policies as data. The text format is minijail's, reduced to what a worker policy needs:
//
//   # comment; a trailing backslash continues a line
//   read: 1                                   allow
//   clone3: return 38                         fail with this errno (38 = ENOSYS), never kill
//   socket: arg0 == AF_UNIX                   allow when the expression holds, else default action
//   mmap: arg2 in ~PROT_EXEC || arg3 & MAP_SHARED
//
// An expression is `||` of `&&` of `argN OP VALUE`; OP is ==, !=, <, <=, >, >=, `&` (the single bit
// VALUE is set) or `in` (no bit outside VALUE is set). VALUE is numbers and named constants joined
// with `|`, optionally negated with `~`. One extension: `argN & MASK == VALUE` (the masked bits
// equal VALUE), for ioctl numbers. A syscall may appear once. Unknown syscall names (for the
// policy's architecture) and unknown constants are errors, so a policy is checked when it is built.
#include "vn/sandbox/bpf_program.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vn::sandbox {

struct ArgCompare {
    enum class Op { Eq, Ne, Lt, Le, Gt, Ge, BitSet, In, MaskedEq };
    unsigned arg = 0;
    Op op = Op::Eq;
    std::uint64_t value = 0;
    std::uint64_t mask = 0; // MaskedEq only
};

struct PolicyRule {
    std::string syscall;
    // Empty: unconditional. Otherwise any one alternative (all of its comparisons) allows the call.
    std::vector<std::vector<ArgCompare>> alternatives;
    std::optional<int> errno_value; // `return N`
    int line = 0;
};

// What happens to a syscall the policy does not allow.
enum class DefaultAction {
    KillProcess, // production: the worker dies with SIGSYS and its context is reported lost
    Trap,        // debugging: SIGSYS is delivered; the jail's handler logs the name (see jail.h)
};

enum class Arch { X86_64, Aarch64 };

std::optional<Arch> parse_arch(std::string_view name);
std::string_view arch_name(Arch arch);
// The architecture this library was built for.
Arch native_arch();

class Policy {
  public:
    static std::optional<Policy> parse(std::string_view text, std::string& error);

    const std::vector<PolicyRule>& rules() const { return m_rules; }
    // Syscalls the policy lets through in some form (unconditionally or with argument checks).
    std::size_t allowed_syscall_count() const;

    // Builds the filter with libseccomp. Fails on syscall names unknown for `arch`.
    std::optional<BpfProgram> compile(Arch arch, DefaultAction action, std::string& error) const;

  private:
    std::vector<PolicyRule> m_rules;
};

// The named constants a policy may use (AF_UNIX, PROT_EXEC, CLONE_THREAD, TCGETS...).
std::optional<std::uint64_t> policy_constant(std::string_view name);

} // namespace vn::sandbox
