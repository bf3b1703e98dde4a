"""The container's side of pyrunc-oci's `create`: the launcher and the init, forked through the pod launcher's
handshake (runtime/launch.py begin_with), with the OCI config's mounts instead of a pod's overlay.

    launcher: setns/unshare ipc, uts, net; unshare or join pid; fork the init; {"pid"}; exit
    init:     setsid, {"ready"}, wait for "g" (the runtime has put it in its cgroup, set rlimits and
              oom_score_adj), unshare mount [and cgroup], session keyring, hostname, rootfs (root bound onto
              itself, the config's mounts in order, /dev's nodes), pivot_root (or MS_MOVE + chroot with
              --no-pivot), sysctl, masked and read-only paths, read-only root, terminal, umask, cwd,
              capabilities and identity, {"created"}, open the exec FIFO for writing: blocks until `start`
              opens it for reading, write one byte, seccomp (no_new_privs), exec.

Errors before {"created"} go back on the sync pipe (create fails and removes everything); after it, nobody
listens but the container's stderr, where runc's init also reports them.
"""

from __future__ import annotations

import gc
import os
import stat

from pyrunc.linux import hygiene, mountfd, safepath
from pyrunc.linux import syscalls as sc
from pyrunc.linux.safepath import O_PATH, fd_path
from pyrunc.oci import config as oc
from pyrunc.oci import hooks, userns
from pyrunc.oci.process import _home, _look_path, not_found
from pyrunc.runtime import rootfs
from pyrunc.runtime.launch import (JOIN_ORDER, LaunchError, enter_pid_namespace, join_namespaces,
                                   report_and_exit, reset_signals, send, set_identity)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (docs/performance.md: no typing on `run`)
if TYPE_CHECKING:
    from typing import Callable, NamedTuple
else:
    from pyrunc.records import NamedTuple

FIFO = "exec.fifo"
KEYCTL_JOIN_SESSION_KEYRING, KEYCTL_SETPERM, KEYCTL_DESCRIBE = 1, 5, 6
SYS_KEYCTL = {"x86_64": 250, "i686": 288, "aarch64": 219, "riscv64": 219, "armv7l": 311, "ppc64le": 271,
              "s390x": 280}
MS_MOVE = 8192
_DIR = O_PATH | os.O_DIRECTORY


class InitArgs(NamedTuple):
    cfg: oc.OciConfig
    container_id: str
    state_dir: int  # O_PATH descriptor of the container's state directory (the exec FIFO is in it)
    console: int  # a connected socket for the pty master, or -1
    preserve_fds: int
    no_pivot: bool
    no_new_keyring: bool
    cgroup_binds: tuple[tuple[str, str], ...]  # v1: (hierarchy name, the container's group) for a cgroup mount
    cgroup_version: int
    mount_fds: tuple[tuple[int, int], ...] = ()  # (index in cfg.mounts, a detached id-mapped tree to move there)


def launcher_main(a: InitArgs, sync_w: int, go_r: int) -> None:
    """Child 1 (never returns)."""
    try:
        ns = a.cfg.namespaces
        spec_kind = {"ipc": "ipc", "uts": "uts", "net": "network"}
        user, time_ns, pid_ns = ns.get("user"), ns.get("time"), ns.get("pid", "host")
        # A user namespace joined by path first: the others given by path then belong to it (nsexec's order).
        if user not in (None, "new"):
            sc.setns_path(user, sc.CLONE_NEWUSER)
        joined = {k: ns.get(spec_kind[k], "host") for k in JOIN_ORDER}
        join_namespaces({k: v if v != "new" else "host" for k, v in joined.items()})
        if pid_ns != "new":
            enter_pid_namespace(pid_ns)
        if time_ns not in (None, "new"):
            sc.setns_path(time_ns, userns.CLONE_NEWTIME)
        if ns.get("mount", "new") != "new":
            _join_mount_namespace(a, ns["mount"])
        # A new user namespace before the new others, so that it owns them (userns.py).
        if user == "new":
            sc.unshare(sc.CLONE_NEWUSER)
        join_namespaces({k: v if v == "new" else "host" for k, v in joined.items()})
        if pid_ns == "new":
            enter_pid_namespace("new")
        if time_ns == "new":
            sc.unshare(userns.CLONE_NEWTIME)
            userns.write_time_offsets(a.cfg.time_offsets)
        pid = os.fork()
        if pid == 0:
            _init_main(a, sync_w, go_r)
            os._exit(127)
        send(sync_w, {"pid": pid})
        os._exit(0)
    except BaseException as e:  # noqa: BLE001
        report_and_exit(sync_w, "create", f"joining the namespaces: {e}")


