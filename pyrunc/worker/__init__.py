"""The pod worker: the kubelet's policy for one pod (plan.py, pure) and its executor (executor.py),
which carries the plan's actions out through the runtime service (pyrunc/runtime/service.py)."""
