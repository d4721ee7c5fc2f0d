#include "vn/sandbox/policy.h"

#include "vn/os/unique_fd.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <bit>
#include <cctype>
#include <charconv>
#include <memory>
#include <set>
#include <utility>

namespace vn::sandbox {

using os::UniqueFd;

namespace {

// Only constants whose values are the same on every architecture we ship a policy for, so that a
// policy compiled for another architecture (aarch64 on an x86_64 build host) stays correct.
struct NamedConstant {
    std::string_view name;
    std::uint64_t value;
};
#define VN_CONSTANT(name)                                                                          \
    NamedConstant {                                                                                \
#name, static_cast < std::uint64_t>(name)                                                  \
    }
constexpr NamedConstant kConstants[] = {
    VN_CONSTANT(AF_UNIX),
    VN_CONSTANT(AF_LOCAL),
    VN_CONSTANT(AF_NETLINK),
    VN_CONSTANT(SOCK_STREAM),
    VN_CONSTANT(SOCK_DGRAM),
    VN_CONSTANT(SOCK_SEQPACKET),
    VN_CONSTANT(SOCK_CLOEXEC),
    VN_CONSTANT(SOCK_NONBLOCK),
    VN_CONSTANT(PROT_NONE),
    VN_CONSTANT(PROT_READ),
    VN_CONSTANT(PROT_WRITE),
    VN_CONSTANT(PROT_EXEC),
    VN_CONSTANT(MAP_SHARED),
    VN_CONSTANT(MAP_PRIVATE),
    VN_CONSTANT(MAP_FIXED),
    VN_CONSTANT(MAP_ANONYMOUS),
    VN_CONSTANT(MADV_DONTNEED),
    VN_CONSTANT(MADV_DONTDUMP),
    VN_CONSTANT(MADV_DODUMP),
    VN_CONSTANT(MADV_FREE),
    VN_CONSTANT(MADV_WILLNEED),
    VN_CONSTANT(MADV_NORMAL),
    VN_CONSTANT(MADV_HUGEPAGE),
    VN_CONSTANT(MADV_NOHUGEPAGE),
    VN_CONSTANT(MADV_DONTFORK),
    VN_CONSTANT(MADV_REMOVE),
    VN_CONSTANT(MADV_WIPEONFORK),
    VN_CONSTANT(CLONE_VM),
    VN_CONSTANT(CLONE_FS),
    VN_CONSTANT(CLONE_FILES),
    VN_CONSTANT(CLONE_SIGHAND),
    VN_CONSTANT(CLONE_THREAD),
    VN_CONSTANT(CLONE_SYSVSEM),
    VN_CONSTANT(CLONE_SETTLS),
    VN_CONSTANT(CLONE_PARENT_SETTID),
    VN_CONSTANT(CLONE_CHILD_CLEARTID),
    VN_CONSTANT(F_DUPFD),
    VN_CONSTANT(F_DUPFD_CLOEXEC),
    VN_CONSTANT(F_GETFD),
    VN_CONSTANT(F_SETFD),
    VN_CONSTANT(F_GETFL),
    VN_CONSTANT(F_SETFL),
    VN_CONSTANT(F_ADD_SEALS),
    VN_CONSTANT(F_GET_SEALS),
    VN_CONSTANT(F_SETLK),
    VN_CONSTANT(F_SETLKW),
    VN_CONSTANT(F_GETLK),
    VN_CONSTANT(F_OFD_SETLK),
    VN_CONSTANT(F_OFD_SETLKW),
    VN_CONSTANT(F_OFD_GETLK),
    VN_CONSTANT(FIONBIO),
    VN_CONSTANT(FIOCLEX),
    VN_CONSTANT(FIONCLEX),
    VN_CONSTANT(TCGETS),
    VN_CONSTANT(TIOCGWINSZ),
    VN_CONSTANT(PR_SET_NAME),
    VN_CONSTANT(PR_GET_NAME),
    VN_CONSTANT(PR_SET_TIMERSLACK),
    VN_CONSTANT(PR_GET_DUMPABLE),
    VN_CONSTANT(PR_SET_VMA),
    VN_CONSTANT(PR_CAPBSET_READ),
    VN_CONSTANT(PR_GET_NO_NEW_PRIVS),
    VN_CONSTANT(PR_SET_TIMERSLACK),
    VN_CONSTANT(FUTEX_WAIT),
    VN_CONSTANT(FUTEX_WAKE),
    VN_CONSTANT(FUTEX_PRIVATE_FLAG),
    VN_CONSTANT(MFD_CLOEXEC),
    VN_CONSTANT(MFD_ALLOW_SEALING),
    VN_CONSTANT(O_RDONLY),
    VN_CONSTANT(O_WRONLY),
    VN_CONSTANT(O_RDWR),
    VN_CONSTANT(O_CLOEXEC),
};
#undef VN_CONSTANT

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
        s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
        s.remove_suffix(1);
    return s;
}

// Splits on a two-character operator that is not part of a longer one.
std::vector<std::string_view> split(std::string_view s, std::string_view sep) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    for (;;) {
        const std::size_t pos = s.find(sep, start);
        if (pos == std::string_view::npos) {
            parts.push_back(trim(s.substr(start)));
            return parts;
        }
        parts.push_back(trim(s.substr(start, pos - start)));
        start = pos + sep.size();
    }
}