def _join_mount_namespace(a: InitArgs, where: str) -> None:
    """linux.namespaces' mount entry with a path, as runc's nsexec joins it: the last of the namespaces given
    by path (the paths of the others are the host's until then), before a new user namespace is made (whose
    root could not join a mount namespace the host's user namespace owns). The init then builds the root in
    it as in a new one (mounts, pivot_root): the rootfs and the bundle's sources must be visible there.
    What the init imports later is imported first: the host's Python files may not be visible there."""
    from pyrunc.security.process import ProcessSecurity  # noqa: F401 - the init's, before "ready"

    if a.cfg.seccomp:
        from pyrunc.security.seccomp import _pyseccomp

        _pyseccomp()
    if a.console >= 0:
        import socket  # noqa: F401
        import struct  # noqa: F401

        from pyrunc.linux import terminal  # noqa: F401
    if any(a.cfg.hooks_of(kind) for kind in ("createContainer", "startContainer")):
        import subprocess  # noqa: F401 - hooks.run's
    sc.setns_path(where, sc.CLONE_NEWNS)


def _join_session_keyring(name: str) -> None:
    """A new session keyring of the container's own, with runc's permissions: the default ones plus
    KEY_USR_LINK (0x080000), so that the container's user may link keys into it."""
    number = SYS_KEYCTL.get(sc.machine())
    if number is None:
        return
    from pyrunc.linux.libc import array, c_char, c_char_p, c_long, c_uint32, get_errno

    libc = sc._libc()
    key = libc.syscall(number, KEYCTL_JOIN_SESSION_KEYRING, c_char_p(name.encode()))
    if key < 0:
        err = get_errno()
        # ENOSYS: no keyrings in this kernel; EACCES/EPERM: a seccomp filter of the host's. runc goes on too.
        if err not in (1, 13, 38):
            raise OSError(err, f"joining session keyring {name}: {os.strerror(err)}")
        return
    buf = array(c_char, 256)()  # ctypes.create_string_buffer(256)
    if libc.syscall(number, KEYCTL_DESCRIBE, c_long(key), buf, c_long(len(buf))) < 0:
        return
    fields = buf.value.decode(errors="replace").split(";")  # type;uid;gid;perm;description
    perm = int(fields[3], 16) if len(fields) > 3 else 0x3F130000
    libc.syscall(number, KEYCTL_SETPERM, c_long(key), c_uint32(perm | 0x080000))


