"""pyrunc-oci: a runc-compatible OCI runtime CLI on pyrunc's own launcher (docs/oci.md).

config.py decodes a bundle's config.json (pure); state.py keeps a container's facts under --root;
cgroup.py makes its cgroup; init.py is the container's side (namespaces, rootfs, exec FIFO);
container.py the runtime's side (create, start, kill, delete); cli.py the command line.
"""

OCI_VERSION = "1.0.2-dev"  # the runtime-spec version this runtime writes (`spec`, `state`); it reads 1.0 to 1.2