std::optional<std::uint64_t> parse_number(std::string_view s) {
    int base = 10;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s.remove_prefix(2);
    } else if (s.size() > 1 && s[0] == '0') {
        base = 8;
        s.remove_prefix(1);
    }
    std::uint64_t value = 0;
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value, base);
    if (ec != std::errc() || ptr != s.data() + s.size())
        return std::nullopt;
    return value;
}

std::optional<std::uint64_t> parse_value(std::string_view text, std::string& error) {
    text = trim(text);
    bool negate = false;
    if (!text.empty() && text.front() == '~') {
        negate = true;
        text = trim(text.substr(1));
    }
    std::uint64_t value = 0;
    for (std::string_view term : split(text, "|")) {
        if (term.empty()) {
            error = "empty value";
            return std::nullopt;
        }
        auto v = std::isdigit(static_cast<unsigned char>(term.front())) ? parse_number(term)
                                                                        : policy_constant(term);
        if (!v) {
            error = "unknown constant or bad number '" + std::string(term) + "'";
            return std::nullopt;
        }
        value |= *v;
    }
    return negate ? ~value : value;
}

std::optional<ArgCompare> parse_compare(std::string_view text, std::string& error) {
    text = trim(text);
    if (text.size() < 5 || text.substr(0, 3) != "arg" || text[3] < '0' || text[3] > '5') {
        error = "expected argN (N in 0..5) at '" + std::string(text) + "'";
        return std::nullopt;
    }
    ArgCompare cmp;
    cmp.arg = static_cast<unsigned>(text[3] - '0');
    std::string_view rest = trim(text.substr(4));
    static constexpr std::pair<std::string_view, ArgCompare::Op> kOps[] = {
        {"==", ArgCompare::Op::Eq},    {"!=", ArgCompare::Op::Ne},  {"<=", ArgCompare::Op::Le},
        {">=", ArgCompare::Op::Ge},    {"<", ArgCompare::Op::Lt},   {">", ArgCompare::Op::Gt},
        {"&", ArgCompare::Op::BitSet}, {"in ", ArgCompare::Op::In},
    };
    bool found = false;
    for (const auto& [token, op] : kOps) {
        if (rest.substr(0, token.size()) == token) {
            cmp.op = op;
            rest = rest.substr(token.size());
            found = true;
            break;
        }
    }
    if (!found) {
        error = "expected a comparison operator at '" + std::string(rest) + "'";
        return std::nullopt;
    }
    // Our one extension to minijail's syntax: `argN & MASK == VALUE` (libseccomp's MASKED_EQ), for
    // ioctl numbers whose type byte names the driver (`arg1 & 0xff00 == 0x6400` is any DRM ioctl).
    if (cmp.op == ArgCompare::Op::BitSet) {
        if (const std::size_t eq = rest.find("=="); eq != std::string_view::npos) {
            const auto mask = parse_value(rest.substr(0, eq), error);
            const auto value = mask ? parse_value(rest.substr(eq + 2), error) : std::nullopt;
            if (!value)
                return std::nullopt;
            if ((*value & ~*mask) != 0) {
                error = "'& MASK == VALUE' with bits of VALUE outside MASK never matches";
                return std::nullopt;
            }
            cmp.op = ArgCompare::Op::MaskedEq;
            cmp.mask = *mask;
            cmp.value = *value;
            return cmp;
        }
    }
    const auto value = parse_value(rest, error);
    if (!value)
        return std::nullopt;
    cmp.value = *value;
    // minijail's `&` means "any of these bits"; libseccomp can only test "all of these bits".
    // Both agree on one bit, so that is all we accept.
    if (cmp.op == ArgCompare::Op::BitSet && std::popcount(cmp.value) != 1) {
        error = "'&' takes a single bit";
        return std::nullopt;
    }
    return cmp;
}

struct ScmpFilterDeleter {
    void operator()(void* ctx) const { seccomp_release(ctx); }
};
using ScmpFilter = std::unique_ptr<void, ScmpFilterDeleter>;

std::uint32_t scmp_arch(Arch arch) {
    return arch == Arch::X86_64 ? SCMP_ARCH_X86_64 : SCMP_ARCH_AARCH64;
}

