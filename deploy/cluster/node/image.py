"""Write an image as a `docker save` archive for `ctr images import` (no Docker, no registry).

    python3 image.py OUT.tar NAME:TAG --add SRC=DEST[:MODE]... [--entrypoint JSON] [--user UID:GID]

The image has one layer holding the --add files (the pause image: one static binary). Files are
owned by root; directories on the way are created 0755.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path
from typing import Any


def layer(adds: list[str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        for spec in adds:
            src, _, dest = spec.partition("=")
            dest, _, mode = dest.partition(":")
            if not src or not dest.startswith("/"):
                sys.exit(f"image.py: --add {spec!r} is not SRC=/ABS/DEST[:MODE]")
            parts = dest.strip("/").split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
                    tar.addfile(info)
            data = Path(src).read_bytes()
            info = tarfile.TarInfo("/".join(parts))
            info.size, info.mtime = len(data), 0
            info.mode = int(mode, 8) if mode else 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("name", help="repository:tag, e.g. crypto-rates.local/pause:3.10")
    p.add_argument("--add", action="append", required=True, metavar="SRC=DEST[:MODE]")
    p.add_argument("--entrypoint", type=json.loads)
    p.add_argument("--user")
    args = p.parse_args(argv)
    if ":" not in args.name.rsplit("/", 1)[-1]:
        sys.exit(f"image.py: image name {args.name!r} has no tag: use repository:tag")

    data = layer(args.add)
    digest = hashlib.sha256(data).hexdigest()
    layers = [f"{digest}/layer.tar"]
    cfg: dict[str, Any] = {"Entrypoint": args.entrypoint} if args.entrypoint else {}
    if args.user:
        cfg["User"] = args.user
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{digest}"]},
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    manifest_bytes = json.dumps(
        [{"Config": config_name, "RepoTags": [args.name], "Layers": layers}]
    ).encode()

    with tarfile.open(args.out, "w") as out:
        for name, blob in [
            (layers[0], data),
            (config_name, config_bytes),
            ("manifest.json", manifest_bytes),
        ]:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(blob), 0
            out.addfile(info, io.BytesIO(blob))
    print(f"image.py: wrote {args.name} to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
