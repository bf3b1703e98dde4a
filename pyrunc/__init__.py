"""pyrunc: a pure-Python pod runtime.

General layout (see docs/design.md):
  spec/        Pod manifests -> validated, defaulted, frozen dataclasses (pure)
  cgroups/     QoS and cgroup arithmetic (pure) plus the v1/v2 drivers
  network/     bridge, veth, IPAM, port forwarding, /etc/hosts and resolv.conf
  linux/       thin ctypes wrappers over the syscalls Python lacks (setns, unshare, mount, pivot_root)
  store/       on-disk layout, data and log paths, atomic JSON, CRI logs, events
  images/      the image service: references, the OCI format (media.py), a registry client, archive import,
               safe layer unpacking, and the content-addressed store (store.py) shared by every container
  sandbox/     the pod sandbox: namespaces held by bind mounts, shared /dev/shm
  runtime/     the runtime service (service.py: CRI's RuntimeService shape, no policy) and container launch:
               fork, join namespaces, build the rootfs, exec
  worker/      the pod worker: the kubelet's policy as a pure plan (plan.py, images.py) and its executor
               (executor.py); image pulls in children (puller.py)
  probe/       probes and lifecycle hooks: one module per mechanism (exec, http, tcp, grpc), the kubelet's counting
  supervisor/  the daemon that owns every pod (one PodWorker each), its socket server and protocol
  printers/    kubectl-shaped tables and describe output from v1 Pod dicts (pure)
  cli/         one module per verb; shared helpers in common.py and view.py, no verb imports another
  oci/         pyrunc-oci: runc's command line and the OCI runtime spec on the same launcher (docs/oci.md)
"""

__version__ = "0.1.0"
