"""Stand-ins for deqp-vk and venus-vtest: small scripts that speak the same command lines and
stdout format, so venus-cts can be tested without the CTS, a GPU or our server."""

import json
import os
import sys
from pathlib import Path

# Written as scripts into the test's directory; each case's behaviour is its last name part.
FAKE_DEQP = r'''
import json, os, signal, socket, sys, time

HERE = os.path.dirname(os.path.abspath(sys.argv[0]))
# Tree order, deliberately not the order of the case lists the tests use.
TREE = sorted("dEQP-VK.t." + n for n in (
    "pass0", "pass1", "pass2", "pass3", "pass4", "pass5", "qualitywarning", "waiver",
    "internalerror", "fail", "notsupported", "crash", "hang", "venus_crash", "kill_vtest",
    "exit_after"))
REQUIRED = ("--deqp-log-images=disable", "--deqp-log-shader-sources=disable",
            "--deqp-surface-type=fbo", "--deqp-shadercache=disable")

opts = dict(a.split("=", 1) for a in sys.argv[1:] if "=" in a)
venus = "vtest" in os.environ.get("VN_DEBUG", "").split(",")
with open(os.path.join(HERE, "invocations.log"), "a") as log:
    log.write(json.dumps({"venus": venus, "argv": sys.argv[1:], "cwd": os.getcwd(),
                          "wrapped": os.environ.get("FAKE_WRAPPED"),
                          "fake_env": os.environ.get("FAKE_ENV"),
                          "vn_debug": os.environ.get("VN_DEBUG")}) + "\n")
# deqp-vk loads its data relative to the current directory.
if not os.path.exists("data/marker") or any(r not in sys.argv for r in REQUIRED):
    sys.exit("fake deqp-vk: bad working directory or arguments")
if os.environ.get("FAKE_HANG_AT_START"):
    time.sleep(3600)
with open(opts["--deqp-log-filename"], "w") as qpa:
    qpa.write("#beginSession\n")
with open(opts["--deqp-caselist-file"]) as f:
    wanted = set(f.read().split())
with open(os.environ["VK_DRIVER_FILES"]) as f:
    driver_ok = json.load(f).get("fake") == ("mesa" if venus else "host")


def vtest(message):
    s = socket.socket(socket.AF_UNIX)
    s.connect(os.environ["VTEST_SOCKET_NAME"])
    s.sendall(message.encode())
    s.shutdown(socket.SHUT_WR)
    reply = s.recv(100)
    s.close()
    return reply


failed = False


def status(text):
    global failed
    failed = failed or text.startswith(("Fail", "InternalError"))
    print("  " + text, flush=True)


print("Writing test log into " + opts["--deqp-log-filename"], flush=True)
for case in TREE:
    if case not in wanted:
        continue
    kind = case.rsplit(".", 1)[1]
    late_reader = kind == "venus_crash" and venus
    if late_reader:
        # venus-cts must count the worker's error for this case even when it reads the case's
        # name only after the error reached the vtest log: stop it until then.
        os.kill(os.getppid(), signal.SIGSTOP)
    print("Test case '%s'.." % case, flush=True)
    failure = None
    if not driver_ok:
        failure = "Fail (wrong driver)"
    elif venus:
        try:
            vtest("ping")
        except OSError:
            failure = "Fail (cannot reach vtest)"
    if failure:
        if late_reader:
            os.kill(os.getppid(), signal.SIGCONT)
        status(failure)
        continue
    if kind == "fail":
        status("Fail (Image comparison failed (1 of 64 pixels))")
    elif kind == "internalerror":
        status("InternalError (vkCreateDevice returned VK_ERROR_INITIALIZATION_FAILED)")
    elif kind == "qualitywarning":
        status("QualityWarning (slow path)")
    elif kind == "waiver":
        status("Waiver (waived)")
    elif kind == "notsupported":
        status("NotSupported (VK_EXT_fake not supported)")
    elif kind == "crash":
        os.abort()
    elif kind == "hang":
        time.sleep(3600)
    elif kind == "exit_after":
        status("Pass (Pass)")
        sys.exit(1)
    elif kind == "venus_crash" and venus:
        vtest("log [info] context 1: created")
        vtest("log [error] context 1: fatal: vkCmdSetStencilOp is not available on this device")
        os.kill(os.getppid(), signal.SIGCONT)
        os.abort()
    elif kind == "kill_vtest" and venus:
        pid = int(vtest("pid"))
        try:
            vtest("die")
        except OSError:
            pass
        # The server dies while the case runs, well before deqp-vk notices, as in real life:
        # wait until it is a zombie so venus-cts sees it dead when it resumes.
        for _ in range(500):
            try:
                with open("/proc/%d/stat" % pid) as f:
                    if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                        break
            except OSError:
                break
            time.sleep(0.01)
        os.abort()
    else:
        status("Pass (Pass)")
print("\nDONE!\n", flush=True)
print("Test run totals:", flush=True)
print("  Passed:        1/1 (100.0%)", flush=True)
# Like deqp-vk: a failure anywhere in the run makes the exit status 1.
sys.exit(1 if failed else 0)
'''