// libseccomp's SCMP_CMP() is a C99 compound literal with its last field left out: every field
// given, in plain C++.
scmp_arg_cmp scmp_cmp(unsigned int arg, scmp_compare op, scmp_datum_t a, scmp_datum_t b = 0) {
    return scmp_arg_cmp{arg, op, a, b};
}

scmp_arg_cmp to_scmp(const ArgCompare& c) {
    switch (c.op) {
    case ArgCompare::Op::Eq:
        return scmp_cmp(c.arg, SCMP_CMP_EQ, c.value);
    case ArgCompare::Op::Ne:
        return scmp_cmp(c.arg, SCMP_CMP_NE, c.value);
    case ArgCompare::Op::Lt:
        return scmp_cmp(c.arg, SCMP_CMP_LT, c.value);
    case ArgCompare::Op::Le:
        return scmp_cmp(c.arg, SCMP_CMP_LE, c.value);
    case ArgCompare::Op::Gt:
        return scmp_cmp(c.arg, SCMP_CMP_GT, c.value);
    case ArgCompare::Op::Ge:
        return scmp_cmp(c.arg, SCMP_CMP_GE, c.value);
    case ArgCompare::Op::BitSet:
        return scmp_cmp(c.arg, SCMP_CMP_MASKED_EQ, c.value, c.value);
    case ArgCompare::Op::In:
        return scmp_cmp(c.arg, SCMP_CMP_MASKED_EQ, ~c.value, 0);
    case ArgCompare::Op::MaskedEq:
        return scmp_cmp(c.arg, SCMP_CMP_MASKED_EQ, c.mask, c.value);
    }
    __builtin_trap();
}

} // namespace

std::optional<Arch> parse_arch(std::string_view name) {
    if (name == "x86_64" || name == "amd64" || name == "AMD64")
        return Arch::X86_64;
    if (name == "aarch64" || name == "arm64" || name == "ARM64")
        return Arch::Aarch64;
    return std::nullopt;
}

std::string_view arch_name(Arch arch) {
    return arch == Arch::X86_64 ? "x86_64" : "aarch64";
}

Arch native_arch() {
#if defined(__x86_64__)
    return Arch::X86_64;
#elif defined(__aarch64__)
    return Arch::Aarch64;
#else
#error "no seccomp policy for this architecture: add sandbox/policies/<arch>/worker.policy"
#endif
}

std::optional<std::uint64_t> policy_constant(std::string_view name) {
    for (const auto& c : kConstants) {
        if (c.name == name)
            return c.value;
    }
    return std::nullopt;
}

std::optional<Policy> Policy::parse(std::string_view text, std::string& error) {
    Policy policy;
    std::set<std::string, std::less<>> seen;
    int line_no = 0;
    std::string logical;
    int logical_start = 0;
    while (!text.empty()) {
        const std::size_t nl = text.find('\n');
        std::string_view raw = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        ++line_no;
        if (const std::size_t hash = raw.find('#'); hash != std::string_view::npos)
            raw = raw.substr(0, hash);
        raw = trim(raw);
        if (logical.empty())
            logical_start = line_no;
        if (!raw.empty() && raw.back() == '\\') {
            logical.append(raw.substr(0, raw.size() - 1)).push_back(' ');
            if (!text.empty())
                continue;
        } else {
            logical.append(raw);
        }
        const std::string line = std::exchange(logical, std::string());
        if (trim(line).empty())
            continue;
        auto fail = [&](const std::string& why) {
            error = "line " + std::to_string(logical_start) + ": " + why;
            return std::nullopt;
        };
        if (line.front() == '@')
            return fail("directives (@include, @frequency) are not supported");
        const std::size_t colon = line.find(':');
        if (colon == std::string::npos)
            return fail("expected 'syscall: rule'");
        PolicyRule rule;
        rule.line = logical_start;
        rule.syscall = std::string(trim(std::string_view(line).substr(0, colon)));
        const std::string_view body = trim(std::string_view(line).substr(colon + 1));
        if (rule.syscall.empty() ||
            rule.syscall.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") !=
                std::string::npos)
            return fail("bad syscall name '" + rule.syscall + "'");
        if (!seen.insert(rule.syscall).second)
            return fail("'" + rule.syscall + "' appears twice; merge the rules with '||'");
        if (body == "1") {
            // unconditional allow
        } else if (body.substr(0, 7) == "return ") {
            const auto value = parse_number(trim(body.substr(7)));
            if (!value || *value == 0 || *value > 4095)
                return fail("'return' takes an errno value in 1..4095");
            rule.errno_value = static_cast<int>(*value);
        } else if (body == "0" || body.empty()) {
            return fail("a rule that never allows is the default; leave the syscall out");
        } else {
            for (std::string_view alt : split(body, "||")) {
                std::vector<ArgCompare> all;
                std::set<unsigned> args;
                for (std::string_view term : split(alt, "&&")) {
                    std::string why;
                    auto cmp = parse_compare(term, why);
                    if (!cmp)
                        return fail(why);
                    if (!args.insert(cmp->arg).second)
                        return fail("an '&&' chain may test each argument once (libseccomp)");
                    all.push_back(*cmp);
                }
                rule.alternatives.push_back(std::move(all));
            }
        }
        policy.m_rules.push_back(std::move(rule));
    }
    return policy;
}