def _init_main(a: InitArgs, sync_w: int, go_r: int) -> None:
    cfg, proc = a.cfg, a.cfg.process
    stage = "create"
    told = [False]  # {"created"} sent: from then on errors can only go to the container's stderr
    try:
        from pyrunc.security.process import ProcessSecurity

        gc.disable()
        hygiene.set_dumpable(False)
        keep = [0, 1, 2, sync_w, go_r, a.state_dir, *range(3, 3 + a.preserve_fds), *(fd for _, fd in a.mount_fds)]
        hygiene.close_fds_except([fd for fd in keep if fd >= 0] + ([a.console] if a.console >= 0 else []))
        if a.console >= 0:
            import socket  # noqa: F401 - with a terminal only (~3 ms otherwise); now: after pivot_root the host's modules are out of reach

            from pyrunc.linux import terminal  # noqa: F401 - the same
        security = ProcessSecurity(cfg)
        if proc.cpu_affinity_initial:
            os.sched_setaffinity(0, proc.cpu_affinity_initial)  # until the cgroup's cpuset replaces it
        os.setsid()
        runtime_hooks = bool(cfg.hooks_of("prestart") or cfg.hooks_of("createRuntime"))
        # The root is built before "ready" when nothing of it waits on what the runtime does first: the
        # runtime puts us in our cgroup meanwhile (create.py attaches on our pid), and its first cgroup.procs
        # write waits for an RCU grace period on cgroup v1 (~10 ms): the two overlap. Else after "go", in
        # runc's order: in the cgroup first (a new cgroup namespace is rooted at it; hooks run in it), and as
        # the user namespace's root once its maps are written.
        early = _root_before_go(cfg)
        if early:
            _enter_and_build(a, sync_w, -1)
        send(sync_w, {"ready": 1})
        if os.read(go_r, 1) != b"g":
            os._exit(1)
        if not runtime_hooks:
            os.close(go_r)
        if not early:
            if "user" in cfg.namespaces:
                _become_namespace_root()
            _enter_and_build(a, sync_w, go_r if runtime_hooks else -1)
        if a.console >= 0:
            _terminal(a)
        os.umask(proc.umask if proc.umask is not None else 0o022)
        os.chdir(proc.cwd)
        for fd in (0, 1, 2):
            os.set_inheritable(fd, True)
        for fd in range(3, 3 + a.preserve_fds):
            try:
                os.set_inheritable(fd, True)
            except OSError:
                pass

        def wait_for_start() -> None:
            # As runc: a program that is not there fails `create`, not the `start` that nobody would hear.
            program[0] = _look_path(argv[0], env.get("PATH", ""))
            if not program[0]:
                raise LaunchError("create", not_found(argv[0]))
            send(sync_w, {"created": 1})
            told[0] = True
            fifo = os.open(FIFO, os.O_WRONLY | os.O_CLOEXEC, dir_fd=a.state_dir)
            os.write(fifo, b"0")
            os.close(fifo)
            os.close(a.state_dir)

        argv = list(proc.args)
        env = dict(proc.env)
        if "HOME" not in env:
            env["HOME"] = _home(proc.uid)  # runc: the user's home from the container's /etc/passwd, else /
        program = [argv[0]]  # the path found in PATH; argv[0] stays as the config wrote it (runc: the same)
        _process_attributes(cfg)
        security.enter(lambda: set_identity(proc.uid, proc.gid, proc.additional_gids), last=wait_for_start)
        stage = "exec"
        if cfg.hooks_of("startContainer"):
            try:
                hooks.run("startContainer", cfg.hooks_of("startContainer"), _state(a, "created"))
            except hooks.HookError as e:
                raise LaunchError("exec", e.message) from None
        reset_signals()
        if cfg.personality is not None:
            _set_personality(cfg.personality)
        try:
            os.execve(program[0], argv, env)
        except OSError as e:
            raise LaunchError("exec", f'exec: "{argv[0]}": {e.strerror}') from None
    except LaunchError as e:
        _fail(sync_w, e.stage, e.message, told[0])
    except BaseException as e:  # noqa: BLE001 - anything that escapes must reach the runtime
        _fail(sync_w, stage, f"{type(e).__name__}: {e}" if not isinstance(e, OSError) else _os_error(e), told[0])


IOPRIO_WHO_PROCESS, IOPRIO_CLASS_SHIFT = 1, 13
SYS_IOPRIO_SET = {"x86_64": 251, "i686": 289, "aarch64": 30, "riscv64": 30, "armv7l": 314, "ppc64le": 273,
                  "s390x": 282}


