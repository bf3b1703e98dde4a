"""Who a container runs as: the kubelet's and containerd's CRI rules, resolved in the image's own files.

Pure logic: the image's ``/etc/passwd`` and ``/etc/group`` come in as text through a reader the
caller provides (the supervisor reads them with ``safepath.read_file_in``, resolved *inside* the
image's root, so a hostile image whose ``/etc`` is a symlink never makes us read the host's files).

The rules, in the order the kubelet and containerd apply them:

1. **The user string.** The effective ``runAsUser`` (container wins over pod) if set; otherwise the
   user part of the image's ``User`` (``name`` or ``uid``); otherwise ``0``. ``runAsGroup``
   (container wins over pod) becomes the group part (containerd ``GenerateUserString``).
2. **Resolving it** (containerd ``oci.WithUser``): ``uid`` alone takes the primary group of that uid's
   passwd entry, or 0 when the image has no entry (``WithUserID``); ``name`` alone must be in the
   image's passwd, else the container cannot be created (``WithUsername``: "no users found");
   ``user:group`` with a name on either side looks the names up (passwd, group), numbers are taken
   as they are.
3. **Supplementary groups** (containerd ``WithAdditionalGIDs`` + ``WithSupplementalGroups``): the
   primary gid first (containerd adds it since the fix for CVE-2023-25173), then, unless
   ``supplementalGroupsPolicy: Strict``, every group of the image's ``/etc/group`` that lists the
   user's name as a member (not the group named like the user), then ``fsGroup`` and
   ``supplementalGroups`` (the kubelet's order), without duplicates. The kernel keeps the list
   sorted, so ``id`` shows them in numeric order.
4. **runAsNonRoot** (kubelet ``verifyRunAsNonRoot``): checked on the kubelet's view of the user
   (before any passwd lookup); a refusal is a ContainerConfigError (CreateContainerConfigError).

One deliberate difference: when neither ``runAsUser`` nor ``runAsGroup`` is set, the *group* part of
the image's ``User`` (``app:staff``, ``1000:1000``) is honoured, as the OCI image spec and Docker
define it. The kubelet passes only the user part to the runtime, so a Kubernetes node drops that
group (kubernetes/kubernetes#61967, containerd/containerd#11607, both open): pyrunc does what the
image says instead of reproducing that bug.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

from pyrunc.errors import ContainerConfigError, PyruncError

MAX_ID = 2**31 - 1  # runc (and so containerd) refuse ids above MaxInt32


class PasswdEntry(NamedTuple):
    name: str
    uid: int
    gid: int


class GroupEntry(NamedTuple):
    name: str
    gid: int
    members: tuple[str, ...]


class Identity(NamedTuple):
    uid: int
    gid: int
    additional_gids: tuple[int, ...]


class UserLookupError(PyruncError):
    """The image's user or group cannot be resolved: the container cannot be created (CreateContainerError)."""


def _number(text: str) -> int | None:
    """A decimal id, or None when `text` is not one (then it is a name). Absurdly long numbers stay
    numbers (out of range), never names."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()):
        return None
    return int(text) if len(text) <= 20 else MAX_ID + 1


def parse_passwd(text: str) -> list[PasswdEntry]:
    """``name:password:uid:gid:gecos:home:shell`` lines; malformed lines are skipped (never read as uid 0)."""
    entries = []
    for line in text.splitlines():
        fields = line.strip().split(":")
        if len(fields) < 4 or not fields[0] or fields[0].startswith("#"):
            continue
        uid, gid = _number(fields[2]), _number(fields[3])
        if uid is None or gid is None:
            continue
        entries.append(PasswdEntry(fields[0], uid, gid))
    return entries


def parse_group(text: str) -> list[GroupEntry]:
    """``name:password:gid:member,member`` lines; malformed lines are skipped."""
    entries = []
    for line in text.splitlines():
        fields = line.strip().split(":")
        if len(fields) < 3 or not fields[0] or fields[0].startswith("#"):
            continue
        gid = _number(fields[2])
        if gid is None:
            continue
        members = tuple(m.strip() for m in fields[3].split(",") if m.strip()) if len(fields) > 3 else ()
        entries.append(GroupEntry(fields[0], gid, members))
    return entries


class ImageUsers:
    """The image's passwd and group databases, read at most once and only when a rule needs them.

    `read` returns a file's bytes from inside the image (None when it is missing or unreadable).
    """

    def __init__(self, read: Callable[[str], bytes | None] = lambda path: None) -> None:
        self._read = read
        self._passwd: list[PasswdEntry] | None = None
        self._group: list[GroupEntry] | None = None

    def _text(self, path: str) -> str:
        data = self._read(path)
        return data.decode("utf-8", errors="replace") if data else ""

    @property
    def passwd(self) -> list[PasswdEntry]:
        if self._passwd is None:
            self._passwd = parse_passwd(self._text("/etc/passwd"))
        return self._passwd

    @property
    def group(self) -> list[GroupEntry]:
        if self._group is None:
            self._group = parse_group(self._text("/etc/group"))
        return self._group

    def user_by_name(self, name: str) -> PasswdEntry | None:
        return next((u for u in self.passwd if u.name == name), None)

    def user_by_uid(self, uid: int) -> PasswdEntry | None:
        return next((u for u in self.passwd if u.uid == uid), None)

    def group_by_name(self, name: str) -> GroupEntry | None:
        return next((g for g in self.group if g.name == name), None)

    def groups_of(self, username: str) -> list[int]:
        """Groups listing `username` as a member, except the one named after the user (containerd)."""
        return [g.gid for g in self.group if g.name != username and username in g.members]


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def effective(pod: Any, container: Any, field: str) -> Any:
    """A securityContext field, the container's winning over the pod's (kubelet DetermineEffectiveSecurityContext)."""
    sc = container.security_context
    psc = pod.spec.security_context
    return _first(getattr(sc, field, None) if sc is not None else None,
                  getattr(psc, field, None) if psc is not None else None)


def image_user(user: str) -> tuple[int | None, str]:
    """The kubelet's view of an image ``User`` (containerd getUserFromImage): the user part only,
    as (uid, "") when numeric, (None, name) otherwise, (None, "") when the image sets none."""
    name = user.split(":", 1)[0]
    if not name:
        return None, ""
    uid = _number(name)
    return (uid, "") if uid is not None else (None, name)


def pod_desc(pod: Any) -> str:
    """The kubelet's format.Pod: NAME_NAMESPACE(UID)."""
    meta = pod.metadata
    return f"{meta.name}_{meta.namespace}({meta.uid})"


