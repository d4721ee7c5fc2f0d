"""venus-cts against a fake deqp-vk and a fake venus-vtest: statuses, resume after a crash, the
time limit, sampling, both modes side by side, and the command line's errors."""

import importlib.machinery
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fakes import Setup  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[1] / "venus-cts"


def load_module():
    loader = importlib.machinery.SourceFileLoader("venus_cts", str(SCRIPT))
    spec = importlib.util.spec_from_loader("venus_cts", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def run_cts(argv, env=None, timeout=60):
    return subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture
def fake(tmp_path):
    return Setup(tmp_path)


ALL_KINDS = ["pass0", "fail", "notsupported", "crash", "pass1", "hang", "pass2", "venus_crash",
             "qualitywarning", "waiver", "internalerror", "pass3"]


def names(*kinds):
    return [f"dEQP-VK.t.{k}" for k in kinds]


def test_status_lines_are_normalized():
    cts = load_module()
    assert cts.parse_status_line("  Pass (Pass)") == ("pass", "Pass", "Pass")
    assert cts.parse_status_line("  QualityWarning (slow)") == ("pass", "QualityWarning", "slow")
    assert cts.parse_status_line("  CompatibilityWarning (x)")[0] == "pass"
    assert cts.parse_status_line("  Waiver (w)")[0] == "pass"
    assert cts.parse_status_line("  Fail (Got (1, 2) expected (3, 4))") == (
        "fail", "Fail", "Got (1, 2) expected (3, 4)")
    assert cts.parse_status_line("  InternalError (e)")[0] == "fail"
    assert cts.parse_status_line("  ResourceError (e)")[0] == "fail"
    assert cts.parse_status_line("  NotSupported (n)")[0] == "notsupported"
    assert cts.parse_status_line("  Crash (c)")[0] == "crash"
    assert cts.parse_status_line("  Timeout (t)")[0] == "timeout"
    # deqp-vk's closing totals and unrelated output are not results.
    assert cts.parse_status_line("  Passed:        1/1 (100.0%)") is None
    assert cts.parse_status_line("  Something (else)") is None
    assert cts.parse_status_line("Pass (Pass)") is None


def test_native_run_resumes_after_crash_and_timeout(fake):
    cases = fake.caselist(["# a comment", ""] + names(*ALL_KINDS) + ["dEQP-VK.t.unknown  # gone"])
    started = time.monotonic()
    proc = run_cts(fake.argv(cases, extra=["--jobs", "1", "--deqp-arg=--fake-extra=1"]))
    assert proc.returncode == 0, proc.stderr
    # The hang costs one --timeout, not the fake's hour.
    assert time.monotonic() - started < 30

    results = fake.results("native")
    assert list(results) == names(*ALL_KINDS) + ["dEQP-VK.t.unknown"]  # case-list order
    status = {c: r["status"] for c, r in results.items()}
    assert status == {
        **{c: "pass" for c in names("pass0", "pass1", "pass2", "pass3", "venus_crash",
                                    "qualitywarning", "waiver")},
        "dEQP-VK.t.fail": "fail", "dEQP-VK.t.internalerror": "fail",
        "dEQP-VK.t.notsupported": "notsupported", "dEQP-VK.t.crash": "crash",
        "dEQP-VK.t.hang": "timeout", "dEQP-VK.t.unknown": "missing"}
    fail = results["dEQP-VK.t.fail"]
    assert fail["raw_status"] == "Fail"
    assert fail["reason"] == "Image comparison failed (1 of 64 pixels)"
    assert results["dEQP-VK.t.qualitywarning"]["raw_status"] == "QualityWarning"
    assert results["dEQP-VK.t.crash"]["reason"] == "deqp-vk killed by SIGABRT"
    assert "no result in 2 s" in results["dEQP-VK.t.hang"]["reason"]
    assert 1.5 < float(results["dEQP-VK.t.hang"]["seconds"]) < 10

    # One start, one resume after the crash, one after the timeout; each resume only asks for
    # the cases without a result yet, from deqp-vk's own directory, with the user's extras.
    runs = fake.invocations()
    assert len(runs) == 3
    assert all(r["cwd"] == str(fake.deqp.parent) for r in runs)
    assert all("--fake-extra=1" in r["argv"] for r in runs)
    assert not any(r["venus"] for r in runs)

    summary = (fake.output / "summary.txt").read_text()
    assert summary in proc.stdout
    assert "Pass natively" not in summary  # one mode only: nothing to compare
    rows = {line.split()[0]: line.split()[1:] for line in summary.splitlines() if line.strip()}
    assert rows["status"] == ["native"]
    assert rows["pass"] == ["7"] and rows["fail"] == ["2"] and rows["crash"] == ["1"]
    assert rows["timeout"] == ["1"] and rows["missing"] == ["1"] and rows["total"] == ["13"]


def test_cases_left_when_deqp_exits_early_are_rerun(fake):
    cases = fake.caselist(names("pass0", "exit_after", "pass1"))
    proc = run_cts(fake.argv(cases, extra=["--jobs", "1"]))
    assert proc.returncode == 0, proc.stderr
    assert {r["status"] for r in fake.results("native").values()} == {"pass"}
    assert len(fake.invocations()) == 2


def test_deqp_that_never_starts_a_case_is_bounded(fake):
    import os
    cases = fake.caselist(names("pass0", "pass1"))
    env = dict(os.environ, FAKE_HANG_AT_START="1")
    argv = fake.argv(cases, extra=["--jobs", "1", "--startup-timeout", "1"])
    proc = run_cts(argv, env=env, timeout=30)
    assert proc.returncode == 0, proc.stderr
    results = fake.results("native")
    assert {r["status"] for r in results.values()} == {"crash"}
    assert "ran no case" in results["dEQP-VK.t.pass0"]["reason"]
    assert len(fake.invocations()) == 2  # one retry, then given up


def test_sampling_over_several_case_lists(fake):
    first = fake.caselist(["# header"] + names("pass0", "pass1", "pass2", "pass3"), "a.txt")
    second = fake.caselist(names("pass4", "pass5", "fail") + ["", "dEQP-VK.t.pass0"], "b.txt")
    proc = run_cts(fake.argv(first, second, extra=["--every", "3", "--offset", "1",
                                                   "--jobs", "2"]))
    assert proc.returncode == 0, proc.stderr
    # Indices over the joined lists without comments, blanks or repeats: 1 and 4.
    assert list(fake.results("native")) == names("pass1", "pass4")


def test_both_modes_side_by_side(fake):
    kinds = ["pass0", "pass1", "fail", "notsupported", "venus_crash", "hang", "pass2",
             "kill_vtest", "pass3", "pass4"]
    cases = fake.caselist(names(*kinds))
    argv = fake.argv(cases, mode="both",
                     extra=["--jobs", "2", "--env", "FAKE_ENV=seen",
                            "--guest-wrapper", "env FAKE_WRAPPED=yes"])
    proc = run_cts(argv)
    assert proc.returncode == 0, proc.stderr

    native, venus = fake.results("native"), fake.results("venus")
    assert native["dEQP-VK.t.venus_crash"]["status"] == "pass"
    assert native["dEQP-VK.t.kill_vtest"]["status"] == "pass"
    crashed = venus["dEQP-VK.t.venus_crash"]
    assert crashed["status"] == "crash"
    # The worker's words, and only the error lines of that case.
    assert "fatal: vkCmdSetStencilOp is not available on this device" in crashed["reason"]
    assert "created" not in crashed["reason"]
    assert "deqp-vk killed by SIGABRT" in crashed["reason"]
    assert venus["dEQP-VK.t.hang"]["status"] == "timeout"
    assert "killed by signal 9" in venus["dEQP-VK.t.kill_vtest"]["reason"]
    # After venus-vtest died, the rest of its shard ran on a fresh one.
    for case in names("pass0", "pass1", "pass2", "pass3", "pass4"):
        assert venus[case]["status"] == "pass", venus[case]
    logs = sorted((fake.output / "logs").glob("venus-vtest.*.log"))
    assert logs and sum(log.read_text().count("listening on") for log in logs) >= 3

    runs = fake.invocations()
    venus_runs = [r for r in runs if r["venus"]]
    assert venus_runs and all(r["wrapped"] == "yes" and r["fake_env"] == "seen"
                              for r in venus_runs)
    assert not any(r["wrapped"] or r["fake_env"] for r in runs if not r["venus"])

    summary = proc.stdout
    assert summary == (fake.output / "summary.txt").read_text()
    table = {line.split()[0]: line.split()[1:] for line in summary.split("\n\n")[0].splitlines()}
    assert table["status"] == ["native", "venus"]
    assert table["pass"] == ["7", "5"]
    assert table["fail"] == ["1", "1"]
    assert table["crash"] == ["0", "2"]
    assert table["timeout"] == ["1", "1"]
    assert table["notsupported"] == ["1", "1"]
    assert table["total"] == ["10", "10"]
    tail = summary.split("\n\n")[1].splitlines()
    assert tail[0] == "Pass natively, not through Venus: 2"
    assert any(line.startswith("  dEQP-VK.t.venus_crash  crash  ") and "vkCmdSetStencilOp" in line
               for line in tail)
    assert any(line.startswith("  dEQP-VK.t.kill_vtest  crash  ") for line in tail)

    # Failing runs keep their test logs; all-pass ones do not.
    assert list((fake.output / "qpa").glob("venus.*.qpa"))

    again = run_cts(["--compare-only", "--output", str(fake.output)])
    assert again.returncode == 0, again.stderr
    assert again.stdout == summary


def test_compare_only_without_results(fake):
    proc = run_cts(["--compare-only", "--output", str(fake.output)])
    assert proc.returncode == 2
    assert "native.csv" in proc.stderr


@pytest.mark.parametrize("change, message", [
    (lambda a: a.__setitem__(a.index("--deqp") + 1, "/nonexistent/deqp-vk"), "--deqp"),
    (lambda a: a.__setitem__(a.index("--mesa-icd") + 1, "/nonexistent.json"), "--mesa-icd"),
    (lambda a: a.__setitem__(a.index("--vtest") + 1, "/nonexistent"), "--vtest"),
    (lambda a: a.extend(["--every", "3", "--offset", "3"]), "--offset"),
    (lambda a: a.extend(["--env", "NOVALUE"]), "--env"),
    (lambda a: a.extend(["--caselist", "/nonexistent.txt"]), "case list"),
])
def test_bad_usage_exits_2(fake, change, message):
    argv = fake.argv(fake.caselist(names("pass0")), mode="both")
    change(argv)
    proc = run_cts(argv)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert not fake.invocations()


def test_venus_mode_needs_the_mesa_icd(fake):
    argv = fake.argv(fake.caselist(names("pass0")), mode="venus")
    i = argv.index("--mesa-icd")
    del argv[i:i + 2]
    proc = run_cts(argv)
    assert proc.returncode == 2 and "--mesa-icd" in proc.stderr


def test_empty_sample_is_an_error(fake):
    proc = run_cts(fake.argv(fake.caselist(["# nothing"])))
    assert proc.returncode == 2 and "no cases" in proc.stderr


def test_venus_vtest_that_cannot_start_fails_its_cases(fake):
    argv = fake.argv(fake.caselist(names("pass0", "pass1")), mode="venus",
                     extra=["--jobs", "1"])
    argv[argv.index("--vtest") + 1] = "/bin/false"
    proc = run_cts(argv)
    assert proc.returncode == 0, proc.stderr
    results = fake.results("venus")
    assert {r["status"] for r in results.values()} == {"crash"}
    assert "venus-vtest did not create its socket" in results["dEQP-VK.t.pass0"]["reason"]
    assert not fake.invocations()  # no deqp-vk without a server to talk to


def test_extra_vn_debug_flags_keep_vtest(fake):
    # VN_DEBUG=gpl alone would turn Mesa's driver away from vtest (no device at all).
    cases = fake.caselist(names("pass0"))
    proc = run_cts(fake.argv(cases, mode="venus", extra=["--env", "VN_DEBUG=gpl"]))
    assert proc.returncode == 0, proc.stderr
    assert fake.results("venus")["dEQP-VK.t.pass0"]["status"] == "pass"
    assert [r["vn_debug"] for r in fake.invocations()] == ["vtest,gpl"]