def _process_attributes(cfg: oc.OciConfig) -> None:
    """process.scheduler, process.ioPriority, execCPUAffinity.final: set by the init while it still holds
    every capability (a realtime policy needs CAP_SYS_NICE), inherited across exec."""
    sched = cfg.process.scheduler
    if sched is not None:
        os.sched_setscheduler(0, sched.policy, os.sched_param(sched.priority))
        if sched.nice:
            os.setpriority(os.PRIO_PROCESS, 0, sched.nice)
    if cfg.memory_policy is not None:
        _set_mempolicy(*cfg.memory_policy)
    if cfg.process.cpu_affinity_final:
        os.sched_setaffinity(0, cfg.process.cpu_affinity_final)
    io = cfg.process.io_priority
    if io is not None:
        number = SYS_IOPRIO_SET.get(sc.machine())
        if number is None:
            raise OSError(38, f"process.ioPriority: unknown ioprio_set syscall on {sc.machine()}")
        value = io[0] << IOPRIO_CLASS_SHIFT | io[1]
        if sc._libc().syscall(number, IOPRIO_WHO_PROCESS, 0, value) < 0:
            from pyrunc.linux.libc import get_errno

            err = get_errno()
            raise OSError(err, f"process.ioPriority: ioprio_set: {os.strerror(err)}")


SYS_SET_MEMPOLICY = {"x86_64": 238, "i686": 276, "aarch64": 237, "riscv64": 237, "armv7l": 321,
                     "ppc64le": 261, "s390x": 270}


