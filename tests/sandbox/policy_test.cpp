// The policy language and compiler: what it accepts, what it refuses, and that the filter built
// into the library is the one the policy file describes.
#include "jailed_child.h"
#include "vn/sandbox/policy.h"

#include <catch2/catch.hpp>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <cstdio>
#include <fstream>

using namespace vn::sandbox;
using namespace vn::sandbox::test;

namespace {

std::string parse_error(std::string_view text) {
    std::string error;
    const auto policy = Policy::parse(text, error);
    return policy ? std::string("<parsed>") : error;
}

std::string compile_error(std::string_view text, Arch arch) {
    std::string error;
    const auto policy = Policy::parse(text, error);
    if (!policy)
        return "parse: " + error;
    return policy->compile(arch, DefaultAction::KillProcess, error) ? "<compiled>" : error;
}

} // namespace

TEST_CASE("policy syntax", "[policy]") {
    std::string error;
    const auto policy =
        Policy::parse("# comment\n"
                      "read: 1\n"
                      "clone3: return 38\n"
                      "socket: arg0 == AF_UNIX && arg1 == SOCK_STREAM|SOCK_CLOEXEC\n"
                      "mmap: arg2 in ~PROT_EXEC || \\\n"
                      "      arg3 & MAP_SHARED\n"
                      "ioctl: arg1 & 0xff00 == 0x6400 || arg1 == 0x5401\n",
                      error);
    REQUIRE(policy);
    REQUIRE(policy->rules().size() == 5);
    CHECK(policy->allowed_syscall_count() == 4); // clone3 only fails
    CHECK(policy->rules()[1].errno_value == 38);
    const auto& socket = policy->rules()[2];
    REQUIRE(socket.alternatives.size() == 1);
    CHECK(socket.alternatives[0].size() == 2);
    CHECK(socket.alternatives[0][1].value == (SOCK_STREAM | SOCK_CLOEXEC));
    const auto& mmap = policy->rules()[3];
    CHECK(mmap.line == 5);
    REQUIRE(mmap.alternatives.size() == 2);
    CHECK(mmap.alternatives[0][0].op == ArgCompare::Op::In);
    CHECK(mmap.alternatives[0][0].value == ~static_cast<std::uint64_t>(PROT_EXEC));
    const auto& ioctl = policy->rules()[4];
    CHECK(ioctl.alternatives[0][0].op == ArgCompare::Op::MaskedEq);
    CHECK(ioctl.alternatives[0][0].mask == 0xff00);
    CHECK(ioctl.alternatives[0][0].value == 0x6400);
}

TEST_CASE("policy errors name the line and the problem", "[policy]") {
    CHECK(parse_error("read: 1\nread: 1\n").find("line 2") != std::string::npos);
    CHECK(parse_error("read 1\n").find("expected 'syscall: rule'") != std::string::npos);
    CHECK(parse_error("socket: arg0 == AF_BOGUS\n").find("AF_BOGUS") != std::string::npos);
    CHECK(parse_error("socket: arg9 == 1\n").find("argN") != std::string::npos);
    CHECK(parse_error("mmap: arg2 & PROT_READ|PROT_WRITE\n").find("single bit") !=
          std::string::npos);
    CHECK(parse_error("read: return 0\n").find("errno") != std::string::npos);
    CHECK(parse_error("read: 0\n").find("default") != std::string::npos);
    CHECK(parse_error("socket: arg0 == 1 && arg0 == 2\n").find("once") != std::string::npos);
    CHECK(parse_error("@include foo.policy\n").find("not supported") != std::string::npos);
    CHECK(parse_error("ioctl: arg1 & 0xff == 0x6400\n").find("never matches") != std::string::npos);
}

TEST_CASE("syscall names are checked per architecture", "[policy]") {
    CHECK(compile_error("open: 1\n", Arch::X86_64) == "<compiled>");
    // aarch64 only has openat: a policy for it naming open must not build.
    CHECK(compile_error("open: 1\n", Arch::Aarch64).find("not a syscall on aarch64") !=
          std::string::npos);
    CHECK(compile_error("openat: 1\n", Arch::Aarch64) == "<compiled>");
    CHECK(compile_error("no_such_call: 1\n", Arch::X86_64).find("no_such_call") !=
          std::string::npos);
}

TEST_CASE("BPF programs are whole instructions and at most BPF_MAXINSNS", "[policy][bpf]") {
    std::string error;
    std::vector<std::byte> bytes(12);
    CHECK_FALSE(BpfProgram::from_bytes(bytes, error));
    CHECK(error.find("8-byte") != std::string::npos);
    CHECK_FALSE(BpfProgram::from_bytes({}, error));
    bytes.resize((BPF_MAXINSNS + 1) * sizeof(sock_filter));
    CHECK_FALSE(BpfProgram::from_bytes(bytes, error));
    bytes.resize(16);
    CHECK(BpfProgram::from_bytes(bytes, error));
    CHECK_FALSE(BpfProgram::from_file("/nonexistent/worker.bpf", error));
    CHECK_FALSE(BpfProgram::from_file("/proc/self/status", error)); // not a regular file size
}

TEST_CASE("the built-in filter is the compiled worker policy", "[policy]") {
    std::string error;
    const auto policy = Policy::parse(default_worker_policy_text(), error);
    INFO(error);
    REQUIRE(policy);
    CHECK(policy->allowed_syscall_count() > 40);
    for (const bool trap : {false, true}) {
        const auto compiled = policy->compile(
            native_arch(), trap ? DefaultAction::Trap : DefaultAction::KillProcess, error);
        REQUIRE(compiled);
        const auto builtin = default_worker_filter(trap);
        CHECK(std::equal(compiled->bytes().begin(), compiled->bytes().end(),
                         builtin.bytes().begin(), builtin.bytes().end()));
    }
}

TEST_CASE("a .bpf file round trip, as --worker-seccomp-bpf loads it", "[policy][bpf]") {
    // A policy without getppid: the jailed child dies when it asks.
    std::string error;
    auto text = std::string(default_worker_policy_text());
    REQUIRE(text.find("\ngetppid:") == std::string::npos);
    const auto policy = Policy::parse(text, error);
    REQUIRE(policy);
    const auto program = policy->compile(native_arch(), DefaultAction::KillProcess, error);
    REQUIRE(program);
    char path[] = "/tmp/vn-sandbox-test-XXXXXX";
    const int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    const auto bytes = program->bytes();
    REQUIRE(::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
    ::close(fd);
    auto loaded = BpfProgram::from_file(path, error);
    ::unlink(path);
    REQUIRE(loaded);
    CHECK(loaded->instruction_count() == program->instruction_count());

    JailConfig config;
    config.log = [](LogLevel, std::string_view) {
    };
    config.filter = std::move(loaded);
    const auto allowed = run_jailed(config, [](int) { return ::getpid() > 0 ? 5 : 6; });
    CHECK(allowed.exit_code == 5);
    const auto killed = run_jailed(config, [](int) {
        ::syscall(SYS_getppid);
        return 0;
    });
    CHECK(killed.signal == SIGSYS);
}
