"""pyrunc-oci: a runc-compatible OCI runtime CLI on pyrunc's own launcher (docs/oci.md).

config.py decodes a bundle's config.json (pure); state.py keeps a container's facts under --root;
cgroup.py makes its cgroup; init.py is the container's side (namespaces, rootfs, exec FIFO);
container.py the runtime's side (create, start, kill, delete); cli.py the command line.
"""

OCI_VERSION = "1.0.2-dev"  # the runtime-spec version this runtime writes (`spec`, `state`); it reads 1.0 to 1.2


def with_site() -> None:
    """The virtualenv's packages (pyseccomp) on sys.path: the launcher (scripts/write-launcher.sh oci) starts
    Python without `site` (-S), which every command but those that compile a seccomp filter can do without."""
    import sys

    if sys.flags.no_site and "site" not in sys.modules:
        import site

        site.main()


def check_id(container_id: str) -> str:
    """runc's container id rule, ^[\\w+-.]+$ (here, not in config.py: every verb checks an id, few decode a
    config). By hand, not with re: re loads enum, ~7 ms of every command (\\w is what str.isalnum says, or _)."""
    from pyrunc.errors import FieldError

    if (not container_id or container_id in (".", "..")
            or not all(ch.isalnum() or ch in "_+-." for ch in container_id)):
        raise FieldError("container id", f"invalid id format: {container_id!r}")
    return container_id