def _set_mempolicy(mode: int, nodes: tuple[int, ...]) -> None:
    """linux.memoryPolicy: the task's NUMA policy, kept across execve."""
    number = SYS_SET_MEMPOLICY.get(sc.machine())
    if number is None:
        raise OSError(38, f"linux.memoryPolicy: unknown set_mempolicy syscall on {sc.machine()}")
    from pyrunc.linux.libc import array, byref, c_ulong, get_errno

    words = array(c_ulong, 16)()  # a nodemask of 1024 bits
    for n in nodes:
        words[n // 64] |= 1 << (n % 64)
    mask = byref(words) if nodes else None
    if sc._libc().syscall(number, mode, mask, c_ulong(1025 if nodes else 0)) < 0:
        err = get_errno()
        raise OSError(err, f"linux.memoryPolicy: set_mempolicy: {os.strerror(err)}")


def _set_personality(domain: int) -> None:
    """linux.personality, the last call before execve: a LINUX32 domain changes what uname(2) says, which
    the seccomp filter and the syscall tables above read to know the architecture."""
    from pyrunc.linux.libc import c_ulong, get_errno

    if sc._libc().personality(c_ulong(domain)) < 0:
        err = get_errno()
        raise OSError(err, f"linux.personality: {os.strerror(err)}")


def _become_namespace_root() -> None:
    """In a user namespace (new: the runtime wrote our maps; or joined): become its root (runc's nsexec
    does the same) when it is mapped, so that what the init makes in the rootfs belongs to the mapped root
    and the ids it gives (devpts gid=5, the user's) are the namespace's."""
    for name, setter in (("gid_map", os.setresgid), ("uid_map", os.setresuid)):
        with open(f"/proc/self/{name}", encoding="ascii") as f:
            maps = tuple(userns.IdMap(*map(int, line.split())) for line in f if line.strip())
        if userns.maps_id(maps, 0):
            setter(0, 0, 0)


def _state(a: InitArgs, status: str) -> bytes:
    """The state the hooks run in the container get: the init's own pid there (runc: the same)."""
    return hooks.state_json(a.container_id, status, os.getpid(), a.cfg.bundle, dict(a.cfg.annotations))


def _root_before_go(cfg: oc.OciConfig) -> bool:
    """The root may be built before the init is in its cgroup (see _init_main): no user namespace (the maps come
    with "go"), no cgroup namespace, no hooks before pivot_root (they run in the container's cgroup), no
    execCPUAffinity.initial (the cgroup is joined after it is set: create.py)."""
    return ("user" not in cfg.namespaces and "cgroup" not in cfg.namespaces and not cfg.process.cpu_affinity_initial
            and not any(cfg.hooks_of(kind) for kind in ("prestart", "createRuntime", "createContainer")))


def _enter_and_build(a: InitArgs, sync_w: int, go_r: int) -> None:
    """The mount (and cgroup) namespace, the session keyring, hostname and domainname, then the root."""
    cfg = a.cfg
    cgroup_ns = cfg.namespaces.get("cgroup")
    if cgroup_ns not in (None, "new"):
        sc.setns_path(cgroup_ns, sc.CLONE_NEWCGROUP)  # now: the init is in its cgroup
    new_mount = cfg.namespaces.get("mount") == "new"  # else joined by the launcher (_join_mount_namespace)
    flags = (sc.CLONE_NEWNS if new_mount else 0) | (sc.CLONE_NEWCGROUP if cgroup_ns == "new" else 0)
    if flags:
        sc.unshare(flags)
    if not a.no_new_keyring:
        _join_session_keyring(f"_ses.{a.container_id}")
    if cfg.hostname:
        _set_uts_name("sethostname", cfg.hostname)
    if cfg.domainname:
        _set_uts_name("setdomainname", cfg.domainname)
    _build_root(a, lambda: _before_pivot(a, sync_w, go_r))


def _before_pivot(a: InitArgs, sync_w: int, go_r: int) -> None:
    """The mounts are made, the host's root is still there: the runtime runs prestart and createRuntime
    (we wait for its "h"), then createContainer runs here, in the container's namespaces."""
    if go_r >= 0:
        send(sync_w, {"hooks": 1})
        if os.read(go_r, 1) != b"h":
            os._exit(1)  # the runtime gave up (a hook failed): it kills us
        os.close(go_r)
    if a.cfg.hooks_of("createContainer"):
        try:
            hooks.run("createContainer", a.cfg.hooks_of("createContainer"), _state(a, "creating"))
        except hooks.HookError as e:
            raise LaunchError("create", e.message) from None


def _os_error(e: OSError) -> str:
    where = f" {e.filename}" if e.filename else ""
    return f"{e.strerror or e}{':' if where else ''}{where}"


def _fail(sync_w: int, stage: str, message: str, created: bool) -> None:
    if created:  # the sync pipe has no reader any more
        try:
            os.write(2, f"pyrunc-oci init: {message}\n".encode())
        except OSError:
            pass
    report_and_exit(sync_w, stage, message)


def _set_uts_name(call: str, name: str) -> None:
    """sethostname(2) or setdomainname(2) through libc (loaded for the process security anyway): not
    socket.sethostname, whose module would be one import more, and one the init can no longer load once it
    is the root of a user namespace (the host's /root, where Python may live, is closed to that uid)."""
    from pyrunc.linux.libc import c_char_p, c_size_t, get_errno

    raw = name.encode()
    if getattr(sc._libc(), call)(c_char_p(raw), c_size_t(len(raw))) != 0:
        err = get_errno()
        raise OSError(err, f"{call}: {os.strerror(err)}")


# ---------------------------------------------------------------------------------------- rootfs
def _build_root(a: InitArgs, before_pivot: Callable[[], None]) -> None:
    cfg = a.cfg
    # By default nothing we mount propagates back to the host and the host's later mounts still reach the
    # container (runc's default rootfsPropagation, rslave); else the config's, on the whole tree, as runc.
    sc.mount(None, "/", None, cfg.rootfs_propagation or sc.MS_REC | sc.MS_SLAVE)
    # runc: the mount holding the root's parent made private if shared, so that the bind below does not
    # propagate elsewhere and pivot_root accepts it (it refuses a new root whose parent is shared).
    _parent_mount_private(os.path.dirname(cfg.root))
    # The root becomes a mount point of its own (pivot_root needs one), recursively as runc binds it.
    sc.mount(cfg.root, cfg.root, None, sc.MS_BIND | sc.MS_REC)
    root = safepath.open_dir(cfg.root)
    try:
        trees = dict(a.mount_fds)
        for i, m in enumerate(cfg.mounts):
            try:
                if i in trees:
                    _move_tree(root, m, trees[i])
                _mount(root, m, a, moved=i in trees)
            except OSError as e:
                raise LaunchError("create", f"error mounting {m.type} to rootfs at {m.destination!r}: "
                                            f"{e.strerror or e}") from None
        if not any(m.destination == "/dev" and m.type == "bind" for m in cfg.mounts):
            _make_dev(root, cfg)
        os.close(safepath.mkdirs_in(root, cfg.process.cwd))  # runc makes a missing cwd (before a read-only root)
        os.fchdir(root)
    finally:
        os.close(root)
    before_pivot()
    if a.no_pivot:
        sc.mount(".", "/", None, MS_MOVE)
        os.chroot(".")
    else:
        old_root = os.open("/", O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            sc.pivot_root(".", ".")
            # The old root is stacked on the new one: make it (and all below it) a slave before it goes,
            # so that its unmount never propagates to the host, whatever rootfsPropagation said (runc).
            os.fchdir(old_root)
            sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
            sc.umount(".", sc.MNT_DETACH)
        finally:
            os.close(old_root)
    os.chdir("/")
    if cfg.rootfs_propagation:
        # Now, on the container's own root: done before pivot_root it would have applied to the host's.
        sc.mount(None, "/", None, cfg.rootfs_propagation)
    for key, value in cfg.sysctl:
        with open("/proc/sys/" + key.replace(".", "/"), "w", encoding="utf-8") as f:
            f.write(value)
    top = safepath.open_dir("/")
    try:
        for path in cfg.readonly_paths:  # runc's order: read-only paths, then the masks
            _read_only(top, path)
        rootfs.mask_paths(top, cfg.masked_paths, ())
    finally:
        os.close(top)
    if cfg.root_readonly:
        sc.mount(None, "/", None, sc.MS_REMOUNT | sc.MS_BIND | sc.MS_RDONLY)


def _parent_mount_private(parent: str) -> None:
    """Make the mount that holds `parent` private when it is shared (only then: runc's rule)."""
    best, shared = "", False
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        data = f.read()
    # A busy host has a thousand mounts: split a line whole only when its mount point (the fifth field)
    # holds `parent`.
    for line in data.split("\n"):
        head = line.split(" ", 5)
        if len(head) < 6:
            continue
        point = head[4].replace("\\040", " ")
        if (parent == point or parent.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
            best, shared = point, any(tag.startswith("shared:") for tag in head[5].split(" - ")[0].split()[1:])
    if best and shared:
        sc.mount(None, best, None, sc.MS_PRIVATE)


def _read_only(root: int, path: str) -> None:
    """runc's readonlyPath: bind the path onto itself (recursively) and remount it read-only; missing: skip."""
    try:
        fd = safepath.open_in(root, path)
    except (FileNotFoundError, NotADirectoryError):
        return
    try:
        mountfd.bind(fd, fd, read_only=True, reopen=lambda: safepath.open_in(root, path))
    finally:
        os.close(fd)


def _tmpfs_copy_up(root: int, m: oc.OciMount, target: int, flags: int) -> None:
    """tmpcopyup: the tmpfs starts with a copy of the directory it covers (read through a descriptor
    opened before the mount), then takes its read-only flag if it has one."""
    below = os.open(fd_path(target), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        sc.mount(m.source or "tmpfs", fd_path(target), "tmpfs", flags & ~sc.MS_RDONLY, m.data or None)
        above = safepath.open_in(root, m.destination)
        try:
            top = os.open(fd_path(above), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                _copy_tree(below, top)
            finally:
                os.close(top)
            if flags & sc.MS_RDONLY:
                sc.mount(None, fd_path(above), None, sc.MS_REMOUNT | flags)
        finally:
            os.close(above)
    finally:
        os.close(below)


def _copy_tree(src: int, dst: int) -> None:
    """Copy the directory `src` into `dst` (both directory descriptors): files, directories, symlinks and
    nodes, with their modes and owners; never following a symlink."""
    for entry in os.scandir(src):
        st = entry.stat(follow_symlinks=False)
        name, mode = entry.name, stat.S_IMODE(st.st_mode)
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(name, 0o700, dir_fd=dst)
            a = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
            b = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dst)
            try:
                _copy_tree(a, b)
            finally:
                os.close(a)
                os.close(b)
        elif stat.S_ISREG(st.st_mode):
            a = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
            b = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600, dir_fd=dst)
            try:
                while os.sendfile(b, a, None, 1 << 20):
                    pass
            finally:
                os.close(a)
                os.close(b)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
        else:
            os.mknod(name, st.st_mode, st.st_rdev, dir_fd=dst)
        os.chown(name, st.st_uid, st.st_gid, dir_fd=dst, follow_symlinks=False)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(name, mode, dir_fd=dst)  # after chown, which clears set-id bits


def _move_tree(root: int, m: oc.OciMount, tree: int) -> None:
    """An id-mapped bind the runtime made (mountattr.idmapped_tree): moved onto its target."""
    from pyrunc.linux import mountfd

    if stat.S_ISDIR(os.fstat(tree).st_mode):
        target = safepath.mkdirs_in(root, m.destination)
    else:
        target = safepath.create_file_in(root, m.destination)
    try:
        mountfd._move_mount(tree, target)
    finally:
        os.close(target)
        os.close(tree)


def _mount(root: int, m: oc.OciMount, a: InitArgs, moved: bool = False) -> None:
    flags = m.flags & ~(oc.MS_BIND | oc.MS_REC | oc.MS_REMOUNT)
    if moved:
        if flags:
            _remount_bind(root, m.destination, flags)
    elif m.type == "bind":
        _bind(root, m, a.cfg.bundle, flags)
    elif m.type == "cgroup":
        _mount_cgroup(root, m, a, flags)
    else:
        if m.type in ("proc", "sysfs") and m.destination in ("/proc", "/sys"):
            # runc refuses these on anything but a real directory (a symlink would move the masks elsewhere).
            try:
                st = os.stat(m.destination.lstrip("/"), dir_fd=root, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode):
                    raise LaunchError("create", f'error mounting "{m.type}" to rootfs at "{m.destination}": '
                                                f'filesystem "{m.type}" must be mounted on ordinary directory')
            except FileNotFoundError:
                pass
        target = safepath.mkdirs_in(root, m.destination)
        try:
            if m.tmpcopyup:
                _tmpfs_copy_up(root, m, target, flags)
            else:
                sc.mount(m.source or m.type, fd_path(target), "cgroup2" if m.type == "cgroup2" else m.type, flags,
                         m.data or None)
        finally:
            os.close(target)
    if m.propagation:
        fd = safepath.open_in(root, m.destination)
        try:
            sc.mount(None, fd_path(fd), None, m.propagation)
        finally:
            os.close(fd)
    if m.attr_clear or m.attr_set:
        from pyrunc.oci.mountattr import set_attributes

        fd = safepath.open_in(root, m.destination)
        try:
            set_attributes(fd, m.attr_clear, m.attr_set, recursive=True)
        finally:
            os.close(fd)


def _bind(root: int, m: oc.OciMount, bundle: str, flags: int) -> None:
    source = m.source if m.source.startswith("/") else os.path.join(bundle, m.source)
    src = os.open(source, O_PATH | os.O_CLOEXEC)
    try:
        if stat.S_ISDIR(os.fstat(src).st_mode):
            target = safepath.mkdirs_in(root, m.destination)
        else:
            target = safepath.create_file_in(root, m.destination)
        try:
            mountfd.bind(src, target, recursive=bool(m.flags & oc.MS_REC))
        finally:
            os.close(target)
    finally:
        os.close(src)
    if flags:
        _remount_bind(root, m.destination, flags)


def _remount_bind(root: int, destination: str, flags: int) -> None:
    """A bind takes its flags (ro, nosuid, nodev, noexec ...) from a remount of the new mount."""
    top = safepath.open_in(root, destination)
    try:
        sc.mount(None, fd_path(top), None, sc.MS_REMOUNT | sc.MS_BIND | flags)
    finally:
        os.close(top)


def _mount_cgroup(root: int, m: oc.OciMount, a: InitArgs, flags: int) -> None:
    """`cgroup` as runc mounts it: cgroup2 on a unified host; on v1 a tmpfs holding a bind of the container's
    group in each hierarchy (named as the hierarchy's mount point), each bind with the mount's flags."""
    target = safepath.mkdirs_in(root, m.destination)
    try:
        if a.cgroup_version == 2:
            sc.mount("cgroup2", fd_path(target), "cgroup2", flags)
            return
        # As runc: the tmpfs itself stays writable.
        sc.mount("tmpfs", fd_path(target), "tmpfs", flags & ~sc.MS_RDONLY, "mode=755")
    finally:
        os.close(target)
    for name, group in a.cgroup_binds:
        dest = f"{m.destination}/{name}"
        src = os.open(group, O_PATH | os.O_CLOEXEC)
        try:
            sub = safepath.mkdirs_in(root, dest)
            try:
                mountfd.bind(src, sub, recursive=False)
            finally:
                os.close(sub)
        finally:
            os.close(src)
        top = safepath.open_in(root, dest)
        try:
            sc.mount(None, fd_path(top), None, sc.MS_REMOUNT | sc.MS_BIND | flags)
        finally:
            os.close(top)


def _make_dev(root: int, cfg: oc.OciConfig) -> None:
    """runc's default nodes, the config's linux.devices, and the links of /dev (ptmx, fd, stdio, core)."""
    dev = safepath.mkdirs_in(root, "/dev")
    # In a user namespace mknod is refused (CAP_MKNOD counts in the host's namespace only): the host's
    # nodes are bound instead, as runc does.
    in_userns = "user" in cfg.namespaces
    try:
        for name, (major, minor, mode) in rootfs.DEVICES.items():
            if in_userns:
                _bind_device(root, f"/dev/{name}")
            else:
                rootfs._mknod_at(dev, name, mode | stat.S_IFCHR, os.makedev(major, minor))
        for d in cfg.devices:
            if in_userns:
                _bind_device(root, d.path)
                continue
            parent = safepath.mkdirs_in(root, os.path.dirname(d.path))
            try:
                kind = {"c": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[d.kind]
                rootfs._mknod_at(parent, os.path.basename(d.path), kind | d.mode, os.makedev(d.major, d.minor),
                                 d.uid, d.gid)
            finally:
                os.close(parent)
        for name, target in (("ptmx", "pts/ptmx"), ("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"), ("core", "/proc/kcore")):
            try:
                os.symlink(target, name, dir_fd=dev)
            except FileExistsError:
                pass
    finally:
        os.close(dev)


def _bind_device(root: int, path: str) -> None:
    """The host's node at `path` bound onto a file made at the same path in the root."""
    src = os.open(path, O_PATH | os.O_CLOEXEC)
    try:
        target = safepath.create_file_in(root, path, 0o600)
        try:
            mountfd.bind(src, target, recursive=False)
        finally:
            os.close(target)
    finally:
        os.close(src)


def _terminal(a: InitArgs) -> None:
    """process.terminal: a pty of the container's devpts; the master goes to the console socket with
    SCM_RIGHTS (runc's message: the name "/dev/ptmx"), the slave becomes /dev/console, the controlling
    terminal and stdio."""
    import socket  # loaded before pivot_root (launcher_main)

    from pyrunc.linux import terminal

    master, slave, number = terminal.allocate_pty(a.cfg.process.uid)
    size = a.cfg.process.console_size
    if size is not None:
        import struct

        terminal.set_winsize(master, struct.pack(terminal.WINSIZE, size[0], size[1], 0, 0))
    top = safepath.open_dir("/")
    try:
        console = safepath.create_file_in(top, "/dev/console", 0o600)
        try:
            src = os.open(f"/dev/pts/{number}", O_PATH | os.O_CLOEXEC)
            try:
                mountfd.bind(src, console, recursive=False)
            finally:
                os.close(src)
        finally:
            os.close(console)
    finally:
        os.close(top)
    sock = socket.socket(fileno=a.console)
    socket.send_fds(sock, [b"/dev/ptmx"], [master])
    sock.close()
    os.close(master)
    terminal.make_controlling(slave)
