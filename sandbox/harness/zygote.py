# kiln sandbox: the per-slot zygote (sandbox/zygote.c starts one per slot and side). An
# interpreter that loads one side's harness once and then, per box, clones a child into fresh
# mount, IPC, UTS and pid namespaces that builds the box exactly as box.c's child_main does: it
# joins the run's cgroups and the slot's network namespace, mounts a fresh tmpfs root with
# read-only binds, a minimal /dev and its own /proc, pivots into it, unshares a user and a
# cgroup namespace (the service writes the uid map), drops every capability, switches to uid
# 1000, sets no_new_privs and rlimits, closes every other descriptor and loads the seccomp
# program; only then does it fork the payload, which runs the harness, and it stays as the
# box's init. The zygote itself never runs candidate code and reads nothing but the service's
# control socket (fd 3). Records on a box's sync socket: b'P' + host pid of its init (written by
# the zygote, possibly after the box's own b'U'), b'U' (the service answers b'M' after writing
# the maps), b'R' (ready: the harness is about to read its job), or a failure as (stage, errno)
# in native ints.
import os
import sys
import ctypes
import struct
import socket
import resource
import fcntl
import signal
import builtins
import gc

CTL = 3
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
SYS_CLONE = 56
SYS_SETRESUID = 117
SYS_SETRESGID = 119
SYS_CAPSET = 126
SYS_PIVOT_ROOT = 155
SYS_SETGROUPS = 116
SYS_SECCOMP = 317
SYS_CLOSE_RANGE = 436

# The stages of box.c, in the same order (its stage_name table names them).
(ST_CGROUP, ST_PDEATH, ST_NETNS, ST_PRIVATE, ST_TMPFS, ST_TREE, ST_BIND, ST_DEV, ST_PROC,
 ST_FILES, ST_PIVOT, ST_UTS, ST_USERNS, ST_SYNC, ST_IDS, ST_CAPS, ST_RLIMIT, ST_FDS, ST_NNP,
 ST_SECCOMP, ST_EXEC) = range(1, 22)

RO_DIRS = ('/usr', '/bin', '/sbin', '/lib', '/lib64', '/lib32', '/libx32')
DEVICES = ('/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom')
ETC = (('etc/passwd', b'root:x:0:0::/:/bin/false\nsandbox:x:1000:1000::/work:/bin/sh\n'
        b'nobody:x:65534:65534::/:/bin/false\n'),
       ('etc/group', b'root:x:0:\nsandbox:x:1000:\nnogroup:x:65534:\n'),
       ('etc/hosts', b'127.0.0.1 localhost\n::1 localhost\n'))
DIRS = (('etc', 0o755), ('dev', 0o755), ('dev/shm', 0o1777), ('proc', 0o555), ('tmp', 0o1777),
        ('work', 0o777), ('kiln', 0o755))

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
pylibc = ctypes.PyDLL(None, use_errno=True)
pylibc.syscall.restype = ctypes.c_long
pylibc.syscall.argtypes = [ctypes.c_long, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_void_p,
                           ctypes.c_void_p, ctypes.c_void_p]
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                       ctypes.c_char_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                       ctypes.c_ulong]


class SockFprog(ctypes.Structure):
    _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]


class Fail(Exception):
    def __init__(self, stage, err=None):
        Exception.__init__(self)
        self.stage = stage
        self.err = ctypes.get_errno() if err is None else err


def _c(stage, r):
    if r < 0:
        raise Fail(stage)
    return r


def _os(stage, fn, *args):
    try:
        return fn(*args)
    except OSError as e:
        raise Fail(stage, e.errno or 0) from None


def _prctl(stage, opt, a=0):
    _c(stage, libc.prctl(opt, a, 0, 0, 0))


def _mount(stage, src, dst, fstype, flags, data=None):
    _c(stage, libc.mount(src, dst, fstype, flags, data))


