"""The first process of a local training job: the init of its container.

On SageMaker a training job's processes live in a container, and nothing of it
survives the container: not the data loaders the program forked, not a helper that
called setsid() to leave its process group. Here the job is a process tree on the
worker's host, and this small program gives it the same end, in the role `tini`
plays for `docker run --init`:

- it is a child subreaper (Linux's PR_SET_CHILD_SUBREAPER), so every process the
  job starts stays its descendant, even an orphan whose parent has exited;
- when the program exits, or when told to end the job (END_SIGNAL from the
  worker), it SIGKILLs every descendant and reaps them, then exits as the program
  did (same exit code, or killed by the same signal);
- the kernel sends it END_SIGNAL when the worker that started it dies
  (PR_SET_PDEATHSIG), even by SIGKILL: the job's processes die with the worker
  instead of training on unsupervised.

It runs as `python -I -S job_init.py <status fd> <worker pid> -- <argv...>` and
imports only the standard library, so it starts in milliseconds and depends on
nothing of the worker's. The status pipe tells the worker whether the program
could be started at all (and why not), as subprocess does for its own children.

SIGTERM is ignored here (but not by the program): a stop sends SIGTERM to the
job's process group so the program can save its state during the grace period,
and this process must stay to clean up after it.
"""

import ctypes
import os
import resource
import signal
import sys
import time

END_SIGNAL = signal.SIGUSR1
# Exit status when the program could not be started (as a shell reports it).
CANNOT_RUN = 127
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def descendants(root: int) -> list[int]:
    """Every process below `root`, from one reading of /proc (empty where there is none)."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read()
        except OSError:
            continue  # it has just exited
        # The command name may hold spaces and parentheses: the fields after the last ")" are
        # the state, then the parent's pid.
        parent = int(fields[fields.rindex(b")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry))
    found = []
    pending = [root]
    while pending:
        for child in children.get(pending.pop(), ()):
            found.append(child)
            pending.append(child)
    return found


def kill_descendants() -> None:
    for pid in descendants(os.getpid()):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def end_tree() -> None:
    """SIGKILL and reap every descendant, until none is left.

    Several passes, because a process may fork between one reading of /proc and the
    SIGKILL; its child is then ours (we are the subreaper) and the next pass takes it.
    """
    while True:
        kill_descendants()
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            return
        time.sleep(0.01)


def exit_as(status: int) -> None:
    """Exit with the program's exit code, or die of the signal that killed it."""
    code = os.waitstatus_to_exitcode(status)
    if code >= 0:
        os._exit(code)
    # The program's core dump, if any, is written already; this process has nothing to add.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if -code != signal.SIGKILL:  # the only one that cannot have a handler
        signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
    os._exit(128 - code)


def main(args: list[str]) -> None:
    status_fd, worker = int(args[0]), int(args[1])
    argv = args[3:]
    os.set_inheritable(status_fd, False)
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    signal.signal(END_SIGNAL, lambda signum, frame: kill_descendants())
    if sys.platform.startswith("linux"):
        prctl = ctypes.CDLL(None, use_errno=True).prctl
        prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        prctl(_PR_SET_PDEATHSIG, END_SIGNAL, 0, 0, 0)
    if os.getppid() != worker:
        os._exit(CANNOT_RUN)  # the worker died before we could hear of it
    try:
        program = os.posix_spawnp(argv[0], argv, os.environ)
    except OSError as exc:
        os.write(status_fd, f"{exc.errno}\n{exc.strerror}".encode())
        os._exit(CANNOT_RUN)
    os.close(status_fd)
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid == program:
            break
    end_tree()
    exit_as(status)


if __name__ == "__main__":
    main(sys.argv[1:])