def verify_run_as_non_root(pod: Any, container: Any, user: str) -> None:
    """kubelet verifyRunAsNonRoot, with its messages; raises ContainerConfigError."""
    if not effective(pod, container, "run_as_non_root"):
        return
    where = f'(pod: "{pod_desc(pod)}", container: {container.name})'
    run_as_user = effective(pod, container, "run_as_user")
    if run_as_user is not None:
        if run_as_user == 0:
            raise ContainerConfigError(f"container's runAsUser breaks non-root policy {where}")
        return
    uid, name = image_user(user)
    if uid is None and name:
        raise ContainerConfigError(
            f"container has runAsNonRoot and image has non-numeric user ({name}), cannot verify user is non-root {where}")
    if uid is None or uid == 0:  # an image without a user runs as root
        raise ContainerConfigError(f"container has runAsNonRoot and image will run as root {where}")
    if uid > MAX_ID:
        raise ContainerConfigError(
            f"container has runAsNonRoot and image has an invalid user id ({uid}). (Must be 1-({MAX_ID})): "
            f"must be between 0 and {MAX_ID}, inclusive {where}")


def user_string(pod: Any, container: Any, user: str) -> tuple[str, str | None]:
    """(user, group or None): what the kubelet and containerd hand to oci.WithUser (see the module doc)."""
    run_as_user = effective(pod, container, "run_as_user")
    run_as_group = effective(pod, container, "run_as_group")
    img_user, sep, img_group = user.partition(":")
    name = str(run_as_user) if run_as_user is not None else (img_user or "0")
    if run_as_group is not None:
        return name, str(run_as_group)
    if run_as_user is None and sep and img_group:
        return name, img_group  # the image's own group (the OCI image spec; see the module doc)
    return name, None


def _id(text: str, what: str, spec: str) -> int | None:
    value = _number(text)
    if value is not None and value > MAX_ID:
        raise UserLookupError(f"invalid USER value {spec!r}: {what} out of range")
    return value


def resolve_user(name: str, group: str | None, db: ImageUsers) -> tuple[int, int]:
    """containerd oci.WithUser: (uid, gid) from a user and optional group, numbers or names."""
    spec = name if group is None else f"{name}:{group}"
    uid = _id(name, "uid", spec)
    if group is None:
        if uid is not None:
            entry = db.user_by_uid(uid)
            return uid, entry.gid if entry is not None else 0
        entry = db.user_by_name(name)
        if entry is None:
            raise UserLookupError(f'no users found: user "{name}" is not in the image\'s /etc/passwd')
        return entry.uid, entry.gid
    gid = _id(group, "gid", spec)
    if uid is None:
        entry = db.user_by_name(name)
        if entry is None:
            raise UserLookupError(f'no users found: user "{name}" is not in the image\'s /etc/passwd')
        uid = entry.uid
    if gid is None:
        grp = db.group_by_name(group)
        if grp is None:
            raise UserLookupError(f'no groups found: group "{group}" is not in the image\'s /etc/group')
        gid = grp.gid
    return uid, gid


def resolve_identity(pod: Any, container: Any, user: str, db: ImageUsers) -> Identity:
    """uid, gid and supplementary groups of `container`, whose image says ``User: user``."""
    verify_run_as_non_root(pod, container, user)
    name, group = user_string(pod, container, user)
    uid, gid = resolve_user(name, group, db)
    if uid > MAX_ID or gid > MAX_ID:
        raise UserLookupError(f"invalid user {uid}:{gid} from the image's files: ids above {MAX_ID} are not supported")
    groups: list[int] = [gid]
    psc = pod.spec.security_context
    if psc is None or psc.supplemental_groups_policy != "Strict":
        # WithAdditionalGIDs: a numeric user is looked up by uid to find its name; unknown -> none.
        number = _number(name)
        if number is None:
            groups += db.groups_of(name)
        else:
            entry = db.user_by_uid(number)
            if entry is not None:
                groups += db.groups_of(entry.name)
    if psc is not None:
        if psc.fs_group is not None:
            groups.append(psc.fs_group)
        groups += list(psc.supplemental_groups)
    unique: list[int] = []
    for g in groups:
        if g not in unique:
            unique.append(int(g))
    return Identity(uid, gid, tuple(unique))