FAKE_VTEST = r'''
import json, os, socket, sys

args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
path, server = args["--socket-path"], args["--server"]
with open(os.environ["VK_DRIVER_FILES"]) as f:
    if json.load(f).get("fake") != "host":
        sys.exit("fake venus-vtest: not on the host driver")
if not os.access(server, os.X_OK):
    sys.exit("fake venus-vtest: no server")
listener = socket.socket(socket.AF_UNIX)
listener.bind(path)
listener.listen(8)
print("venus-vtest: listening on " + path, file=sys.stderr, flush=True)
while True:
    conn, _ = listener.accept()
    message = b""
    while chunk := conn.recv(4096):
        message += chunk
    message = message.decode()
    if message.startswith("log "):
        print(message[4:], file=sys.stderr, flush=True)
    if message == "die":
        # No reply: the client learns of the death from its connection closing as this process
        # exits, as a real guest would, so this process is gone by the time the client crashes.
        print("venus-vtest: render server killed by signal 9", file=sys.stderr, flush=True)
        os._exit(1)
    conn.sendall(str(os.getpid()).encode() if message == "pid" else b"ok")
    conn.close()
'''


def write_script(path, body):
    path.write_text(f"#!{sys.executable}\n" + body)
    path.chmod(0o755)
    return path


class Setup:
    """A fake CTS build, fake drivers and a fake vtest in tmp_path."""

    def __init__(self, tmp_path):
        self.root = tmp_path
        deqp_dir = tmp_path / "deqp"
        (deqp_dir / "data").mkdir(parents=True)
        (deqp_dir / "data" / "marker").write_text("")
        self.deqp = write_script(deqp_dir / "deqp-vk", FAKE_DEQP)
        self.vtest = write_script(tmp_path / "venus-vtest", FAKE_VTEST)
        self.host_icd = tmp_path / "host_icd.json"
        self.host_icd.write_text(json.dumps({"fake": "host"}))
        self.mesa_icd = tmp_path / "virtio_icd.json"
        self.mesa_icd.write_text(json.dumps({"fake": "mesa"}))
        self.output = tmp_path / "out"

    def caselist(self, lines, name="cases.txt"):
        path = self.root / name
        path.write_text("\n".join(lines) + "\n")
        return path

    def argv(self, *caselists, mode="native", extra=()):
        argv = ["--deqp", str(self.deqp), "--mode", mode, "--output", str(self.output),
                "--host-icd", str(self.host_icd), "--mesa-icd", str(self.mesa_icd),
                "--vtest", str(self.vtest), "--server", "/bin/true", "--timeout", "2",
                "--startup-timeout", "20"]
        for c in caselists:
            argv += ["--caselist", str(c)]
        return argv + list(extra)

    def invocations(self):
        path = self.deqp.parent / "invocations.log"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def results(self, mode):
        import csv
        with open(self.output / f"{mode}.csv", newline="") as f:
            return {row["case"]: row for row in csv.DictReader(f)}
