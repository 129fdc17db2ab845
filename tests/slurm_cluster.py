"""A one-node SLURM cluster on this machine for the driver's tests: munged, slurmctld and slurmd.

Everything lives in a temporary directory: a fresh munge key and socket, a
minimal slurm.conf (cons_tres, linuxproc, no accounting, one node with this
machine's CPUs and memory, one partition) and the state/spool/log files. The
daemons run in the foreground as children of the test process (and get
SIGTERM if it dies), and :meth:`SlurmCluster.stop` (also registered with
``atexit``) cancels the jobs and ends them, so no daemon outlives the test
session. ``SLURM_CONF`` is set
in ``os.environ`` while the cluster runs, so sbatch/squeue/scontrol and the
driver find it.
"""
from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "sinfo", "scancel")


def missing_binaries() -> list[str]:
    search = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin" + os.pathsep + "/sbin"
    return [b for b in DAEMONS + CLIENTS if shutil.which(b, path=search) is None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the test process dies, even by SIGKILL (Linux only)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)   # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _real_memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024 * 9 // 10   # leave some to the OS, as slurmd would report less
    return 1024


class SlurmCluster:
    def __init__(self, base: Path, cpus: int | None = None):
        self.base = Path(base)
        self.cpus = cpus or os.cpu_count() or 1
        self.host = socket.gethostname().split(".")[0]
        self.procs: dict[str, subprocess.Popen] = {}
        self.conf = self.base / "slurm.conf"
        self._old_conf = os.environ.get("SLURM_CONF")

    def _sbin(self, name: str) -> str:
        return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") or name

    def _write_config(self) -> None:
        for d in ("munge", "state", "spool", "log"):
            (self.base / d).mkdir(parents=True, exist_ok=True)
        (self.base / "munge").chmod(0o700)
        key = self.base / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self.munge_socket = self.base / "munge" / "munge.socket"
        self.conf.write_text(f"""\
ClusterName=bdatest
SlurmctldHost={self.host}
SlurmUser=root
SlurmdUser=root
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
AuthInfo=socket={self.munge_socket}
CredType=cred/munge
StateSaveLocation={self.base / 'state'}
SlurmdSpoolDir={self.base / 'spool'}
SlurmctldPidFile={self.base / 'slurmctld.pid'}
SlurmdPidFile={self.base / 'slurmd.pid'}
SlurmctldLogFile={self.base / 'log' / 'slurmctld.log'}
SlurmdLogFile={self.base / 'log' / 'slurmd.log'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
MinJobAge=3600
SchedulerParameters=sched_interval=2
NodeName={self.host} CPUs={self.cpus} RealMemory={_real_memory_mb()} State=UNKNOWN
PartitionName=debug Nodes={self.host} Default=YES MaxTime=INFINITE State=UP
""")

    def _spawn(self, name: str, args: list[str]) -> None:
        log = (self.base / "log" / f"{name}.out").open("w")
        self.procs[name] = subprocess.Popen([self._sbin(name), *args], stdout=log, stderr=subprocess.STDOUT,
                                            env=dict(os.environ, SLURM_CONF=str(self.conf)),
                                            preexec_fn=_die_with_parent)

    def start(self, timeout: float = 60) -> SlurmCluster:
        self._write_config()
        atexit.register(self.stop)
        self._spawn("munged", ["-F", "-f", f"--key-file={self.base / 'munge' / 'munge.key'}",
                               f"--socket={self.munge_socket}", f"--pid-file={self.base / 'munged.pid'}",
                               f"--log-file={self.base / 'log' / 'munged.log'}",
                               f"--seed-file={self.base / 'munge' / 'seed'}"])
        self._wait(lambda: self.munge_socket.exists(), timeout, "munged socket")
        os.environ["SLURM_CONF"] = str(self.conf)
        self._spawn("slurmctld", ["-D", "-i", "-f", str(self.conf)])
        self._spawn("slurmd", ["-D", "-f", str(self.conf), "-N", self.host])
        self._wait(lambda: "idle" in self._sinfo_state(), timeout, "the node to become idle in sinfo")
        return self

    def _sinfo_state(self) -> str:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
        return out.stdout.strip()

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [n for n, p in self.procs.items() if p.poll() is not None]
            if dead:
                raise RuntimeError(f"{', '.join(dead)} exited while waiting for {what}; logs: {self.logs()}")
            if ready():
                return
            time.sleep(0.3)
        raise RuntimeError(f"timed out waiting for {what}; logs: {self.logs()}")

    def logs(self) -> str:
        parts = []
        for path in sorted((self.base / "log").glob("*")):
            parts.append(f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-15:]))
        return "\n".join(parts)

    def stop(self) -> None:
        """Cancel every job, then end the daemons (slurmd last of the SLURM pair, munged last of all)."""
        if not self.procs:
            return
        if self.procs.get("slurmctld") and self.procs["slurmctld"].poll() is None:
            subprocess.run(["scancel", "--full", "-u", "root"], capture_output=True, timeout=30)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                out = subprocess.run(["squeue", "-h"], capture_output=True, text=True, timeout=30)
                if out.returncode != 0 or not out.stdout.strip():
                    break
                time.sleep(0.5)
        for name in ("slurmctld", "slurmd", "munged"):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._old_conf is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = self._old_conf