def _fs(opts):
    _mount(ST_PRIVATE, None, b'/', None, MS_REC | MS_PRIVATE)
    _mount(ST_TMPFS, b'kiln-box', b'/tmp', b'tmpfs', MS_NOSUID | MS_NODEV, opts)
    for d, mode in DIRS:
        _os(ST_TREE, os.mkdir, '/tmp/' + d, mode)
        _os(ST_TREE, os.chmod, '/tmp/' + d, mode)
    for d in RO_DIRS:
        try:
            st = os.lstat(d)
        except OSError:
            continue
        if (st.st_mode & 0o170000) == 0o120000:
            _os(ST_TREE, os.symlink, _os(ST_TREE, os.readlink, d), '/tmp' + d)
            continue
        if (st.st_mode & 0o170000) != 0o040000:
            continue
        _os(ST_BIND, os.mkdir, '/tmp' + d, 0o755)
        inside = ('/tmp' + d).encode()
        _mount(ST_BIND, d.encode(), inside, None, MS_BIND | MS_REC)
        _mount(ST_BIND, None, inside, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    for d in DEVICES:
        os.close(_os(ST_DEV, os.open, '/tmp' + d, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o666))
        inside = ('/tmp' + d).encode()
        _mount(ST_DEV, d.encode(), inside, None, MS_BIND)
        _mount(ST_DEV, None, inside, None, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NOEXEC)
    for target, name in (('/proc/self/fd', 'fd'), ('/proc/self/fd/0', 'stdin'),
                         ('/proc/self/fd/1', 'stdout'), ('/proc/self/fd/2', 'stderr')):
        _os(ST_DEV, os.symlink, target, '/tmp/dev/' + name)
    _mount(ST_PROC, b'proc', b'/tmp/proc', b'proc', MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY)
    for path, data in ETC:
        fd = _os(ST_FILES, os.open, '/tmp/' + path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC |
                 os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        _os(ST_FILES, os.write, fd, data)
        _os(ST_FILES, os.fchmod, fd, 0o644)
        os.close(fd)
    _os(ST_PIVOT, os.chdir, '/tmp')
    _c(ST_PIVOT, libc.syscall(SYS_PIVOT_ROOT, b'.', b'.'))
    _c(ST_PIVOT, libc.umount2(b'.', MNT_DETACH))
    _os(ST_PIVOT, os.chdir, '/work')
    _os(ST_UTS, socket.sethostname, 'kiln')


def _read_exact(fd, n):
    data = b''
    while len(data) < n:
        b = os.read(fd, n - len(data))
        if not b:
            break
        data += b
    return data


def _box(req, fds, code, prog, cap_last, cur):
    """The box's init (pid 1 of its pid namespace). Never returns."""
    f = req.split(b'\n')
    opts, n = f[0], int(f[1])
    fsize, nofile, cpu_s = int(f[2]), int(f[3]), int(f[4])
    n_cg = int(f[5])
    sync, status, box_fds = fds[0], fds[1], fds[3 + n_cg:3 + n_cg + n]
    _fs(opts)
    _c(ST_USERNS, libc.syscall(SYS_SETGROUPS, 0, None))
    _c(ST_USERNS, libc.unshare(CLONE_NEWUSER | CLONE_NEWCGROUP))
    os.write(sync, b'U')
    if _read_exact(sync, 1) != b'M':
        raise Fail(ST_SYNC, 0)
    for c in range(cap_last + 1):
        if libc.prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 and ctypes.get_errno() != 22:
            raise Fail(ST_CAPS)
    _c(ST_IDS, libc.syscall(SYS_SETRESGID, 1000, 1000, 1000))
    _c(ST_IDS, libc.syscall(SYS_SETRESUID, 1000, 1000, 1000))
    hdr = struct.pack('Ii', 0x20080522, 0)
    data = bytes(24)
    _c(ST_CAPS, libc.syscall(SYS_CAPSET, hdr, data))
    _prctl(ST_CAPS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    # Changing the euid cleared any parent-death signal, so it is set only now.
    _prctl(ST_PDEATH, PR_SET_PDEATHSIG, int(signal.SIGKILL))
    # Descriptors: box fd i is box_fds[i], the sync socket n, the status pipe n + 1. Everything
    # is staged above the targets first so that nothing is clobbered.
    staged = [_os(ST_FDS, fcntl.fcntl, fd, fcntl.F_DUPFD_CLOEXEC, 100) for fd in box_fds]
    s_sync = _os(ST_FDS, fcntl.fcntl, sync, fcntl.F_DUPFD_CLOEXEC, 100)
    s_status = _os(ST_FDS, fcntl.fcntl, status, fcntl.F_DUPFD_CLOEXEC, 100)
    cur['sync'] = s_sync
    for i, fd in enumerate(staged):
        _os(ST_FDS, os.dup2, fd, i)
    _os(ST_FDS, os.dup2, s_sync, n)
    _os(ST_FDS, os.dup2, s_status, n + 1)
    cur['sync'] = n
    _c(ST_FDS, libc.syscall(SYS_CLOSE_RANGE, n + 2, 0xffffffff, 0))
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if fsize > 0:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        if nofile > 0:
            nofile = max(nofile, n + 2)
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        if cpu_s > 0:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
    except (OSError, ValueError):
        raise Fail(ST_RLIMIT, ctypes.get_errno()) from None
    _prctl(ST_NNP, PR_SET_NO_NEW_PRIVS, 1)
    _c(ST_SECCOMP, libc.syscall(SYS_SECCOMP, 1, 0, ctypes.byref(prog)))
    payload = os.fork()
    if payload == 0:
        _payload(code, n)
    # init: only the status pipe stays open; not dumpable; reaps orphans until the payload exits.
    _c(ST_EXEC, libc.syscall(SYS_CLOSE_RANGE, 0, n, 0))
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    while True:
        try:
            pid, st = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(0)
        if pid == payload:
            os.write(n + 1, struct.pack('i', st))
            os._exit(0)


def _payload(code, n):
    # What a fresh `python3 -I -S` has: SIGPIPE and SIGXFSZ ignored, SIGINT raises.
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # An exec'd interpreter is dumpable; this one lost that when its parent changed uid.
    libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
    os.close(n + 1)
    os.write(n, b'R')
    os.close(n)
    rc = 0
    try:
        exec(code, {'__name__': '__main__', '__builtins__': builtins})
    except SystemExit as e:
        rc = e.code if type(e.code) is int else (0 if e.code is None else 1)
    except BaseException:
        # What the interpreter would print for an uncaught exception.
        try:
            sys.excepthook(*sys.exc_info())
        except BaseException:
            pass
        rc = 1
    for fh in (sys.stdout, sys.stderr):
        try:
            fh.flush()
        except BaseException:
            pass
    os._exit(rc & 0xff)


def _start(req, fds, code, prog, cap_last):
    """The box's first process, cloned into fresh mount, IPC, UTS and pid namespaces: joins the
    run's cgroups and the slot's network namespace, then builds the box. Never returns."""
    cur = {'sync': fds[0]}
    try:
        for i in range(1, signal.NSIG):
            if i in (signal.SIGKILL, signal.SIGSTOP, 32, 33):
                continue
            try:
                signal.signal(i, signal.SIG_DFL)
            except (OSError, ValueError):
                pass
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        # The service opened the cgroup.procs files: no host path is ever in a box's memory.
        for fd in fds[3:3 + int(req.split(b'\n')[5])]:
            _os(ST_CGROUP, os.write, fd, b'0')
        _c(ST_NETNS, libc.setns(fds[2], CLONE_NEWNET))
        _box(req, fds, code, prog, cap_last, cur)
    except Fail as e:
        os.write(cur['sync'], struct.pack('ii', e.stage, e.err))
    except BaseException:
        os.write(cur['sync'], struct.pack('ii', ST_EXEC, 0))
    os._exit(127)


def _reap(signum, frame):
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except OSError:
            return
        if pid == 0:
            return


def _main():
    ctl = socket.socket(fileno=CTL)
    src = ctl.recv(1 << 22)
    bpf = ctl.recv(1 << 20)
    if not src or not bpf or len(bpf) % 8 != 0:
        os._exit(1)
    code = compile(src, '/kiln/harness.py', 'exec', dont_inherit=True)
    buf = ctypes.create_string_buffer(bpf, len(bpf))
    prog = SockFprog(len(bpf) // 8, ctypes.addressof(buf))
    with open('/proc/sys/kernel/cap_last_cap') as fh:
        cap_last = int(fh.read())
    # Boxes whose first process died before them are reparented here; every child is reaped as
    # soon as it exits (so that its CPU time is accounted to the service, as with exec'd boxes).
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    signal.signal(signal.SIGCHLD, _reap)
    # Everything loaded so far stays in the oldest generation, so that the collector in a box
    # does not write to (and copy) the pages it shares with the zygote.
    gc.collect()
    gc.freeze()
    while True:
        try:
            req, fds, _, _ = socket.recv_fds(ctl, 8192, 32)
        except InterruptedError:
            continue
        except OSError:
            os._exit(0)
        if not req:
            os._exit(0)
        if len(fds) < 3:
            for fd in fds:
                os.close(fd)
            continue
        # A raw clone into the new namespaces, so that the box's init is this child itself (a
        # fork and an unshare would need one more process). It returns here in both processes
        # with the GIL held (PyDLL); the interpreter is single-threaded, so the child needs
        # none of os.fork's bookkeeping.
        pid = pylibc.syscall(SYS_CLONE, CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS |
                             CLONE_NEWPID | signal.SIGCHLD, None, None, None, None)
        if pid == 0:
            ctl.detach()
            os.close(CTL)
            _start(req, fds, code, prog, cap_last)
            os._exit(127)
        if pid < 0:
            os.write(fds[0], struct.pack('ii', ST_PRIVATE, ctypes.get_errno()))
        else:
            # The box's host pid, for its uid map; the box itself never learns it.
            os.write(fds[0], b'P' + struct.pack('i', pid))
        for fd in fds:
            os.close(fd)


_main()