std::size_t Policy::allowed_syscall_count() const {
    std::size_t count = 0;
    for (const auto& rule : m_rules)
        count += rule.errno_value ? 0 : 1;
    return count;
}

std::optional<BpfProgram> Policy::compile(Arch arch, DefaultAction action,
                                          std::string& error) const {
    const std::uint32_t default_action =
        action == DefaultAction::KillProcess ? SCMP_ACT_KILL_PROCESS : SCMP_ACT_TRAP;
    ScmpFilter ctx(seccomp_init(default_action));
    if (!ctx) {
        error = "seccomp_init failed";
        return std::nullopt;
    }
    const std::uint32_t target = scmp_arch(arch);
    // Only the target ABI: a 32-bit or x32 syscall from a 64-bit worker is an attack, not a need.
    if (seccomp_arch_native() != target) {
        if (seccomp_arch_add(ctx.get(), target) != 0 ||
            seccomp_arch_remove(ctx.get(), SCMP_ARCH_NATIVE) != 0) {
            error = "libseccomp cannot target " + std::string(arch_name(arch));
            return std::nullopt;
        }
    }
    if (seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) != 0) {
        error = "cannot set the bad-architecture action";
        return std::nullopt;
    }
    // A binary tree over the syscall numbers instead of libseccomp's default linear list: the
    // kernel runs the filter on every syscall a worker makes, and once per syscall number when
    // a worker installs it (the kernel's allow cache, built with interrupts off), so a filter of
    // ninety rules cost each new worker about 0.3 ms of CPU as a list.
    if (seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2) != 0) {
        error = "libseccomp cannot build a binary tree filter";
        return std::nullopt;
    }
    for (const auto& rule : m_rules) {
        // Checked against the target, but rules take the native (or pseudo) number, which
        // libseccomp translates for each architecture in the filter.
        const int target_nr = seccomp_syscall_resolve_name_arch(target, rule.syscall.c_str());
        const int nr = seccomp_syscall_resolve_name(rule.syscall.c_str());
        if (target_nr == __NR_SCMP_ERROR || target_nr < 0 || nr == __NR_SCMP_ERROR) {
            error = "line " + std::to_string(rule.line) + ": '" + rule.syscall +
                    "' is not a syscall on " + std::string(arch_name(arch));
            return std::nullopt;
        }
        int rc = 0;
        if (rule.errno_value) {
            rc = seccomp_rule_add_exact(
                ctx.get(), SCMP_ACT_ERRNO(static_cast<std::uint32_t>(*rule.errno_value)), nr, 0);
        } else if (rule.alternatives.empty()) {
            rc = seccomp_rule_add_exact(ctx.get(), SCMP_ACT_ALLOW, nr, 0);
        } else {
            for (const auto& alt : rule.alternatives) {
                std::vector<scmp_arg_cmp> cmps;
                for (const auto& c : alt)
                    cmps.push_back(to_scmp(c));
                rc = seccomp_rule_add_exact_array(ctx.get(), SCMP_ACT_ALLOW, nr,
                                                  static_cast<unsigned>(cmps.size()), cmps.data());
                if (rc != 0)
                    break;
            }
        }
        if (rc != 0) {
            error = "line " + std::to_string(rule.line) + ": libseccomp rejects the rule for '" +
                    rule.syscall + "' (" + std::to_string(rc) + ")";
            return std::nullopt;
        }
    }
    // libseccomp 2.5 exports only to an fd; a memfd keeps this free of temporary files.
    UniqueFd out(::memfd_create("vn-seccomp-bpf", MFD_CLOEXEC));
    if (!out || seccomp_export_bpf(ctx.get(), out.get()) != 0) {
        error = "seccomp_export_bpf failed";
        return std::nullopt;
    }
    const off_t size = ::lseek(out.get(), 0, SEEK_END);
    if (size <= 0) {
        error = "seccomp_export_bpf wrote nothing";
        return std::nullopt;
    }
    std::vector<std::byte> bytes(static_cast<std::size_t>(size));
    if (::pread(out.get(), bytes.data(), bytes.size(), 0) != size) {
        error = "cannot read the exported filter back";
        return std::nullopt;
    }
    return BpfProgram::from_bytes(bytes, error);
}

} // namespace vn::sandbox
