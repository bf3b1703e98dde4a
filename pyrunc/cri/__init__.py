"""`pyrunc cri`: a Container Runtime Interface (k8s.io/cri-api runtime.v1) server over pyrunc's runtime service.

Two halves (docs/cri.md):
    the edge (server.py, execsync.py, the generated api_pb2*.py): a gRPC server in its own process, which
        turns each CRI call into one request to the node's supervisor; grpcio runs threads, the supervisor none.
    the supervisor's side (translate.py, pods.py): CRI sandboxes and containers as pyrunc pods, run by the
        supervisor's RuntimeService with no pod-worker policy (the kubelet owns restarts, probes and hooks).
"""
