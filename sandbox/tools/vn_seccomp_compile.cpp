// vn-seccomp-compile: policy text -> raw seccomp BPF (struct sock_filter[]), at build time.
//   vn-seccomp-compile --arch x86_64 --default-action kill|trap [--count] IN.policy OUT.bpf
// --count prints the number of allowed syscalls (for the docs and the reports).
#include "vn/sandbox/policy.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

using namespace vn::sandbox;

int main(int argc, char** argv) {
    Arch arch = native_arch();
    DefaultAction action = DefaultAction::KillProcess;
    bool count = false;
    std::string in, out;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--arch" && i + 1 < argc) {
            const auto parsed = parse_arch(argv[++i]);
            if (!parsed) {
                std::fprintf(stderr, "vn-seccomp-compile: unknown arch '%s'\n", argv[i]);
                return 2;
            }
            arch = *parsed;
        } else if (arg == "--default-action" && i + 1 < argc) {
            const std::string_view value = argv[++i];
            if (value == "kill") {
                action = DefaultAction::KillProcess;
            } else if (value == "trap") {
                action = DefaultAction::Trap;
            } else {
                std::fprintf(stderr, "vn-seccomp-compile: --default-action kill|trap\n");
                return 2;
            }
        } else if (arg == "--count") {
            count = true;
        } else if (in.empty()) {
            in = arg;
        } else if (out.empty()) {
            out = arg;
        } else {
            std::fprintf(stderr, "usage: vn-seccomp-compile [--arch A] [--default-action "
                                 "kill|trap] [--count] IN.policy [OUT.bpf]\n");
            return 2;
        }
    }
    if (in.empty() || (out.empty() && !count)) {
        std::fprintf(stderr, "usage: vn-seccomp-compile [--arch A] [--default-action kill|trap] "
                             "[--count] IN.policy [OUT.bpf]\n");
        return 2;
    }
    std::ifstream file(in);
    if (!file) {
        std::fprintf(stderr, "vn-seccomp-compile: cannot read %s\n", in.c_str());
        return 1;
    }
    std::stringstream text;
    text << file.rdbuf();
    std::string error;
    const auto policy = Policy::parse(text.str(), error);
    if (!policy) {
        std::fprintf(stderr, "%s:%s\n", in.c_str(), error.c_str());
        return 1;
    }
    const auto program = policy->compile(arch, action, error);
    if (!program) {
        std::fprintf(stderr, "%s: %s\n", in.c_str(), error.c_str());
        return 1;
    }
    if (count)
        std::printf("%zu\n", policy->allowed_syscall_count());
    if (!out.empty()) {
        const std::string tmp = out + ".tmp";
        std::ofstream bpf(tmp, std::ios::binary | std::ios::trunc);
        const auto bytes = program->bytes();
        bpf.write(reinterpret_cast<const char*>(bytes.data()),
                  static_cast<std::streamsize>(bytes.size()));
        bpf.close();
        if (!bpf || std::rename(tmp.c_str(), out.c_str()) != 0) {
            std::fprintf(stderr, "vn-seccomp-compile: cannot write %s\n", out.c_str());
            return 1;
        }
    }
    return 0;
}
