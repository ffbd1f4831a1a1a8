"""Write an image as a `docker save` archive for `ctr images import` (no Docker, no registry).

    python3 image.py OUT.tar NAME:TAG [--base BASE.tar] [--add SRC=DEST[:MODE]]...
        [--entrypoint JSON] [--cmd JSON] [--user UID:GID] [--workdir DIR] [--env K=V]...

Without --base the image has one layer holding the --add files (the pause image: one binary).
With --base, the first image of a `docker save` archive is the base: its layers are kept and one
layer with the --add files goes on top (the fake CoinGecko image: the backend image plus the test
kit). Files are owned by root; directories on the way are created 0755.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path


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
    p.add_argument("--base", help="a `docker save` archive whose first image is the base")
    p.add_argument("--add", action="append", default=[], metavar="SRC=DEST[:MODE]")
    p.add_argument("--entrypoint", type=json.loads)
    p.add_argument("--cmd", type=json.loads)
    p.add_argument("--user")
    p.add_argument("--workdir")
    p.add_argument("--env", action="append", default=[])
    args = p.parse_args(argv)
    if ":" not in args.name.rsplit("/", 1)[-1]:
        sys.exit(f"image.py: image name {args.name!r} has no tag: use repository:tag")

    blobs: dict[str, bytes] = {}  # archive path -> content
    if args.base:
        with tarfile.open(args.base) as base:
            manifest = json.load(base.extractfile("manifest.json"))[0]  # type: ignore[arg-type]
            config = json.load(base.extractfile(manifest["Config"]))  # type: ignore[arg-type]
            layers = manifest["Layers"]
            for name in layers:
                blobs[name] = base.extractfile(name).read()  # type: ignore[union-attr]
    else:
        config = {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": []},
        }
        layers = []
    if args.add:
        data = layer(args.add)
        digest = hashlib.sha256(data).hexdigest()
        name = f"{digest}/layer.tar"
        blobs[name] = data
        layers = [*layers, name]
        config["rootfs"]["diff_ids"].append(f"sha256:{digest}")
    cfg = config.setdefault("config", {})
    if args.entrypoint is not None:
        cfg["Entrypoint"] = args.entrypoint
    if args.cmd is not None or args.entrypoint is not None:
        cfg["Cmd"] = args.cmd
    if args.user:
        cfg["User"] = args.user
    if args.workdir:
        cfg["WorkingDir"] = args.workdir
    if args.env:
        cfg["Env"] = [*(cfg.get("Env") or []), *args.env]
    config.pop("history", None)  # the base's history no longer matches the layers
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    manifest_bytes = json.dumps(
        [{"Config": config_name, "RepoTags": [args.name], "Layers": layers}]
    ).encode()

    with tarfile.open(args.out, "w") as out:
        for name, data in [
            *blobs.items(),
            (config_name, config_bytes),
            ("manifest.json", manifest_bytes),
        ]:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 0
            out.addfile(info, io.BytesIO(data))
    print(f"image.py: wrote {args.name} ({len(layers)} layers) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
