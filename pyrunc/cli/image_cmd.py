"""pyrunc image pull|ls|inspect|rm|prune|import: the node's image store (crictl's and podman's image verbs)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, NoReturn

MUTATING = ("pull", "rm", "prune", "import", "gc")


def add_arguments(parser: Any) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    sub.required = True
    p = sub.add_parser("pull", help="Pull an image from its registry")
    p.add_argument("image")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display, print only the image id")
    p.add_argument("--platform", default="", help="os/arch[/variant] (default: this host's)")
    p.add_argument("--result", default="", help=argparse.SUPPRESS)
    # The pod worker's pull child: a 0600 docker config of the pod's imagePullSecrets, tried first.
    p.add_argument("--auth-file", default="", help=argparse.SUPPRESS)
    p = sub.add_parser("ls", aliases=["list"], help="List images")
    p.add_argument("-q", "--quiet", action="store_true", help="only image ids")
    p.add_argument("--digests", action="store_true", help="show repo digests")
    p.add_argument("--no-trunc", action="store_true", help="full image ids")
    p = sub.add_parser("inspect", help="Print an image's details as JSON")
    p.add_argument("images", nargs="+")
    p = sub.add_parser("rm", aliases=["rmi"], help="Remove images (refused while a container uses one)")
    p.add_argument("images", nargs="+")
    p = sub.add_parser("prune", help="Remove unused images")
    p.add_argument("-a", "--all", action="store_true",
                   help="every image no container uses (default: only images without a name)")
    p = sub.add_parser("import", help="Import a docker-archive, OCI archive or layout, or a root filesystem tarball")
    p.add_argument("file", nargs="?", default=None)
    p.add_argument("name", nargs="?", default=None, help="the name to give the image (needed for a plain tarball)")
    p.add_argument("--builtin", action="store_true",
                   help="build the built-in busybox image from this host's busybox-static (offline) and import it")
    p.add_argument("--build-dir", default="", help=argparse.SUPPRESS)
    p.add_argument("-c", "--change", action="append", default=[],
                   help='a Dockerfile instruction for a plain tarball\'s config (CMD ["sh"], ENV A=b, ...)')
    p.add_argument("-q", "--quiet", action="store_true")
    sub.add_parser("gc")  # the supervisor's housekeeping; not listed


def run(cfg: Any, args: Any) -> int:
    from pyrunc.errors import PyruncError

    if args.action in MUTATING and os.geteuid() != 0:
        raise PyruncError(f"pyrunc image {args.action} needs root: the image store is root's",
                          hint=f"sudo pyrunc image {args.action} ...")
    action = {"list": "ls", "rmi": "rm"}.get(args.action, args.action)
    return int(globals()[f"_{action}"](cfg, args) or 0)


def _pull(cfg: Any, args: Any) -> int:
    from pyrunc.errors import PyruncError
    from pyrunc.images.media import Platform
    from pyrunc.images.pull import pull_image, result_of, write_result
    from pyrunc.images.reference import parse_ref

    platform = None
    if args.platform:
        parts = args.platform.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise PyruncError(f'--platform: expected os/arch[/variant], got "{args.platform}"')
        platform = Platform(*parts)
    started = time.monotonic()
    try:
        ref = parse_ref(args.image)
        progress = None
        if not args.quiet and not args.result and sys.stderr.isatty():
            from pyrunc.images.progress import make_progress

            progress = make_progress(False)
        if args.auth_file:
            cfg = cfg._replace(registry_auth_files=(args.auth_file, *cfg.auth_files))
        image = pull_image(cfg, args.image, progress, platform)
    except KeyboardInterrupt:
        _interrupted()
    except PyruncError as e:
        if args.result:  # the pod worker's pull child: the outcome goes to the file, for the worker to word
            write_result(args.result, {"ok": False, "kind": getattr(e, "kind", "invalid"), "message": e.message})
            return 1
        raise
    if args.result:
        write_result(args.result, {**result_of(image), "seconds": time.monotonic() - started})
        return 0
    if args.quiet:
        print(image.id)
    else:
        print(f"Pulled {ref}: {image.id} ({_human(image.size)} in {time.monotonic() - started:.1f}s)")
    return 0


def _ls(cfg: Any, args: Any) -> int:
    from pyrunc.images.reference import parse_ref
    from pyrunc.images.store import ImageStore
    from pyrunc.printers.tabwriter import tabwrite

    images = sorted(ImageStore(cfg.images_dir).images(), key=lambda i: (i.names or ("~",))[0])
    if args.quiet:
        for img in images:
            print(img.id if args.no_trunc else img.id[7:20])
        return 0
    head = ["IMAGE", "TAG"] + (["DIGEST"] if args.digests else []) + ["IMAGE ID", "SIZE"]
    rows = [head]
    for img in images:
        for name in img.names or ("<none>",):
            if name == "<none>":
                repo, tag = "<none>", "<none>"
            else:
                ref = parse_ref(name)
                repo, tag = ref.name, ref.tag or "<none>"
            row = [repo, tag]
            if args.digests:
                row.append(img.target.digest[:19] if not args.no_trunc else img.target.digest)
            row += [img.id if args.no_trunc else img.id[7:20], _human(img.size)]
            rows.append(row)
    sys.stdout.write(tabwrite("".join("\t".join(r) + "\n" for r in rows), minwidth=0, padding=3))
    return 0


def _inspect(cfg: Any, args: Any) -> int:
    from pyrunc.errors import ImageError
    from pyrunc.images.store import ImageStore

    store = ImageStore(cfg.images_dir)
    out = []
    for text in args.images:
        img = store.find(text)
        if img is None:
            raise ImageError(f'image "{text}" not found', hint="pyrunc image ls lists the images of this node")
        c = img.config
        out.append({
            "id": img.id, "repoTags": list(img.names), "repoDigests": list(img.repo_digests()), "size": img.size,
            "created": c.created, "os": c.os, "architecture": c.architecture,
            **({"variant": c.variant} if c.variant else {}),
            "mediaType": img.target.media_type, "digest": img.target.digest, "manifest": img.manifest.digest,
            "config": {k: v for k, v in (c.raw.get("config") or {}).items()},
            "layers": [{"digest": d.digest, "diffID": diff, "size": d.size, "mediaType": d.media_type}
                       for d, diff in zip(img.layers, img.diff_ids)],
            "inUse": len(store.leases().get(img.id, [])),
        })
    print(json.dumps(out if len(out) > 1 else out[0], indent=2))
    return 0


def _rm(cfg: Any, args: Any) -> int:
    from pyrunc.errors import PyruncError
    from pyrunc.images.store import ImageStore

    store = ImageStore(cfg.images_dir)
    failed = 0
    for text in args.images:  # as docker rmi: every name is tried; the status says whether all went
        try:
            untagged, deleted = store.remove(text)
        except PyruncError as e:
            print(f"error: {e.message}", file=sys.stderr)
            if e.hint:
                print(f"hint: {e.hint}", file=sys.stderr)
            failed += 1
            continue
        for n in untagged:
            print(f"Untagged: {n}")
        for d in deleted:
            print(f"Deleted: {d}")
    return 1 if failed else 0


def _prune(cfg: Any, args: Any) -> int:
    from pyrunc.images.store import ImageStore

    result = ImageStore(cfg.images_dir).prune(all_unused=args.all)
    if result.removed:
        print("Deleted Images:")
        for d in result.removed:
            print(f"deleted: {d}")
    print(f"Total reclaimed space: {_human(result.reclaimed)}")
    return 0


def _import(cfg: Any, args: Any) -> int:
    from pyrunc.errors import PyruncError
    from pyrunc.images.pull import import_archive

    if args.builtin:
        if args.file is not None or args.change:
            raise PyruncError("--builtin takes no FILE, NAME or --change: the built-in image is made by its recipe")
        from pyrunc.images import builtin

        args.file = builtin.build_rootfs(args.build_dir or builtin.default_build_dir(cfg))
        args.name, args.change = builtin.NAME, list(builtin.CHANGES)
    elif args.file is None:
        raise PyruncError("image import needs a FILE (or --builtin)")
    progress = None
    if not args.quiet and sys.stderr.isatty():
        from pyrunc.images.progress import make_progress

        progress = make_progress(False)
    try:
        images = import_archive(cfg, args.file, args.name, args.change, progress)
    except KeyboardInterrupt:
        _interrupted()
    for img in images:
        print(img.id if args.quiet else f"Imported {', '.join(img.names) or '<none>'}: {img.id}")
    return 0


def _interrupted() -> NoReturn:
    """Ctrl-C during a pull or an import: leave now, with the exit status of a shell's interrupted
    command. Blobs are fetched and layers unpacked in threads that Python cannot interrupt, and the
    interpreter joins them at exit: without this, Ctrl-C would wait for every transfer in flight
    (a stalled one until the registry timeout) and even unpack what then arrives. Leaving without
    any clean-up is safe: the store is made to survive a SIGKILL at any point (a partial download
    in ingest/ is resumed by the next pull, tmp/ is swept)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)


def _gc(cfg: Any, args: Any) -> int:
    """The kubelet's image garbage collection, once (the supervisor runs it on its housekeeping timer)."""
    from pyrunc.images.store import ImageStore

    result = ImageStore(cfg.images_dir).collect(cfg.image_gc_high_threshold, cfg.image_gc_low_threshold,
                                                cfg.image_minimum_gc_age)
    for d in result.removed:
        print(f"deleted: {d}")
    return 0


def _human(n: float) -> str:
    """Sizes as docker and crictl print them (decimal units)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.3g}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1000
    return f"{n}B"
