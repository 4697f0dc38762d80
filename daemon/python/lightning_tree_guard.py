"""Process-tree guard: runs one attempt of a ScriptWork's script and owns everything it starts.

Started by the work daemon (daemon/work/script-runner.ts) as
    python3 -I -S lightning_tree_guard.py --parent PID --lock FILE -- PROGRAM ARGS...
Linux only, standard library only (ADR 0015 says why not cgroups, setpriv or a compiled helper).

What it guarantees:
- Everything the script starts stays ours: the guard is a child subreaper
  (PR_SET_CHILD_SUBREAPER), so a helper that double-forks or calls setsid() is re-parented to
  the guard, not to init, and is found and killed like any other descendant.
- The tree dies with the daemon: PR_SET_PDEATHSIG delivers SIGUSR1 to the guard when the
  daemon dies (even by SIGKILL), and the guard kills the whole tree at once. The script
  itself gets SIGKILL if the guard dies.
- Attempts never overlap: the guard holds an exclusive flock on FILE (one per work) until
  every process of its tree is gone, and the fd is inherited by the tree; the next attempt's
  guard waits for the lock before it starts the script.
- A call ends when the script exits: leftovers are killed then (SIGKILL) and the guard exits
  with the script's exit code, or by the signal that ended it.

Signals from the daemon: SIGTERM = stop (SIGTERM to every process of the tree; leftovers are
waited for), SIGUSR1 = kill the tree now (after the grace period, or on a second Ctrl-C).
"""

import ctypes
import errno
import fcntl
import os
import resource
import signal
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36

_libc = ctypes.CDLL(None, use_errno=True)
_prctl = _libc.prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


def prctl(option, value):
    if _prctl(option, value, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def say(message):
    sys.stderr.write(f"lightning: {message}\n")
    sys.stderr.flush()


def descendants():
    """Pids of every live process below us, parents before children (from /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rindex(b")") + 2 :].split()
        if rest[0] == b"Z":
            continue
        children.setdefault(int(rest[1]), []).append(int(entry))
    out, frontier = [], [os.getpid()]
    while frontier:
        nxt = []
        for pid in frontier:
            kids = children.get(pid, [])
            out.extend(kids)
            nxt.extend(kids)
        frontier = nxt
    return out


def signal_tree(sig):
    for pid in descendants():
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def reap_nohang():
    """Reaps exited children; returns False once we have no children left."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


def kill_tree_and_reap():
    """SIGKILL every descendant (parents first, so no new forks) until none is left."""
    started, warned, delay = time.monotonic(), False, 0.005
    while True:
        signal_tree(signal.SIGKILL)
        if not reap_nohang():
            return
        if not warned and time.monotonic() - started > 5:
            warned = True
            say(f"processes of this work still exist 5 s after SIGKILL: {descendants()}; waiting for them")
        time.sleep(delay)
        delay = min(0.1, delay * 2)


class State:
    main = None
    stopping = False


def on_kill_now(_sig, _frame):
    kill_tree_and_reap()
    os._exit(137)


def on_stop(_sig, _frame):
    State.stopping = True
    signal_tree(signal.SIGTERM)


def parse_args(argv):
    parent, lock, i = None, None, 0
    while i < len(argv) and argv[i] != "--":
        if argv[i] == "--parent":
            parent, i = int(argv[i + 1]), i + 2
        elif argv[i] == "--lock":
            lock, i = argv[i + 1], i + 2
        else:
            raise SystemExit(f"lightning_tree_guard: unknown option {argv[i]}")
    command = argv[i + 1 :]
    if parent is None or lock is None or not command:
        raise SystemExit("usage: lightning_tree_guard.py --parent PID --lock FILE -- PROGRAM ARGS...")
    return parent, lock, command


def take_lock(path):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        say("waiting for the previous attempt of this work (and everything it started) to end")
        fcntl.flock(fd, fcntl.LOCK_EX)
    os.set_inheritable(fd, True)
    return fd


def start(command):
    pid = os.fork()
    if pid:
        return pid
    try:
        for sig in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        os.execvp(command[0], command)
    except OSError as err:
        say(f'cannot start "{command[0]}": {err.strerror}')
        os._exit(126 if err.errno == errno.EACCES else 127)
    finally:
        os._exit(127)


def exit_like(status):
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.waitstatus_to_exitcode(status))


def main():
    parent, lock_path, command = parse_args(sys.argv[1:])
    # Until the script runs, a stop or a daemon death just ends us.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(143))
    signal.signal(signal.SIGUSR1, lambda *_: os._exit(137))
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    prctl(PR_SET_PDEATHSIG, signal.SIGUSR1)
    if os.getppid() != parent:
        os._exit(137)  # the daemon died before we could ask to be told
    lock_fd = take_lock(lock_path)
    signal.signal(signal.SIGUSR1, on_kill_now)
    signal.signal(signal.SIGTERM, on_stop)
    # The lock stays held (our fd, and the tree's inherited copies) until we exit, which is
    # after every process of the tree is gone.
    main_pid = start(command)
    status = None
    while True:
        try:
            pid, st = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if pid == main_pid:
            status = st
            if not State.stopping:
                break
            # Stopping: the rest of the tree got SIGTERM too; give it until the grace period
            # ends (the daemon's SIGUSR1), reaping as it goes.
    kill_tree_and_reap()
    exit_like(status if status is not None else 0)


if __name__ == "__main__":
    main()
