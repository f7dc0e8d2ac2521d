"""Hostile files never crash the backend (issue 14): a fuzzer for the three readers of user files.

    .venv/backend/bin/python bench/fuzz.py [--readers snapshot,dataset,ply] [--inputs 10000] [--seed 0]
        [--out bench/results/fuzz.md] [--time-limit 10] [--memory-limit-mb 1024] [--jobs 1]
        [--seeds-dir DIR] [--records FILE.jsonl]
    .venv/backend/bin/python bench/fuzz.py --reproduce READER INDEX --to DIR [--seed 0] [--run]

About 0.25 s per snapshot input (1 s for one that is accepted: the decoder fills a 128^3 occupancy
grid), milliseconds per dataset or PLY input; the seeds take 20 s to make (``--seeds-dir`` keeps them).

What it measures, per reader, on mutated inputs:

- ``snapshot``: ``snapshot.decode.decode(png)``; a clean rejection is ``protocol.JobError``;
- ``dataset``: ``dataset.load(folder)``, then ``views.load_view`` and ``load_confidence`` for
  every frame (what reconstruct reads before training); a clean rejection is ``JobError``;
- ``ply``: ``ply.read_ply(path)``; a clean rejection is ``ply.PlyError``.

Every input must be accepted or cleanly rejected. Anything else raised is a *crash*, whose site is
the exception type and the innermost traceback frame inside the repository. Over ``--time-limit``
seconds is a *hang*; pushing the worker's peak RSS over ``--memory-limit-mb``, or a MemoryError
(also one a reader caught and re-raised as its clean error), is a *memory* blow-up. A dataset that
is accepted while it names a file in the decoy folder beside it (a dataset of valid files: absolute
and ``../`` paths, and ``source_dataset`` claims, point there) is *read outside*; a regression
case that must be refused (or, for the PLY endianness case, warned about) and is accepted silently
is *accepted garbage*.

Inputs: valid seeds made at run time by the project's own writers (snapshot encoder, synthetic
datasets and ``interpolate``, ``ply.write_ply``), mutated 1-3 deep by structured mutators (JSON
nodes of ``transforms.json`` and of the snapshot header, PNG chunks, the file system, PLY headers)
and byte-level ones. Indices ``0..R-1`` of a reader are its named regression cases (known crashes,
run first every time); later indices are random, and input ``i`` of reader ``r`` under ``--seed S``
is fully determined by ``(r, S, i)``: ``--reproduce r i --to DIR`` writes it again.

Each reader runs in its own worker process (this file with ``--worker``), which makes the seeds
once, then tries inputs in order, each in a fresh temporary folder, and reports one JSON line per
input. A per-input timer catches hangs in Python code; the parent's watchdog kills a worker that
reports nothing for ``time-limit + 30`` s (a hang inside C code) and starts a new one at the next
index. The peak RSS is reset just before each target call (building an input does not count); an
input that pushes it over the memory limit is reported and its worker exits, so that the next one
starts afresh. An address-space cap (``--address-cap-mb`` beyond what a worker maps at start) turns
a runaway allocation into a MemoryError instead of taking the machine down.

Writes a markdown table to ``--out`` and the numbers as ``.json`` beside it; exits 1 when any input
failed. ``--self-test`` checks the harness's own accounting (hang, watchdog, memory, crash sites)
on a fake reader.
"""

from __future__ import annotations

import argparse
import base64
import copy
import datetime
import gc
import hashlib
import io
import json
import os
import random
import resource
import select
import shlex
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
import zlib
from dataclasses import dataclass

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THIS = os.path.abspath(__file__)
VENV = os.path.join(REPO, ".venv")
for _path in (REPO, os.path.join(REPO, "tests")):  # the backend package; tests/synthetic_dataset.py
    if _path not in sys.path:
        sys.path.insert(0, _path)

READERS = ("snapshot", "dataset", "ply")
FAILURES = ("crash", "hang", "memory", "read-outside", "accepted-garbage")
OUTCOMES = ("accepted", "rejected") + FAILURES
EXIT_MEMORY = 3  # a worker that passed the memory limit: the parent starts a fresh one
MB = 1 << 20

# Seed names are fixed (not read from disk) so that an input's spec depends on (reader, seed, index) only.
SEED_NAMES = {
    "snapshot": ("alpha-lsb", "alpha-inn", "env-lsb", "env-inn"),
    "dataset": ("npy", "exr", "png16", "blender", "ingp", "augmented"),
    "ply": ("points", "mesh", "ascii", "big-endian", "mixed"),
}


class NotApplicable(Exception):
    """A mutator that cannot act on this input (e.g. no header left); a byte flip is done instead."""


class Timeout(BaseException):
    """Raised by the per-input timer. A BaseException, so that no reader's ``except Exception``
    can turn a hang into a clean rejection."""


# ----------------------------------------------------------------------------- targets


def target_snapshot(path: str) -> dict:
    from ps4pro_blender.snapshot import decode

    _model, _header, _codes, notes, _seconds = decode.decode(path, None, "cpu")
    return {"degraded": any(str(n).startswith("DEGRADED") for n in notes), "warned": bool(notes)}


def target_dataset(path: str) -> dict:
    from ps4pro_blender import dataset as ds
    from ps4pro_blender import views as V

    data = ds.load(path)
    channel = data.depth.get("exr_channel")  # as reconstruct asks for it
    read = []
    for frame in data.frames:
        V.load_view(frame, channel)
        V.load_confidence(frame)
        read += [frame.image_path, frame.depth_path, (frame.extra or {}).get("confidence_file_path")]
    return {"paths": [p for p in read if isinstance(p, str)], "warned": bool(getattr(data, "warnings", None))}


def target_ply(path: str) -> dict:
    from ps4pro_blender import ply

    data = ply.read_ply(path)
    return {"warned": bool(getattr(data, "warnings", None))}


TARGETS = {"snapshot": target_snapshot, "dataset": target_dataset, "ply": target_ply}

CALLS = {  # what --reproduce prints: the target as a one-line program ({path}: a JSON string)
    "snapshot": "from ps4pro_blender.snapshot.decode import decode; decode({path}, None, \"cpu\")",
    "dataset": ("from ps4pro_blender import dataset as ds, views as V; d = ds.load({path}); "
                "[(V.load_view(f, d.depth.get(\"exr_channel\")), V.load_confidence(f)) for f in d.frames]"),
    "ply": "from ps4pro_blender.ply import read_ply; read_ply({path})",
}


def clean_errors(reader: str) -> tuple:
    if reader == "ply":
        from ps4pro_blender.ply import PlyError

        return (PlyError,)
    if reader == "selftest":
        return (SelfTestReject,)
    from ps4pro_blender.protocol import JobError

    return (JobError,)


# ----------------------------------------------------------------------------- running one input


@dataclass
class Case:
    """A built input: what the target gets and what counts as its failure beyond a crash."""

    target: str
    expect: str | None = None  # None; "reject": accepting it is garbage; "reject_or_warn"; "flag" (DEGRADED wanted)
    decoy: str | None = None  # a folder outside the dataset: accepting a path into it is reading outside
    notes: str = ""


def _on_alarm(signum, frame):
    raise Timeout()


def site_of(exc: BaseException) -> str:
    """``Type at path.py:line``: the innermost frame inside the repository (the harness's own
    frames only when there is no other)."""
    inner = harness = None
    for frame, line in traceback.walk_tb(exc.__traceback__):
        name = frame.f_code.co_filename
        path = os.path.abspath(name)
        if name.startswith("<") or not path.startswith(REPO + os.sep) or path.startswith(VENV + os.sep):
            continue  # "<frozen posixpath>" is the standard library, whatever the working folder
        where = f"{os.path.relpath(path, REPO)}:{line}"
        if path == THIS:
            harness = where
        else:
            inner = where
    return f"{type(exc).__name__} at {inner or harness or 'a frame outside the repository'}"


def _chain(exc):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _inside(path: str, folder: str) -> bool:
    for a, b in ((os.path.normpath(path), os.path.normpath(folder)), (os.path.realpath(path), os.path.realpath(folder))):
        if os.path.commonpath([a, b]) == b:
            return True
    return False


def _warned_by_repo(caught) -> bool:
    """Python warnings issued from the backend's own code (a reader's way to flag an input)."""
    package = os.path.join(REPO, "ps4pro_blender") + os.sep
    return any(os.path.abspath(str(w.filename)).startswith(package) for w in caught)


def classify(case: Case, result: dict | None, exc: BaseException | None, seconds: float, time_limit: float,
             clean: tuple) -> dict:
    rec = {"outcome": "accepted", "site": None, "message": "", "degraded": None, "warned": None}
    if exc is not None:
        rec["message"] = f"{type(exc).__name__}: {exc}"[:200]
    if isinstance(exc, Timeout) or seconds > time_limit:
        rec.update(outcome="hang", site=site_of(exc) if exc is not None else f"finished after {seconds:.1f} s",
                   message=rec["message"] if not isinstance(exc, Timeout) else f"over {time_limit:g} s")
    elif exc is not None and any(isinstance(e, MemoryError) for e in _chain(exc)):
        rec.update(outcome="memory", site=site_of(exc))
    elif isinstance(exc, clean):
        rec["outcome"] = "rejected"
    elif exc is not None:
        rec.update(outcome="crash", site=site_of(exc))
    else:
        rec.update(degraded=result.get("degraded"), warned=result.get("warned"))
        outside = [p for p in result.get("paths") or [] if case.decoy and _inside(p, case.decoy)]
        # Issue 14's rule: a dataset may read the datasets it names as its sources (an augmented
        # dataset's real views stay in its capture). The decoy holds a transforms.json, so naming
        # it as source_dataset makes reading it allowed, not a failure.
        if outside and "source_dataset names the decoy" in case.notes:
            rec["outcome"] = "accepted"
        elif outside:  # the decoy's file names say which path (image, depth, confidence) led there
            rec.update(outcome="read-outside", site=f"read {os.path.basename(outside[0])} outside the dataset",
                       message=outside[0][:200])
        elif case.expect == "reject" or (case.expect == "reject_or_warn" and not result.get("warned")):
            wanted = "refused" if case.expect == "reject" else "refused or warned about"
            rec.update(outcome="accepted-garbage", site=f"accepted: {case.notes}"[:120],
                       message=f"accepted an input that must be {wanted}")
    return rec


def run_case(reader: str, case: Case, time_limit: float) -> dict:
    """Run the target on one input, with a timer, and classify what happened."""
    target, clean = TARGETS[reader], clean_errors(reader)
    result = exc = None
    old = signal.signal(signal.SIGALRM, _on_alarm)
    t0 = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            signal.setitimer(signal.ITIMER_REAL, time_limit)
            try:
                result = target(case.target)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # Timeout too, also when it fires just as the target returns
            exc = e
        finally:
            signal.signal(signal.SIGALRM, old)
    seconds = time.monotonic() - t0
    if result is not None and _warned_by_repo(caught):
        result["warned"] = True
    rec = classify(case, result, exc, seconds, time_limit, clean)
    rec["seconds"] = round(seconds, 3)
    del result, exc  # the decoded field, a traceback's frames: free before measuring memory
    return rec


# ----------------------------------------------------------------------------- memory


def _status_mb(key: str) -> float | None:
    """A size from /proc/self/status (Linux), in MB; None elsewhere."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """This process's peak RSS: Linux's VmHWM where there is one, because ``ru_maxrss`` also keeps
    the peak of the process that started this one (its fork before exec), say a pytest holding torch."""
    hwm = _status_mb("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb() -> float | None:
    return _status_mb("VmRSS")


def reset_peak_rss() -> bool:
    """Reset the peak to the current RSS (Linux: clear_refs 5), so that making the seeds or
    building an input does not count as the reader's memory."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def limit_address_space(extra_mb: int) -> None:
    """Cap the address space at what is mapped now plus ``extra_mb``: a runaway allocation becomes a
    MemoryError instead of swapping the machine to death (torch maps much more than it touches)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = int(((_status_mb("VmSize") or 0.0) + extra_mb) * MB)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


# ----------------------------------------------------------------------------- PNG chunks

PNG_SIG = b"\x89PNG\r\n\x1a\n"
HEADER_KEY = b"ps4pro-snapshot"
TEXT_TYPES = (b"iTXt", b"tEXt", b"zTXt")
BOMB_SIDE = 13000


def png_chunks(data: bytes) -> list[list]:
    """[[type, body], ...] up to IEND; NotApplicable when the bytes are not a chunked PNG any more."""
    if not data.startswith(PNG_SIG):
        raise NotApplicable("not a PNG")
    pos, chunks = len(PNG_SIG), []
    while pos + 8 <= len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        body = data[pos + 8:pos + 8 + n]
        if len(body) != n:
            raise NotApplicable("truncated chunk")
        chunks.append([data[pos + 4:pos + 8], body])
        pos += 12 + n
        if chunks[-1][0] == b"IEND":
            break
    if not chunks:
        raise NotApplicable("no chunks")
    return chunks


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_bytes(chunks) -> bytes:
    return PNG_SIG + b"".join(png_chunk(k, b) for k, b in chunks)


def itxt_body(text, key: bytes = HEADER_KEY, compress: bool = True) -> bytes:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return key + b"\0" + (b"\1\0" if compress else b"\0\0") + b"\0\0" + (zlib.compress(raw) if compress else raw)


def itxt_text(body: bytes) -> str:
    _key, rest = body.split(b"\0", 1)
    flag, rest = rest[0], rest[2:]
    _lang, rest = rest.split(b"\0", 1)
    _translated, text = rest.split(b"\0", 1)
    return (zlib.decompress(text) if flag else text).decode("utf-8")


def find_header(chunks) -> int | None:
    return next((i for i, (k, b) in enumerate(chunks) if k == b"iTXt" and b.split(b"\0", 1)[0] == HEADER_KEY), None)


def text_chunks(chunks) -> list:
    return [[k, b] for k, b in chunks if k in TEXT_TYPES]


def png_with_text(image, texts) -> bytes:
    """A PIL image as PNG bytes, with these text chunks (the snapshot header) right after IHDR."""
    buf = io.BytesIO()
    image.save(buf, "PNG")
    chunks = png_chunks(buf.getvalue())
    return png_bytes(chunks[:1] + texts + chunks[1:])


def raw_png(arr: np.ndarray, color_type: int, texts=()) -> bytes:
    """A PNG written by hand (filter 0 on every row): 16-bit RGB/RGBA/grey, which Pillow cannot write."""
    h, w = arr.shape[:2]
    depth = 16 if arr.dtype == np.uint16 else 8
    rows = np.ascontiguousarray(arr.astype(">u2" if depth == 16 else "u1")).view(np.uint8).reshape(h, -1)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], 1).tobytes()
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0)
    return png_bytes([[b"IHDR", ihdr], *texts, [b"IDAT", zlib.compress(raw)], [b"IEND", b""]])


def open_small(data: bytes):
    """The PIL image of PNG/JPEG bytes the harness itself may decode (never a bomb: it would count
    against the input's own time and memory)."""
    from PIL import Image

    try:
        chunks = png_chunks(data)
        w, h = struct.unpack(">II", chunks[0][1][:8])
        if chunks[0][0] != b"IHDR" or w * h > 4096 * 4096:
            raise NotApplicable("too large to re-encode")
    except struct.error:
        raise NotApplicable("no IHDR") from None
    try:
        im = Image.open(io.BytesIO(data))
        im.load()
        return im
    except Exception as exc:
        raise NotApplicable(f"unreadable: {exc}") from None


def bomb_png(cache: str, texts=()) -> bytes:
    """A ~500 KB PNG of 13000 x 13000 black pixels: a small file that decodes to half a gigabyte."""
    path = os.path.join(cache, f"bomb-{BOMB_SIDE}-rgb.zlib")
    if not os.path.exists(path):
        os.makedirs(cache, exist_ok=True)
        z, row = zlib.compressobj(9), b"\0" * (1 + 3 * BOMB_SIDE)
        idat = b"".join(z.compress(row) for _ in range(BOMB_SIDE)) + z.flush()
        _write_atomic(path, idat)
    with open(path, "rb") as f:
        idat = f.read()
    ihdr = struct.pack(">IIBBBBB", BOMB_SIDE, BOMB_SIDE, 8, 2, 0, 0, 0)
    return png_bytes([[b"IHDR", ihdr], *texts, [b"IDAT", idat], [b"IEND", b""]])


def jpeg_claiming(width: int, height: int) -> bytes:
    """A tiny JPEG whose frame header (SOF0) declares ``width`` x ``height``."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (90, 120, 200)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    i = data.find(b"\xff\xc0")  # marker, length (2), precision (1), height (2), width (2)
    data[i + 5:i + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _write_atomic(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- JSON

DEEP = "\x00ps4pro-fuzz-deep-nest\x00"  # stands for a 5,000-deep list, which json.dumps cannot write
DEEP_DEPTH = 5000
INF = float("inf")
RAGGED = [[1, 0, 0, 0], [0, 1], [0, 0, 1, 0, 7], []]
ZERO4 = [[0.0] * 4 for _ in range(4)]


def dumps(doc) -> str:
    """Compact JSON; NaN and Infinity written as JavaScript does (allow_nan), DEEP expanded."""
    text = json.dumps(doc, separators=(",", ":"), allow_nan=True)
    return text.replace(json.dumps(DEEP), "[" * DEEP_DEPTH + "]" * DEEP_DEPTH)


def json_nodes(doc) -> list[tuple]:
    """(path, value) of every node, root first, in a fixed order."""
    out, stack = [], [((), doc)]
    while stack:
        path, value = stack.pop()
        out.append((path, value))
        if isinstance(value, dict):
            stack.extend((path + (k,), v) for k, v in reversed(list(value.items())))
        elif isinstance(value, list):
            stack.extend((path + (i,), v) for i, v in reversed(list(enumerate(value))))
    return out


def pick_node(rnd: random.Random, nodes: list):
    """Half the time uniformly, half the time by the node's place in the schema (list indices
    ignored), so that a 4 x 4 matrix per frame does not drown the few top-level fields."""
    if rnd.random() < 0.5:
        return rnd.choice(nodes)
    groups: dict = {}
    for node in nodes:
        groups.setdefault(tuple("*" if isinstance(k, int) else k for k in node[0]), []).append(node)
    return rnd.choice(groups[rnd.choice(list(groups))])


def hostile_value(rnd: random.Random, nodes: list):
    pool = [None, True, False, 0, -1, 1, 2**31 - 1, 2**63, -2**63, 1e308, -1e308, INF, -INF, float("nan"), "", "abc",
            "../../etc/passwd", "/etc/passwd", "x" * 10000, [], {}, [1], [[1]], RAGGED, ZERO4, DEEP, "copy"]
    value = rnd.choice(pool)
    if value == "copy":
        return copy.deepcopy(rnd.choice(nodes)[1])
    return copy.deepcopy(value)


def set_at(doc, path: tuple, value):
    if not path:
        return value
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return doc


def mutate_json(doc, rnd: random.Random):
    """One structural edit of a random node: replace it with a hostile value, delete it, add an
    unknown key, duplicate or drop a list entry, or change a number slightly or by a factor."""
    nodes = json_nodes(doc)
    inner = [n for n in nodes if n[0]] or nodes
    op = rnd.choices(("replace", "delete", "add", "dup", "drop", "tweak"), (45, 12, 8, 8, 7, 20))[0]
    dicts = [n for n in nodes if isinstance(n[1], dict)]
    lists = [n for n in nodes if isinstance(n[1], list) and n[1]]
    numbers = [n for n in nodes if isinstance(n[1], (int, float)) and not isinstance(n[1], bool)]
    if op == "delete" and inner[0][0]:
        path, _ = pick_node(rnd, inner)
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        del parent[path[-1]]
        return doc
    if op == "add" and dicts:
        _, obj = pick_node(rnd, dicts)
        key = rnd.choice(("unknown_key", "__proto__", "", "file_path", "frames", "\u202e", "a" * 300))
        obj[key] = hostile_value(rnd, nodes)
        return doc
    if op in ("dup", "drop") and lists:
        _, seq = pick_node(rnd, lists)
        i = rnd.randrange(len(seq))
        if op == "dup":
            seq.insert(rnd.randrange(len(seq) + 1), copy.deepcopy(seq[i]))
        elif rnd.random() < 0.2:
            seq.clear()
        else:
            del seq[i]
        return doc
    if op == "tweak" and numbers:
        path, v = pick_node(rnd, numbers)
        how = rnd.choice(("x0", "x-1", "x1e6", "+0.5"))
        new = {"x0": 0 * v, "x-1": -v, "x1e6": v * 1e6 if abs(v) < 1e300 else INF, "+0.5": v + 0.5}[how]
        return set_at(doc, path, new)
    path, _ = pick_node(rnd, inner)
    return set_at(doc, path, hostile_value(rnd, nodes))


# ----------------------------------------------------------------------------- seeds


class Seeds:
    """The valid seeds of one reader, made once in ``root/<reader>/<name>/`` by the project's own
    writers, each checked through the target; ``manifest.json`` marks them finished."""

    def __init__(self, reader: str, root: str):
        self.reader, self.root = reader, os.path.abspath(root)
        self.dir = os.path.join(self.root, reader)
        self.cache = os.path.join(self.root, "_cache")
        self.manifest: dict = {}

    def ensure(self, time_limit: float = 60.0) -> Seeds:
        path = os.path.join(self.dir, "manifest.json")
        if not os.path.exists(path):
            shutil.rmtree(self.dir, ignore_errors=True)  # a half-made set from a killed worker
            os.makedirs(self.dir)
            targets, problems = MAKERS[self.reader](self.dir) if self.reader in MAKERS else ({}, [])
            problems += self._check(targets, time_limit)
            seeds = {name: {"target": rel, "sha256": _tree_sha(os.path.join(self.dir, name))}
                     for name, rel in targets.items()}
            _write_atomic(path, json.dumps({"seeds": seeds, "problems": problems}, indent=1).encode())
        with open(path) as f:
            self.manifest = json.load(f)
        return self

    @property
    def problems(self) -> list:
        return self.manifest.get("problems", [])

    def available(self) -> list:
        return [n for n in SEED_NAMES.get(self.reader, ()) if n in self.manifest.get("seeds", {})]

    def resolve(self, name: str) -> str:
        """The seed itself, or the first one made when it could not be (say, interpolate failed)."""
        return name if name in self.manifest["seeds"] else self.available()[0]

    def folder(self, name: str) -> str:
        return os.path.join(self.dir, self.resolve(name))

    def target(self, name: str) -> str:
        return self.manifest["seeds"][self.resolve(name)]["target"]

    def files(self, ext: str) -> list:
        """Every seed file with this extension (for splicing)."""
        return sorted(os.path.join(d, f) for d, _, fs in os.walk(self.dir) for f in fs
                      if f.endswith(ext) and not f.endswith("manifest.json"))

    def _check(self, targets: dict, time_limit: float) -> list:
        problems = []
        for name in targets:
            with tempfile.TemporaryDirectory(prefix="fuzz-seed-check-") as folder:
                rec = run_case(self.reader, Work(self.reader, self, folder, name, targets).case(), max(time_limit, 60))
            if rec["outcome"] != "accepted" or rec.get("degraded"):
                problems.append(f"seed {name} is not accepted cleanly: {rec['outcome']}"
                                f"{' (DEGRADED)' if rec.get('degraded') else ''} {rec['message']}")
        return problems


def _tree_sha(folder: str) -> str:
    h = hashlib.sha256()
    for d, _dirs, files in sorted(os.walk(folder)):
        for f in sorted(files):
            path = os.path.join(d, f)
            h.update(os.path.relpath(path, folder).encode())
            with open(path, "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()[:16]


def _cover(path: str) -> str:
    from PIL import Image

    y, x = np.mgrid[0:256, 0:256]
    noise = np.random.default_rng(3).integers(0, 24, (256, 256, 3))
    rgb = np.stack([x, y, (x + y) // 2], -1) + noise
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB").save(path)
    return path


def make_snapshot_seeds(folder: str):
    """Fields of random planes (alpha and env backgrounds), encoded by the real encoder with the
    shipped weights, by both methods; on one thread, so that every process makes the same bytes
    (several threads round the distilled environment differently)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _encode_snapshot_seeds(folder)
    finally:
        torch.set_num_threads(threads)


def _encode_snapshot_seeds(folder: str):
    from ps4pro_blender.field import model as M
    from ps4pro_blender.snapshot import decoder as D
    from ps4pro_blender.snapshot import encode, payload

    weights = D.load()
    work = os.path.join(folder, "_make")
    os.makedirs(work)
    cover = _cover(os.path.join(work, "cover.png"))
    targets, problems = {}, []
    for name in SEED_NAMES["snapshot"]:
        background, method = name.split("-")
        s = 0 if background == "alpha" else 1
        field_path = os.path.join(work, f"{background}.pt")
        if not os.path.exists(field_path):
            planes = np.random.default_rng(s).normal(0, 0.5, payload.SHAPE).astype(np.float32)
            env = np.random.default_rng(s).random((3, 64, 128)).astype(np.float32) if background == "env" else None
            model = D.make_field(planes, [[-1, -1, -1], [1, 1, 1]], weights["decoder"], background, env=env)
            D.refresh_grid(model)
            M.save_atomic(M.checkpoint(model, 0), field_path)
        out = os.path.join(folder, name, "snapshot.png")
        os.makedirs(os.path.dirname(out))
        try:
            encode.encode(field_path, out, cover, method, steps=2, seed=0, device="cpu")
        except Exception as exc:  # the seed is missing; the report says why
            problems.append(f"seed {name}: the encoder failed: {type(exc).__name__}: {exc}")
            shutil.rmtree(os.path.dirname(out))
            continue
        for extra in os.listdir(os.path.dirname(out)):  # encode's cover preview is no input
            if extra != "snapshot.png":
                os.remove(os.path.join(os.path.dirname(out), extra))
        targets[name] = "snapshot.png"
    shutil.rmtree(work)
    return targets, problems


def _rewrite_json(path: str, fn) -> None:
    with open(path) as f:
        meta = json.load(f)
    meta = fn(meta) or meta
    with open(path, "w") as f:
        json.dump(meta, f, indent=1)


def _depth_to(folder: str, ext: str) -> None:
    """Replace the synthetic dataset's .npy depth by EXR (Blender's layer naming) or nerfstudio's
    16-bit millimetre PNG."""
    from PIL import Image

    import OpenEXR

    for name in sorted(os.listdir(os.path.join(folder, "depth"))):
        src = os.path.join(folder, "depth", name)
        depth = np.load(src)
        dst = src[:-4] + ext
        if ext == ".exr":
            header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
            with OpenEXR.File(header, {"ViewLayer.Depth.Z": depth}) as f:
                f.write(dst)
        else:
            mm = np.where(depth < 1e9, np.round(depth * 1000.0), 0)
            Image.fromarray(np.clip(mm, 0, 65535).astype(np.uint16)).save(dst)
        os.remove(src)

    def repoint(meta):
        for frame in meta["frames"]:
            frame["depth_file_path"] = frame["depth_file_path"][:-4] + ext
        meta["ps4pro"]["depth"]["format"] = ext[1:]

    _rewrite_json(os.path.join(folder, "transforms.json"), repoint)


def _nerf_blender(folder: str) -> None:
    """transforms_train/test.json, extensionless file paths, the field of view only, no depth."""
    with open(os.path.join(folder, "transforms.json")) as f:
        meta = json.load(f)
    for split in ("train", "test"):
        frames = [{"file_path": "./" + fr["file_path"][:-4], "rotation": 0.0, "transform_matrix": fr["transform_matrix"]}
                  for fr in meta["frames"] if fr["split"] == split]
        with open(os.path.join(folder, f"transforms_{split}.json"), "w") as f:
            json.dump({"camera_angle_x": meta["camera_angle_x"], "frames": frames}, f, indent=1)
    os.remove(os.path.join(folder, "transforms.json"))
    shutil.rmtree(os.path.join(folder, "depth"))


def _instant_ngp(meta: dict) -> dict:
    """camera_angle_x instead of fl_x, no w/h (taken from the images)."""
    for key in ("fl_x", "fl_y", "cx", "cy", "w", "h"):
        meta.pop(key, None)
    for frame in meta["frames"]:
        frame["file_path"] = "./" + frame["file_path"]
    return meta


def _augmented(folder: str) -> list:
    """A capture and its ``augment --k 1`` augmentation beside it (``../capture`` paths)."""
    import synthetic_dataset

    capture, out = os.path.join(folder, "capture"), os.path.join(folder, "augmented")
    synthetic_dataset.make(capture, 4, "npy")
    cmd = [sys.executable, "-m", "ps4pro_blender", "augment", capture, "--out", out, "--k", "1", "--device", "CPU"]
    try:
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
        failed = proc.returncode != 0 and (proc.stderr[-300:] or proc.stdout[-300:])
    except subprocess.TimeoutExpired:
        failed = "over 300 s"
    if failed:
        return [f"seed augmented: interpolate failed, the seed is skipped: {failed}"]
    for name in os.listdir(out):  # the absolute source path would make inputs depend on where they were made
        if name.endswith(".json"):
            _rewrite_json(os.path.join(out, name), lambda m: m.get("ps4pro", {}).get("augment", {}).update(
                source_dataset="../capture"))
    return []


def make_dataset_seeds(folder: str):
    import synthetic_dataset

    targets, problems = {}, []
    for name in SEED_NAMES["dataset"]:
        path = os.path.join(folder, name)
        if name == "augmented":
            trouble = _augmented(path)
            problems += trouble
            if not trouble:
                targets[name] = "augmented"
            continue
        synthetic_dataset.make(path, 4, {"exr": "exr", "png16": "png"}.get(name, "npy"))
        if name in ("exr", "png16"):
            _depth_to(path, ".exr" if name == "exr" else ".png")
        elif name == "blender":
            _nerf_blender(path)
        elif name == "ingp":
            _rewrite_json(os.path.join(path, "transforms.json"), _instant_ngp)
        targets[name] = "."
    return targets, problems


def _ascii_ply(faces="3 0 1 2\n3 0 2 3\n3 0 3 1\n3 1 3 2\n", header_faces=4) -> bytes:
    verts = "0 0 0 255 0 0\n1 0 0 0 255 0\n0 1 0 0 0 255\n0 0 1 255 255 255\n"
    return (f"ply\nformat ascii 1.0\ncomment PS4PRO fuzz seed\nelement vertex 4\nproperty float x\nproperty float y\n"
            f"property float z\nproperty uchar red\nproperty uchar green\nproperty uchar blue\n"
            f"element face {header_faces}\n"
            f"property list uchar int vertex_indices\nend_header\n{verts}{faces}").encode()


def _big_endian_ply() -> bytes:
    pts = np.array([(0, 0, 0, 255, 0, 0), (1, 0, 0, 0, 255, 0), (0, 1, 0, 0, 0, 255), (0, 0, 1, 9, 9, 9)],
                   dtype=[("x", ">f4"), ("y", ">f4"), ("z", ">f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    faces = np.array([(3, (0, 1, 2)), (3, (0, 2, 3))], dtype=[("n", "u1"), ("v", ">i4", (3,))])
    head = ("ply\nformat binary_big_endian 1.0\nelement vertex 4\nproperty float x\nproperty float y\nproperty float z\n"
            "property uchar red\nproperty uchar green\nproperty uchar blue\nelement face 2\n"
            "property list uchar int vertex_indices\nend_header\n")
    return head.encode() + pts.tobytes() + faces.tobytes()


def make_ply_seeds(folder: str):
    from ps4pro_blender import ply

    rng = np.random.default_rng(7)
    grid = np.stack(np.meshgrid(np.arange(6.0), np.arange(6.0), indexing="ij"), -1).reshape(-1, 2)
    verts = np.concatenate([grid, rng.normal(0, 0.1, (36, 1))], 1).astype(np.float32)
    quads = [(i * 6 + j, i * 6 + j + 1, (i + 1) * 6 + j + 1, (i + 1) * 6 + j) for i in range(5) for j in range(5)]
    tris = np.array([t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))], np.int32)
    colors = rng.integers(0, 256, (36, 3)).astype(np.uint8)
    for name in SEED_NAMES["ply"]:
        os.makedirs(os.path.join(folder, name))
    p = lambda name: os.path.join(folder, name, "input.ply")  # noqa: E731
    ply.write_ply(p("points"), rng.normal(0, 1, (200, 3)), rng.integers(0, 256, (200, 3)).astype(np.uint8),
                  extra={"confidence": rng.random(200)}, comments=["PS4PRO fuzz seed"])
    ply.write_ply(p("mesh"), verts, colors, faces=tris)
    ply.write_ply(p("mixed"), verts, colors, faces=[list(q) for q in quads[:12]] + [list(t) for t in tris[24:]])
    with open(p("ascii"), "wb") as f:
        f.write(_ascii_ply())
    with open(p("big-endian"), "wb") as f:
        f.write(_big_endian_ply())
    return {name: "input.ply" for name in SEED_NAMES["ply"]}, []


MAKERS = {"snapshot": make_snapshot_seeds, "dataset": make_dataset_seeds, "ply": make_ply_seeds}


# ----------------------------------------------------------------------------- one input being built


_VALID_FILES: dict = {}


def valid_files() -> dict:
    """Small valid files of the seed datasets' size (64 x 48): what the decoy folder holds."""
    if not _VALID_FILES:
        from PIL import Image

        def png(arr, mode):
            buf = io.BytesIO()
            Image.fromarray(arr, mode).save(buf, "PNG")
            return buf.getvalue()

        npy = io.BytesIO()
        np.save(npy, np.full((48, 64), 2.0, np.float32))
        # A dataset of its own: a source_dataset naming this folder is then not refused for naming no dataset.
        transforms = {"camera_angle_x": 0.98, "frames": [{"file_path": "image.png", "transform_matrix": np.eye(4).tolist()}]}
        _VALID_FILES.update({"image.png": png(np.full((48, 64, 4), 200, np.uint8), "RGBA"), "depth.npy": npy.getvalue(),
                             "confidence.png": png(np.full((48, 64), 255, np.uint8), "L"),
                             "transforms.json": json.dumps(transforms).encode()})
    return _VALID_FILES


OUTSIDE_FILE = {"file_path": "image.png", "depth_file_path": "depth.npy", "confidence_file_path": "confidence.png"}


class Work:
    """One input under construction in ``folder``: a copy of a seed in ``in/``; for datasets a
    decoy folder ``outside/`` of valid files that no accepted dataset may read."""

    def __init__(self, reader: str, seeds: Seeds, folder: str, seed: str, targets: dict | None = None):
        self.reader, self.seeds, self.dir = reader, seeds, folder
        self.inp = os.path.join(folder, "in")
        if targets is not None:  # checking seeds before the manifest exists
            src, rel = os.path.join(seeds.dir, seed), targets[seed]
        else:
            src, rel = seeds.folder(seed), seeds.target(seed)
        shutil.copytree(src, self.inp, symlinks=True)
        self.target = os.path.normpath(os.path.join(self.inp, rel))
        self.decoy = os.path.join(folder, "outside") if reader == "dataset" else None
        if self.decoy:
            self.write_valid(self.decoy)
        self.garbage = False  # set by a mutator whose result is known garbage (a PLY read with the wrong byte order)
        self.notes: list[str] = []

    def case(self, expect: str | None = None) -> Case:
        return Case(self.target, expect, self.decoy, "; ".join(self.notes))

    @staticmethod
    def write_valid(folder: str) -> None:
        os.makedirs(folder, exist_ok=True)
        for name, data in valid_files().items():
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)

    # Files to mutate. Only regular files: reading a FIFO made by an earlier step would block.
    def regular_files(self, exts=None) -> list:
        out = []
        for d, dirs, files in os.walk(self.inp):
            dirs.sort()
            for f in sorted(files):
                path = os.path.join(d, f)
                if stat.S_ISREG(os.lstat(path).st_mode) and (exts is None or f.lower().endswith(exts)):
                    out.append(path)
        return out

    def json_files(self) -> list:
        folder = self.target if os.path.isdir(self.target) else os.path.dirname(self.target)
        return [p for p in self.regular_files((".json",)) if os.path.dirname(p) == folder]

    def pick_json(self, rnd: random.Random) -> str:
        files = self.json_files()
        if not files:
            raise NotApplicable("no transforms JSON")
        main = [p for p in files if os.path.basename(p) == "transforms.json"]
        return main[0] if main and rnd.random() < 0.7 else rnd.choice(files)

    def pick_file(self, rnd: random.Random, exts=None) -> str:
        """The file a byte- or PNG-level mutator edits: the target itself, or for a dataset its JSON
        (40%) or one of its images, depth maps and confidence maps."""
        if os.path.isfile(self.target):
            if exts is None or self.target.lower().endswith(exts):
                return self.target
            raise NotApplicable(f"the target is not {exts}")
        if exts is None and rnd.random() < 0.4 and self.json_files():
            return self.pick_json(rnd)
        files = [p for p in self.regular_files(exts) if not p.endswith(".json")]
        if not files:
            raise NotApplicable(f"no {exts or 'data'} file left")
        return rnd.choice(files)

    def apply(self, name: str, seed: int) -> None:
        rnd = random.Random(seed)
        try:
            MUTATORS[name].fn(self, rnd)
        except Exception as exc:  # NotApplicable, or a tool (Pillow) refusing what earlier steps left
            self.notes.append(f"{name} n/a ({type(exc).__name__}: {exc}): byte flip instead"[:160])
            try:
                m_bytes_flip(self, rnd)
            except NotApplicable:
                pass


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def read_small(path: str, limit: int = 16 * MB) -> bytes:
    """A file a mutator edits in memory: not one a heavy step made huge on purpose."""
    if os.path.getsize(path) > limit:
        raise NotApplicable(f"{os.path.basename(path)} is too large to edit")
    return read(path)


def write(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


# ----------------------------------------------------------------------------- mutators


@dataclass
class Mutator:
    name: str
    fn: object
    weights: dict  # reader -> relative weight
    heavy: bool = False  # slow or huge on purpose: left out of the CI test's draws
    late: bool = False  # embeds the input's absolute location: applied after the others


MUTATORS: dict[str, Mutator] = {}


def mutator(name, heavy=False, late=False, **weights):
    def register(fn):
        MUTATORS[name] = Mutator(name, fn, weights, heavy, late)
        return fn

    return register


def mutator_names(reader: str, heavy: bool = True) -> list:
    return [m.name for m in MUTATORS.values() if reader in m.weights and (heavy or not m.heavy)]


# Byte level (all readers) ----------------------------------------------------

INTERESTING = (b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff\xff\xff", b"\x80\x00\x00\x00", b"\xff",
               struct.pack("<f", float("nan")), struct.pack(">f", INF), struct.pack("<d", 1e308), b"-1", b"nan",
               b"1e999", b"\n", b"\r\n", b"\x00")


def _bytes_edit(w: Work, rnd: random.Random, fn) -> None:
    path = w.pick_file(rnd)
    data = read_small(path)
    write(path, fn(data, rnd) if data else bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 16))))


@mutator("bytes_flip", snapshot=2, dataset=6, ply=14)
def m_bytes_flip(w, rnd):
    def flip(data, rnd):
        b = bytearray(data)
        for _ in range(rnd.choice((1, 1, 2, 4, 8, 32))):
            b[rnd.randrange(len(b))] ^= 1 << rnd.randrange(8)
        return bytes(b)

    _bytes_edit(w, rnd, flip)


@mutator("bytes_insert", snapshot=1, dataset=2, ply=6)
def m_bytes_insert(w, rnd):
    def insert(data, rnd):
        at = rnd.randrange(len(data) + 1)
        if rnd.random() < 0.5:
            junk = rnd.choice(INTERESTING)
        else:
            junk = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 64)))
        return data[:at] + junk + data[at:]

    _bytes_edit(w, rnd, insert)


@mutator("bytes_delete", snapshot=1, dataset=2, ply=6)
def m_bytes_delete(w, rnd):
    def delete(data, rnd):
        at = rnd.randrange(len(data))
        return data[:at] + data[at + rnd.choice((1, 2, 4, 16, 256)):]

    _bytes_edit(w, rnd, delete)


@mutator("bytes_overwrite", snapshot=1, dataset=3, ply=8)
def m_bytes_overwrite(w, rnd):
    def overwrite(data, rnd):
        junk = rnd.choice(INTERESTING)
        at = rnd.randrange(len(data))
        return data[:at] + junk + data[at + len(junk):]

    _bytes_edit(w, rnd, overwrite)


@mutator("bytes_truncate", snapshot=1, dataset=4, ply=8)
def m_bytes_truncate(w, rnd):
    _bytes_edit(w, rnd, lambda data, rnd: data[:rnd.randrange(len(data))])


@mutator("bytes_splice", snapshot=0.5, dataset=2, ply=5)
def m_bytes_splice(w, rnd):
    """The start of this file and the end of another seed file of the same kind."""
    path = w.pick_file(rnd)
    others = w.seeds.files(os.path.splitext(path)[1]) or [path]
    data, other = read_small(path), read(rnd.choice(others))
    write(path, data[:rnd.randrange(len(data) + 1)] + other[rnd.randrange(len(other) + 1):])


# PNG structure (snapshot PNGs, dataset images) ---------------------------------


def png_mutator(name, **weights):
    """A mutator of PNG bytes, applied to the snapshot or to one of a dataset's PNGs."""
    def register(op):
        def fn(w, rnd):
            path = w.pick_file(rnd, (".png",))
            write(path, op(read(path), rnd, w))

        MUTATORS[name] = Mutator(name, fn, weights, heavy=name == "png_bomb")
        return op

    return register


def _ihdr(chunks) -> bytearray:
    if chunks[0][0] != b"IHDR" or len(chunks[0][1]) < 13:
        raise NotApplicable("no IHDR")
    return bytearray(chunks[0][1])


@png_mutator("png_ihdr_size", snapshot=3, dataset=2)
def m_png_ihdr_size(data, rnd, w):
    chunks = png_chunks(data)
    ihdr = _ihdr(chunks)
    width, height = struct.unpack(">II", ihdr[:8])
    sizes = (0, 1, 13000, 65000, 2**31 - 1, 2**32 - 1, width + 1, width * 2, max(1, width // 2))
    new = [rnd.choice(sizes), rnd.choice(sizes)] if rnd.random() < 0.5 else [width, height]
    new[rnd.randrange(2)] = rnd.choice(sizes)
    ihdr[:8] = struct.pack(">II", *new)
    chunks[0][1] = bytes(ihdr)  # png_bytes writes a correct CRC: the reader sees a well-formed lie
    return png_bytes(chunks)


@png_mutator("png_ihdr_field", snapshot=2, dataset=1)
def m_png_ihdr_field(data, rnd, w):
    chunks = png_chunks(data)
    ihdr = _ihdr(chunks)
    i = rnd.choice((8, 9, 10, 11, 12))  # bit depth, colour type, compression, filter, interlace
    ihdr[i] = rnd.choice({8: (0, 1, 2, 3, 4, 16, 32, 255), 9: (0, 1, 2, 3, 4, 5, 6, 7)}.get(i, (1, 2, 255)))
    chunks[0][1] = bytes(ihdr)
    return png_bytes(chunks)


@png_mutator("png_truncate_idat", snapshot=3, dataset=2)
def m_png_truncate_idat(data, rnd, w):
    chunks = png_chunks(data)
    idat = [c for c in chunks if c[0] == b"IDAT"]
    if not idat:
        raise NotApplicable("no IDAT")
    c = rnd.choice(idat)
    c[1] = c[1][:rnd.randrange(len(c[1]) + 1)]
    return png_bytes(chunks)


@png_mutator("png_drop_chunk", snapshot=2, dataset=1)
def m_png_drop_chunk(data, rnd, w):
    chunks = png_chunks(data)
    del chunks[rnd.randrange(len(chunks))]
    return png_bytes(chunks)


@png_mutator("png_dup_chunk", snapshot=2, dataset=1)
def m_png_dup_chunk(data, rnd, w):
    chunks = png_chunks(data)
    c = rnd.choice(chunks)
    chunks.insert(rnd.randrange(len(chunks) + 1), list(c))
    return png_bytes(chunks)


@png_mutator("png_junk_after_iend", snapshot=2, dataset=1)
def m_png_junk(data, rnd, w):
    kind = rnd.choice(("random", "copy", "chunk"))
    if kind == "random":
        return data + bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 4096)))
    if kind == "copy":
        return data + data
    return data + png_chunk(b"tEXt", b"Comment\0after the end") + png_chunk(b"IEND", b"")


@png_mutator("png_chunk_flip", snapshot=3, dataset=2)
def m_png_chunk_flip(data, rnd, w):
    """Flip bytes inside one chunk and fix its CRC: deeper than a raw flip, which the CRC catches."""
    chunks = png_chunks(data)
    c = rnd.choice([c for c in chunks if c[1]] or chunks)
    if not c[1]:
        raise NotApplicable("empty chunks only")
    body = bytearray(c[1])
    for _ in range(rnd.choice((1, 2, 8))):
        body[rnd.randrange(len(body))] ^= 1 << rnd.randrange(8)
    c[1] = bytes(body)
    return png_bytes(chunks)


@png_mutator("png_length_lie", snapshot=2, dataset=1)
def m_png_length_lie(data, rnd, w):
    """A chunk declaring far more bytes than the file has."""
    chunks = png_chunks(data)
    i = rnd.randrange(len(chunks))
    pos = len(PNG_SIG) + sum(12 + len(b) for _, b in chunks[:i])
    lie = rnd.choice((2**31 - 1, 2**32 - 1, len(data), 1 << 24))
    return data[:pos] + struct.pack(">I", lie) + data[pos + 4:]


@png_mutator("png_to_jpeg", snapshot=1, dataset=1.5)
def m_png_to_jpeg(data, rnd, w):
    im = open_small(data)
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=rnd.choice((20, 90)))
    return buf.getvalue()


@png_mutator("png_to_16bit", snapshot=1, dataset=2)
def m_png_to_16bit(data, rnd, w):
    chunks = png_chunks(data)
    im = open_small(data)
    mode, color_type = rnd.choice((("RGB", 2), ("RGBA", 6), ("L", 0), ("LA", 4)))
    arr = np.asarray(im.convert(mode), np.uint16) * 257
    return raw_png(arr.reshape(arr.shape[0], arr.shape[1], -1), color_type, text_chunks(chunks))


@png_mutator("png_to_palette", snapshot=1, dataset=1.5)
def m_png_to_palette(data, rnd, w):
    chunks = png_chunks(data)
    im = open_small(data).convert("RGB").convert("P", palette=1, colors=rnd.choice((2, 16, 256)))
    return png_with_text(im, text_chunks(chunks))


@png_mutator("png_to_gray", snapshot=1, dataset=1.5)
def m_png_to_gray(data, rnd, w):
    chunks = png_chunks(data)
    return png_with_text(open_small(data).convert(rnd.choice(("L", "LA", "1", "I;16"))), text_chunks(chunks))


@png_mutator("png_bomb", snapshot=0.5, dataset=0.3)
def m_png_bomb(data, rnd, w):
    """The pixels re-encoded as a 13000 x 13000 black image: a small file, a huge decode."""
    try:
        texts = text_chunks(png_chunks(data))
    except NotApplicable:
        texts = []
    return bomb_png(w.seeds.cache, texts)


# Snapshot header (JSON in the iTXt chunk) and container -----------------------


def _header(w: Work):
    chunks = png_chunks(read(w.target))
    i = find_header(chunks)
    if i is None:
        raise NotApplicable("no snapshot header")
    return chunks, i


def _header_doc(chunks, i):
    try:
        return json.loads(itxt_text(chunks[i][1]))
    except (ValueError, RecursionError, zlib.error, IndexError):
        raise NotApplicable("the header is no JSON any more") from None


def edit_header(w: Work, fn) -> None:
    """Apply ``fn`` to the header's JSON (it returns the new document, or raw text) and write it back
    as a correct iTXt chunk, keeping the pixels."""
    chunks, i = _header(w)
    doc = fn(_header_doc(chunks, i))
    chunks[i][1] = itxt_body(doc if isinstance(doc, str) else dumps(doc))
    write(w.target, png_bytes(chunks))


@mutator("header_json", snapshot=38)
def m_header_json(w, rnd):
    edit_header(w, lambda doc: mutate_json(doc, rnd))


@mutator("header_dup", snapshot=4)
def m_header_dup(w, rnd):
    """A second snapshot header, identical or edited, after the first or after the pixels."""
    chunks, i = _header(w)
    second = list(chunks[i])
    if rnd.random() < 0.6:
        second[1] = itxt_body(dumps(mutate_json(_header_doc(chunks, i), rnd)))
    chunks.insert(rnd.choice((i + 1, len(chunks) - 1)), second)
    write(w.target, png_bytes(chunks))


@mutator("header_drop", snapshot=2)
def m_header_drop(w, rnd):
    chunks, i = _header(w)
    del chunks[i]
    write(w.target, png_bytes(chunks))


@mutator("header_raw", snapshot=5)
def m_header_raw(w, rnd):
    """Header text that is no header: not JSON, the wrong JSON, too large, too deep."""
    chunks, i = _header(w)
    text = rnd.choice(("", "null", "[]", "{}", "0", '{"magic":', '"PS4PRO-3D-SNAPSHOT"', "x" * 70000, "[" * 30000,
                       '{"magic":"PS4PRO-3D-SNAPSHOT","version":1}', "[" + itxt_text(chunks[i][1]) + "]",
                       b"\xff\xfe\x00bad utf-8"))
    chunks[i][1] = itxt_body(text)
    write(w.target, png_bytes(chunks))


@mutator("header_chunk", snapshot=4)
def m_header_chunk(w, rnd):
    """The header in another kind of text chunk, or an iTXt chunk that lies about itself."""
    chunks, i = _header(w)
    text = itxt_text(chunks[i][1]).encode("utf-8")
    kind = rnd.choice(("tEXt", "zTXt", "plain", "flag-lie", "bad-zlib", "key", "no-nul"))
    chunks[i] = {
        "tEXt": lambda: [b"tEXt", HEADER_KEY + b"\0" + text],
        "zTXt": lambda: [b"zTXt", HEADER_KEY + b"\0\0" + zlib.compress(text)],
        "plain": lambda: [b"iTXt", itxt_body(text, compress=False)],
        "flag-lie": lambda: [b"iTXt", HEADER_KEY + b"\0\1\0\0\0" + text],
        "bad-zlib": lambda: [b"iTXt", HEADER_KEY + b"\0\1\0\0\0" + zlib.compress(text)[:-9]],
        "key": lambda: [b"iTXt", itxt_body(text, key=rnd.choice((b"PS4PRO-SNAPSHOT", HEADER_KEY + b" ", b"x" * 80)))],
        "no-nul": lambda: [b"iTXt", HEADER_KEY + text],
    }[kind]()
    write(w.target, png_bytes(chunks))


@mutator("header_zip_bomb", snapshot=2)
def m_header_zip_bomb(w, rnd):
    """A compressed header that inflates to tens of megabytes."""
    chunks, i = _header(w)
    size = rnd.choice((2 * MB, 50 * MB))
    chunks[i][1] = HEADER_KEY + b"\0\1\0\0\0" + zlib.compress(rnd.choice((b" ", b"[")) * size, 9)
    write(w.target, png_bytes(chunks))


# Snapshot pixels: the hidden payload ----------------------------------------


def edit_pixels(w: Work, rnd: random.Random, fn) -> None:
    from PIL import Image

    data = read(w.target)
    texts = text_chunks(png_chunks(data))
    arr = np.array(open_small(data).convert("RGB"))
    fn(arr, np.random.default_rng(rnd.getrandbits(64)))
    write(w.target, png_with_text(Image.fromarray(arr, "RGB"), texts))


@mutator("pixels_noise", snapshot=6)
def m_pixels_noise(w, rnd):
    def noise(arr, rng):
        n = int(rng.choice([1, 10, 1000, arr.size]))
        idx = rng.integers(0, arr.size, n)
        flat = arr.reshape(-1)
        flat[idx] = np.clip(flat[idx].astype(np.int16) + rng.integers(-3, 4, n), 0, 255).astype(np.uint8)

    edit_pixels(w, rnd, noise)


@mutator("pixels_patch", snapshot=4)
def m_pixels_patch(w, rnd):
    def patch(arr, rng):
        size = int(rng.choice([1, 10, 64]))
        y, x = rng.integers(0, arr.shape[0] - size + 1), rng.integers(0, arr.shape[1] - size + 1)
        arr[y:y + size, x:x + size] = rng.integers(0, 256, 3)

    edit_pixels(w, rnd, patch)


@mutator("pixels_lsb", snapshot=3)
def m_pixels_lsb(w, rnd):
    def lsb(arr, rng):
        flat = arr.reshape(-1)
        idx = rng.integers(0, flat.size, int(rng.choice([1, 8, 512])))
        flat[idx] ^= 1

    edit_pixels(w, rnd, lsb)


@mutator("pixels_shift", snapshot=2)
def m_pixels_shift(w, rnd):
    edit_pixels(w, rnd, lambda arr, rng: arr.__setitem__(slice(None), np.roll(arr, int(rng.choice([1, -1])), axis=1)))


# Dataset JSON -----------------------------------------------------------------


def _load_json(path: str):
    try:
        return json.loads(read_small(path))
    except (ValueError, RecursionError):
        raise NotApplicable("the JSON does not parse any more") from None


@mutator("json_node", dataset=35)
def m_json_node(w, rnd):
    path = w.pick_json(rnd)
    write(path, dumps(mutate_json(_load_json(path), rnd)).encode())


@mutator("json_text", dataset=5)
def m_json_text(w, rnd):
    """Edits of the text itself: encodings, byte order marks, duplicate keys, nesting no parser survives."""
    path = w.pick_json(rnd)
    text = read_small(path)
    kind = rnd.choice(("bom", "utf16", "trailing", "cut", "bad-utf8", "deep", "dup-key", "huge-number"))
    write(path, {
        "bom": lambda: b"\xef\xbb\xbf" + text,
        "utf16": lambda: text.decode("utf-8", "replace").encode("utf-16"),
        "trailing": lambda: text + b"\n}garbage",
        "cut": lambda: text[:rnd.randrange(len(text) + 1)],
        "bad-utf8": lambda: text.replace(b'"', b'"\xff\xfe', 1),
        "deep": lambda: b"[" * 100000 + b"]" * 100000,
        "dup-key": lambda: text.replace(b"{", b'{"frames": [], "w": "dup",', 1),
        "huge-number": lambda: text.replace(b"60.0", b"1" + b"0" * 5000, 1).replace(b"64", b"1e999", 1),
    }[kind]())


# Dataset file system -----------------------------------------------------------


def _replace(path: str, make) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.remove(path)
    make(path)


def _pick_data(w: Work, rnd: random.Random) -> str:
    files = [p for p in w.regular_files() if not p.endswith(".json")]
    if not files:
        raise NotApplicable("no data file left")
    return rnd.choice(files)


@mutator("fs_fifo", dataset=3)
def m_fs_fifo(w, rnd):
    _replace(_pick_data(w, rnd), os.mkfifo)


@mutator("fs_folder", dataset=2)
def m_fs_folder(w, rnd):
    _replace(_pick_data(w, rnd), os.mkdir)


@mutator("fs_symlink", dataset=2)
def m_fs_symlink(w, rnd):
    """A symlink to a valid file outside the dataset (not the decoy: the project accepts symlinks
    to regular files, so this is not counted as reading outside)."""
    path = _pick_data(w, rnd)
    linked = os.path.join(w.dir, "linked")
    w.write_valid(linked)
    name = {".npy": "depth.npy"}.get(os.path.splitext(path)[1], "image.png")
    _replace(path, lambda p: os.symlink(os.path.relpath(os.path.join(linked, name), os.path.dirname(p)), p))


@mutator("fs_empty", dataset=3)
def m_fs_empty(w, rnd):
    write(_pick_data(w, rnd), b"")


@mutator("fs_delete", dataset=2)
def m_fs_delete(w, rnd):
    os.remove(_pick_data(w, rnd))


@mutator("fs_outside", dataset=6, late=True)
def m_fs_outside(w, rnd):
    """A frame's image, depth or confidence path pointing into the decoy folder, absolute or ../."""
    path = w.pick_json(rnd)
    meta = _load_json(path)
    frames = [f for f in meta.get("frames", []) if isinstance(f, dict)] if isinstance(meta, dict) else []
    if not frames:
        raise NotApplicable("no frame objects")
    key = rnd.choice(tuple(OUTSIDE_FILE))
    rnd.choice(frames)[key] = _outside_path(w, key, path, absolute=rnd.random() < 0.5)
    write(path, dumps(meta).encode())


@mutator("fs_source_dataset", dataset=2, late=True)
def m_fs_source_dataset(w, rnd):
    """``ps4pro.augment.source_dataset`` naming the decoy folder (a dataset), and a frame's path into
    it: an augmented dataset may read its source capture (issue 14's rule), so this must be read or
    refused cleanly, and reading it is no failure."""
    path = w.pick_json(rnd)
    meta = _load_json(path)
    if not isinstance(meta, dict):
        raise NotApplicable("no JSON object")
    source = w.decoy if rnd.random() < 0.5 else os.path.relpath(w.decoy, os.path.dirname(path))
    ps4pro = meta["ps4pro"] if isinstance(meta.get("ps4pro"), dict) else {}
    augment = ps4pro["augment"] if isinstance(ps4pro.get("augment"), dict) else {}
    augment["source_dataset"] = source
    ps4pro["augment"], meta["ps4pro"] = augment, ps4pro
    w.notes.append("source_dataset names the decoy")
    frames = [f for f in meta.get("frames", []) if isinstance(f, dict)] if isinstance(meta.get("frames"), list) else []
    if frames:
        key = rnd.choice(tuple(OUTSIDE_FILE))
        rnd.choice(frames)[key] = _outside_path(w, key, path, absolute=rnd.random() < 0.5)
    write(path, dumps(meta).encode())


def _outside_path(w: Work, key: str, json_path: str, absolute: bool) -> str:
    target = os.path.join(w.decoy, OUTSIDE_FILE[key])
    return target if absolute else os.path.relpath(target, os.path.dirname(json_path))


def npy_with_header(body: bytes, header: str, version=(1, 0)) -> bytes:
    text = header + " " * (-(len(header) + 11) % 64) + "\n"
    size = struct.pack("<H", len(text)) if version[0] == 1 else struct.pack("<I", len(text))
    return b"\x93NUMPY" + bytes(version) + size + text.encode("latin-1")


@mutator("fs_npy_header", dataset=4)
def m_fs_npy_header(w, rnd):
    """An .npy depth whose header claims another shape (huge, empty, extra axes) or dtype."""
    files = w.regular_files((".npy",))
    if not files:
        raise NotApplicable("no .npy")
    path = rnd.choice(files)
    data = read(path)
    try:
        start = 10 + struct.unpack("<H", data[8:10])[0] if data[6] == 1 else 12 + struct.unpack("<I", data[8:12])[0]
    except (IndexError, struct.error):
        raise NotApplicable("no .npy header") from None
    shape = rnd.choice(((100000, 100000), (1 << 31, 1 << 31), (1 << 40,), (48, 64, 1 << 20), (0, 64), (48, 64, 3),
                        (3,), (), (48, 64, 0), (-1, 5), (64, 48)))
    descr = rnd.choice(("<f4", "<f4", "<f4", "<f8", "|u1", "<U8", "|O", "<c16", ">f4", "|V4", "<M8[s]", "bogus"))
    header = "{'descr': %r, 'fortran_order': %s, 'shape': %r, }" % (descr, rnd.random() < 0.2, shape)
    if rnd.random() < 0.1:
        header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + "(" * 3000 + ")" * 3000 + ", }"
    write(path, npy_with_header(b"", header, rnd.choice(((1, 0), (2, 0), (3, 0)))) + data[start:])


def write_huge_transforms(path: str, size: int, meta: dict | None) -> None:
    """A transforms.json of ``size`` bytes: the seed's first frame repeated (cheap to make)."""
    meta = meta if isinstance(meta, dict) and meta.get("frames") else {"camera_angle_x": 0.98, "frames": [
        {"file_path": "images/0000.png", "transform_matrix": np.eye(4).tolist()}]}
    head = dumps({k: v for k, v in meta.items() if k != "frames"})[:-1]
    frame = dumps(meta["frames"][0]).encode()
    block = b",".join([frame] * 1000)
    with open(path, "wb") as f:
        f.write(head.encode() + (b',"frames":[' if head != "{" else b'"frames":[') + frame)
        written = f.tell()
        while written < size:
            f.write(b"," + block)
            written += len(block) + 1
        f.write(b"]}")


@mutator("fs_huge_json", dataset=0.12, heavy=True)
def m_fs_huge_json(w, rnd):
    main = os.path.join(w.target, "transforms.json")
    meta = None
    try:
        meta = _load_json(w.pick_json(rnd))
    except NotApplicable:
        pass
    write_huge_transforms(main, 150 * 1000 * 1000, meta)


# PLY --------------------------------------------------------------------------


def ply_split(data: bytes) -> tuple[list, bytes]:
    """(header lines without end_header, body bytes)."""
    end = data.find(b"end_header")
    if end < 0:
        raise NotApplicable("no end_header")
    nl = data.find(b"\n", end)
    body = data[nl + 1:] if nl >= 0 else b""
    return data[:end].decode("latin-1").replace("\r", "").rstrip("\n").split("\n"), body


def ply_join(lines: list, body: bytes, newline: str = "\n") -> bytes:
    return (newline.join(lines + ["end_header"]) + newline).encode("latin-1", "replace") + body


def _edit_ply_header(w: Work, rnd: random.Random, fn) -> None:
    lines, body = ply_split(read(w.target))
    write(w.target, ply_join(fn(lines, rnd) or lines, body))


def _lines_starting(lines, word):
    idx = [i for i, line in enumerate(lines) if line.split()[:1] == [word]]
    if not idx:
        raise NotApplicable(f"no {word} line")
    return idx


@mutator("ply_count", ply=10)
def m_ply_count(w, rnd):
    def edit(lines, rnd):
        i = rnd.choice(_lines_starting(lines, "element"))
        words = lines[i].split()
        n = int(words[2]) if len(words) > 2 and words[2].isdigit() else 1
        words[2:] = [str(rnd.choice((0, 1, n - 1, n + 1, 2 * n, 2**31 - 1, 2**32 + 1, 2**63, -1, "abc", "1e3", "0x10")))]
        lines[i] = " ".join(words)

    _edit_ply_header(w, rnd, edit)


PLY_TYPES = ("char", "uchar", "short", "ushort", "int", "uint", "float", "double", "int8", "uint8", "int16", "uint16",
             "int32", "uint32", "float32", "float64")


@mutator("ply_type", ply=7)
def m_ply_type(w, rnd):
    def edit(lines, rnd):
        i = rnd.choice(_lines_starting(lines, "property"))
        words = lines[i].split()
        j = rnd.randrange(1, max(2, len(words) - 1))
        words[j] = rnd.choice(PLY_TYPES + ("float128", "int64", "string", "list", ""))
        lines[i] = " ".join(words)

    _edit_ply_header(w, rnd, edit)


@mutator("ply_format", ply=5)
def m_ply_format(w, rnd):
    def edit(lines, rnd):
        i = _lines_starting(lines, "format")[0]
        lines[i] = "format " + rnd.choice(("ascii 1.0", "binary_little_endian 1.0", "binary_big_endian 1.0",
                                           "binary_middle_endian 1.0", "ascii 2.0", "", "ascii"))

    _edit_ply_header(w, rnd, edit)


HEADER_POOL = ("element vertex 3", "element face 2147483647", "property float x", "property list uchar int vertex_indices",
               "property list float int vertex_indices", "property double nx", "property list uint uint vertex_indices",
               "element material 1", "property uchar red", "format ascii 1.0", "comment \x01\x7f junk", "obj_info x",
               "property float", "element", "property list int", "end_header")


@mutator("ply_line", ply=10)
def m_ply_line(w, rnd):
    """Duplicate, drop, swap or insert a header line."""
    def edit(lines, rnd):
        if len(lines) < 3:
            raise NotApplicable("header too short")
        op, i, j = rnd.choice(("dup", "drop", "swap", "insert")), rnd.randrange(1, len(lines)), rnd.randrange(1, len(lines))
        if op == "dup":
            lines.insert(j, lines[i])
        elif op == "drop":
            del lines[i]
        elif op == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines.insert(j, rnd.choice(HEADER_POOL))

    _edit_ply_header(w, rnd, edit)


@mutator("ply_endian", ply=4)
def m_ply_endian(w, rnd):
    """The other byte order in the header, the body unchanged: as a sole mutation of a binary file,
    garbage that must be refused or warned about."""
    def edit(lines, rnd):
        i = _lines_starting(lines, "format")[0]
        swap = {"binary_little_endian": "binary_big_endian", "binary_big_endian": "binary_little_endian"}
        words = lines[i].split()
        if len(words) < 2 or words[1] not in swap:
            raise NotApplicable("not a binary PLY")
        words[1] = swap[words[1]]
        lines[i] = " ".join(words)
        w.garbage = True

    _edit_ply_header(w, rnd, edit)


@mutator("ply_list", ply=5)
def m_ply_list(w, rnd):
    """List properties with other count or item types; a scalar property made a list, or back."""
    def edit(lines, rnd):
        i = rnd.choice(_lines_starting(lines, "property"))
        words = lines[i].split()
        if words[1:2] == ["list"] and len(words) >= 5:
            words[2 + rnd.randrange(2)] = rnd.choice(PLY_TYPES)
            if rnd.random() < 0.3:
                words = ["property", words[3], words[4]]
        elif len(words) >= 3:
            words = ["property", "list", rnd.choice(("uchar", "int", "float")), words[1], words[2]]
        lines[i] = " ".join(words)

    _edit_ply_header(w, rnd, edit)


@mutator("ply_newlines", ply=2)
def m_ply_newlines(w, rnd):
    lines, body = ply_split(read(w.target))
    write(w.target, ply_join(lines, body, rnd.choice(("\r\n", "\r"))))


@mutator("ply_ascii_token", ply=10)
def m_ply_ascii_token(w, rnd):
    """Values of an ASCII body replaced by inf, nan, negatives, huge or non-numbers."""
    lines, body = ply_split(read(w.target))
    if not any(line.split()[:2] == ["format", "ascii"] for line in lines):  # start again from the ASCII seed
        w.notes.append("ply_ascii_token: the input replaced by the ascii seed first")
        lines, body = ply_split(read(os.path.join(w.seeds.folder("ascii"), w.seeds.target("ascii"))))
    rows = [row.split(b" ") for row in body.split(b"\n")]
    cells = [(r, c) for r, row in enumerate(rows) for c in range(len(row)) if row[c]]
    if not cells:
        raise NotApplicable("empty body")
    for _ in range(rnd.choice((1, 1, 3))):
        r, c = rnd.choice(cells)
        rows[r][c] = rnd.choice((b"inf", b"-inf", b"nan", b"-1", b"1e309", b"2147483648", b"99999999999999999999", b"abc",
                                 b"3.5", b"0x10", b"1_000", b"\xff"))
    write(w.target, ply_join(lines, b"\n".join(b" ".join(row) for row in rows)))


# ----------------------------------------------------------------------------- regression cases


@dataclass
class Regression:
    name: str
    seed: str
    build: object  # (Work) -> None
    expect: str = "reject"  # "reject" | "flag" (rejected or accepted with DEGRADED) | "reject_or_warn"


def _header_edit(fn):
    return lambda w: edit_header(w, lambda doc: fn(doc) or doc)


def _nested_header(doc):
    """The header with a field of nested brackets, the whole just under the 64 KB limit."""
    doc["created_by"] = "@"
    base = dumps(doc)
    depth = (64 * 1024 - 64 - len(base.encode())) // 2
    return base.replace('"@"', "[" * depth + "]" * depth)


def _bomb_with_header(w):
    chunks, i = _header(w)
    doc = _header_doc(chunks, i)
    doc["size"] = [BOMB_SIDE, BOMB_SIDE]
    write(w.target, bomb_png(w.seeds.cache, [[b"iTXt", itxt_body(dumps(doc))]]))


def _two_headers(w):
    chunks, i = _header(w)
    doc = _header_doc(chunks, i)
    doc["bounds"] = [[-5, -5, -5], [5, 5, 5]]
    chunks.insert(i + 1, [b"iTXt", itxt_body(dumps(doc))])
    write(w.target, png_bytes(chunks))


def _env_jpeg(doc):
    env = base64.b64encode(jpeg_claiming(65000, 65000)).decode("ascii")
    doc["background"] = {"mode": "env", "shape": [3, 128, 256], "encoding": "jpeg", "env": env}


def _edit_transforms(fn, name="transforms.json"):
    def build(w):
        path = os.path.join(w.target, name)
        meta = _load_json(path)
        write(path, dumps(fn(meta) or meta).encode())

    return build


def _frames(fn):
    return _edit_transforms(lambda meta: [fn(f) for f in meta["frames"]] and None)


def _fifo_image(w):
    _replace(os.path.join(w.target, "images", "0000.png"), os.mkfifo)


def _outside(key, absolute):
    def build(w):
        path = os.path.join(w.target, "transforms.json")
        meta = _load_json(path)
        frames = [f for f in meta["frames"] if key != "confidence_file_path" or f.get("confidence_file_path")]
        frames[0][key] = _outside_path(w, key, path, absolute)
        write(path, dumps(meta).encode())

    return build


def _huge_transforms(w):
    path = os.path.join(w.target, "transforms.json")
    write_huge_transforms(path, 148 * 1000 * 1000, _load_json(path))


def _ply_bytes(data: bytes):
    return lambda w: write(w.target, data)


def _le_ply(header_lines: list, body: bytes) -> bytes:
    return ("\n".join(["ply", "format binary_little_endian 1.0", *header_lines, "end_header"]) + "\n").encode() + body


XYZ = ["property float x", "property float y", "property float z"]
TRI_VERTS = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], "<f4").tobytes()


def _le_body_be_header(w):
    data = read(w.target)
    write(w.target, data.replace(b"format binary_little_endian", b"format binary_big_endian", 1))


REGRESSIONS = {
    "snapshot": [
        Regression("header background is the string 'env'", "env-lsb",
                   _header_edit(lambda d: d.__setitem__("background", "env"))),
        Regression("header layout.shape is 3", "alpha-lsb", _header_edit(lambda d: d["layout"].__setitem__("shape", 3))),
        Regression("header occupancy.res is Infinity", "alpha-lsb",
                   _header_edit(lambda d: d["occupancy"].__setitem__("res", INF))),
        Regression("header of nested brackets just under 64 KB", "alpha-lsb", lambda w: edit_header(w, _nested_header)),
        Regression("environment JPEG declaring 65000 x 65000", "env-lsb", _header_edit(_env_jpeg)),
        Regression("13000 x 13000 PNG (~500 KB) with a valid header", "alpha-lsb", _bomb_with_header),
        Regression("two snapshot headers", "alpha-lsb", _two_headers),
        Regression("header with an unknown key that is Infinity", "alpha-inn",  # found by this fuzzer
                   _header_edit(lambda d: d.__setitem__("__proto__", INF)), "flag"),
        Regression("header bounds edited", "alpha-lsb",
                   _header_edit(lambda d: d.__setitem__("bounds", [[2 * v for v in row] for row in d["bounds"]])), "flag"),
        Regression("header layout.lo edited", "alpha-lsb",
                   _header_edit(lambda d: d["layout"]["lo"][0].__setitem__(0, d["layout"]["lo"][0][0] - 0.5)), "flag"),
        Regression("header layout.hi edited", "alpha-lsb",
                   _header_edit(lambda d: d["layout"]["hi"][1].__setitem__(2, d["layout"]["hi"][1][2] + 0.5)), "flag"),
        Regression("header layout.means edited", "alpha-lsb",
                   _header_edit(lambda d: d["layout"]["means"].__setitem__(0, d["layout"]["means"][0] + 10)), "flag"),
    ],
    "dataset": [
        Regression("w is 'abc'", "npy", _edit_transforms(lambda m: m.__setitem__("w", "abc"))),
        Regression("fl_x is 'abc'", "npy", _edit_transforms(lambda m: m.__setitem__("fl_x", "abc"))),
        Regression("a frame's file_path is 5", "npy",
                   _edit_transforms(lambda m: m["frames"][0].__setitem__("file_path", 5))),
        Regression("frames is [1]", "npy", _edit_transforms(lambda m: m.__setitem__("frames", [1]))),
        Regression("ragged transform_matrix", "npy", _edit_transforms(
            lambda m: m["frames"][0].__setitem__("transform_matrix", copy.deepcopy(RAGGED)))),
        Regression("camera_angle_x is 0 (no fl_x)", "ingp", _edit_transforms(lambda m: m.__setitem__("camera_angle_x", 0))),
        Regression("all-zero transform matrices", "npy", _frames(lambda f: f.__setitem__("transform_matrix", ZERO4))),
        Regression("an image is a FIFO", "npy", _fifo_image),
        Regression("148 MB transforms.json", "npy", _huge_transforms),
        Regression("file_path absolute, outside", "npy", _outside("file_path", True)),
        Regression("file_path ../, outside", "npy", _outside("file_path", False)),
        Regression("depth_file_path absolute, outside", "npy", _outside("depth_file_path", True)),
        Regression("depth_file_path ../, outside", "npy", _outside("depth_file_path", False)),
        Regression("confidence_file_path absolute, outside", "augmented", _outside("confidence_file_path", True)),
        Regression("confidence_file_path ../, outside", "augmented", _outside("confidence_file_path", False)),
    ],
    "ply": [
        Regression("binary face list count 2**31-1", "mesh", _ply_bytes(_le_ply(
            ["element vertex 3", *XYZ, "element face 1", "property list int int vertex_indices"],
            TRI_VERTS + struct.pack("<i", 2**31 - 1) + struct.pack("<3i", 0, 1, 2)))),
        Regression("binary face element count 2**31-1", "mesh", _ply_bytes(_le_ply(
            ["element vertex 3", *XYZ, "element face 2147483647", "property list uchar int vertex_indices"],
            TRI_VERTS + b"\x03" + struct.pack("<3i", 0, 1, 2)))),
        Regression("ASCII faces with inf", "ascii", _ply_bytes(_ascii_ply("3 0 1 2\n4 0 1 2 inf\n", 2))),
        Regression("ASCII faces with nan", "ascii", _ply_bytes(_ascii_ply("3 0 1 nan\n4 0 1 2 3\n", 2))),
        Regression("duplicate property names", "mesh", _ply_bytes(_le_ply(
            ["element vertex 3", *XYZ, "property float x"], np.zeros((3, 4), "<f4").tobytes()))),
        Regression("a second vertex element", "mesh", _ply_bytes(_le_ply(
            ["element vertex 3", *XYZ, "element vertex 2", *XYZ], TRI_VERTS + np.ones((2, 3), "<f4").tobytes()))),
        Regression("little-endian body under a big-endian header", "points", _le_body_be_header, "reject_or_warn"),
    ],
}


def regression_ok(rec: dict, expect: str) -> bool:
    """Whether a regression case's record is the final behaviour the issue asks for."""
    if rec["outcome"] == "rejected":
        return True
    return rec["outcome"] == "accepted" and (expect == "flag" and bool(rec.get("degraded"))
                                             or expect == "reject_or_warn" and bool(rec.get("warned")))


# ----------------------------------------------------------------------------- inputs by index


@dataclass(frozen=True)
class Spec:
    """What input ``index`` is: a named regression case, or a seed and 1-3 (mutator, rng seed) steps."""

    reader: str
    seed: str | None = None
    steps: tuple = ()
    regression: str | None = None

    def label(self) -> str:
        if self.regression:
            return f"regression: {self.regression}"
        return f"{self.seed}: " + " + ".join(name for name, _ in self.steps)


def regressions(reader: str) -> list:
    return SELFTEST_CASES if reader == "selftest" else REGRESSIONS[reader]


def spec_for(reader: str, seed: int, index: int) -> Spec:
    regs = regressions(reader)
    if index < len(regs):
        return Spec(reader, regression=regs[index].name)
    if reader == "selftest":
        return Spec(reader, regression="accept")
    rnd = random.Random(f"{reader}:{seed}:{index}")
    names = mutator_names(reader)
    weights = [MUTATORS[n].weights[reader] for n in names]
    depth = rnd.choice((1, 1, 1, 2, 2, 3))
    steps = tuple((rnd.choices(names, weights)[0], rnd.getrandbits(32)) for _ in range(depth))
    return Spec(reader, rnd.choice(SEED_NAMES[reader]), steps)


def build(spec: Spec, seeds: Seeds, folder: str) -> Case:
    """Write the input into ``folder``; the Case says how to judge it."""
    if spec.reader == "selftest":
        return Case(spec.regression)
    if spec.regression:
        reg = next(r for r in REGRESSIONS[spec.reader] if r.name == spec.regression)
        w = Work(spec.reader, seeds, folder, reg.seed)
        reg.build(w)
        w.notes.append(reg.name)
        return w.case(reg.expect)
    w = Work(spec.reader, seeds, folder, spec.seed)
    # Stable sort: paths into the work folder, then huge files, come last (no later step re-reads them).
    steps = sorted(spec.steps, key=lambda s: (MUTATORS[s[0]].late, MUTATORS[s[0]].heavy))
    for name, s in steps:
        w.apply(name, s)
    if w.garbage and len(steps) == 1:
        w.notes.append("read with the wrong byte order")
        return w.case("reject_or_warn")
    return w.case()


def try_spec(spec: Spec, seeds: Seeds, time_limit: float, work_root: str | None = None, before_run=None) -> dict:
    """Build one input in a fresh temporary folder, run it, delete the folder. ``before_run`` is
    called between building and running (the worker's heartbeat and memory reset)."""
    folder = tempfile.mkdtemp(prefix=f"{spec.reader}-", dir=work_root)
    try:
        case = build(spec, seeds, folder)
        if before_run:
            before_run()
        rec = run_case(spec.reader, case, time_limit)
        if case.notes:
            rec["notes"] = case.notes[:300]
    except Exception as exc:  # the harness's own bug: reported, never counted as the reader's
        rec = {"outcome": "harness-error", "site": site_of(exc), "message": f"{type(exc).__name__}: {exc}"[:200]}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    rec["input"] = spec.label()
    return rec


# ----------------------------------------------------------------------------- worker


def _protocol_stream():
    """A private copy of stdout for the JSON lines; fd 1 then goes to stderr, so that a library
    printing to stdout cannot corrupt them."""
    stream = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    return stream


def preload(reader: str) -> None:
    """Import the target's modules (torch maps much address space: before the cap is measured)."""
    modules = {"snapshot": ["ps4pro_blender.snapshot.decode"], "ply": ["ps4pro_blender.ply"],
               "dataset": ["ps4pro_blender.dataset", "ps4pro_blender.reconstruct"]}.get(reader, [])
    for name in modules:
        __import__(name)


def worker_main(args) -> int:
    out = _protocol_stream()
    reader = args.worker
    seeds = Seeds(reader, args.seeds_dir).ensure(args.time_limit)
    preload(reader)
    limit_address_space(args.address_cap_mb)  # after the seeds: the cap is for the inputs
    gc.freeze()  # torch's many objects: out of every later collection, which would otherwise take 60 ms
    reset_peak_rss()
    out.write(json.dumps({"ready": True, "problems": seeds.problems, "rss_mb": round(peak_rss_mb(), 1),
                          "seeds": {k: v["sha256"] for k, v in seeds.manifest.get("seeds", {}).items()}}) + "\n")
    for index in range(args.start, args.stop):
        def before_run(index=index):
            # The parent's watchdog tells a stuck target from a stuck build by this line; the peak
            # is reset so that building the input (which may read a 150 MB file) does not count.
            out.write(json.dumps({"start": index}) + "\n")
            gc.collect()
            reset_peak_rss()

        rec = try_spec(spec_for(reader, args.seed, index), seeds, args.time_limit, args.work_dir, before_run)
        rss = peak_rss_mb()
        rec.update(index=index, rss_mb=round(rss, 1))
        over = rss > args.memory_limit_mb
        if over:
            site = f"peak RSS over {args.memory_limit_mb:g} MB" + (f" (then {rec['site']})" if rec.get("site") else "")
            rec.update(outcome="memory", site=site,
                       message=f"peak RSS {rss:.0f} MB; {rec.get('message') or ''}"[:200])
        out.write(json.dumps(rec) + "\n")
        if over:  # a fresh worker, with a fresh peak, continues at the next index
            out.flush()
            os._exit(EXIT_MEMORY)
    out.flush()
    return 0


# ----------------------------------------------------------------------------- parent


@dataclass
class Options:
    seed: int = 0
    time_limit: float = 10.0
    memory_limit_mb: float = 1024.0
    address_cap_mb: int = 4096
    slack: float = 30.0  # the watchdog: a worker silent for time_limit + slack is stuck
    startup_timeout: float = 900.0  # making the seeds (interpolate, the snapshot encoder)
    progress: bool = True


class Lines:
    """JSON lines from a worker's pipe, with a timeout per line."""

    TIMEOUT, EOF = "timeout", "eof"

    def __init__(self, fd: int):
        self.fd, self.buf = fd, b""

    def next(self, timeout: float):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                return self.TIMEOUT
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                return self.EOF
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            return self.next(max(0.0, deadline - time.monotonic()))


def _spawn(reader, opts, start, stop, seeds_root, work_root, log_path):
    cmd = [sys.executable, THIS, "--worker", reader, "--seed", str(opts.seed), "--start", str(start), "--stop", str(stop),
           "--seeds-dir", seeds_root, "--work-dir", work_root, "--time-limit", str(opts.time_limit),
           "--memory-limit-mb", str(opts.memory_limit_mb), "--address-cap-mb", str(opts.address_cap_mb)]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    env.pop("PS4PRO_ALLOW_OUTSIDE_FILES", None)  # the dataset reader's opt-out: the fuzzer measures its default
    with open(log_path, "ab") as log:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, cwd=REPO, env=env)


def _tail(path: str, n: int = 400) -> str:
    try:
        with open(path, "rb") as f:
            return f.read()[-n:].decode("utf-8", "replace").strip().replace("\n", " | ")
    except OSError:
        return ""


def _died(index: int, rc: int, log: str) -> dict:
    if rc == -signal.SIGKILL:  # what the kernel's OOM killer sends
        return {"index": index, "outcome": "memory", "site": "worker killed by SIGKILL (out of memory?)", "message": ""}
    how = f"signal {signal.Signals(-rc).name}" if rc < 0 else f"exit status {rc}"
    return {"index": index, "outcome": "crash", "site": f"worker died ({how})", "message": _tail(log)[-200:]}


def run_reader(reader: str, opts: Options, start: int, stop: int, seeds_root: str, work_root: str) -> dict:
    """Inputs start..stop-1 of one reader through workers, restarting them after a hang, a memory
    blow-up or a death; every index gets exactly one record."""
    records, problems, seed_sha, peaks = [], [], {}, []
    index, workers, t0, last = start, 0, time.monotonic(), time.monotonic()
    os.makedirs(work_root, exist_ok=True)
    while index < stop:
        workers += 1
        log = os.path.join(work_root, f"{reader}-worker-{workers}.log")
        proc = _spawn(reader, opts, index, stop, seeds_root, work_root, log)
        lines, ready, started = Lines(proc.stdout.fileno()), False, None
        peaks.append(0.0)
        while True:
            msg = lines.next(opts.time_limit + opts.slack if ready else opts.startup_timeout)
            if msg == Lines.TIMEOUT:
                proc.kill()
                proc.wait()
                if not ready:
                    raise RuntimeError(f"the {reader} worker did not start: {_tail(log)}")
                silent = f"no report for {opts.time_limit + opts.slack:g} s"
                records.append({"index": index, "input": spec_for(reader, opts.seed, index).label(), **(
                    {"outcome": "hang", "site": f"watchdog: {silent}", "message": "killed by the watchdog"}
                    if started == index else
                    {"outcome": "harness-error", "site": "building the input took too long", "message": silent})})
                index += 1
                break
            if msg == Lines.EOF:
                rc = proc.wait()
                if not ready:
                    raise RuntimeError(f"the {reader} worker failed to start (exit {rc}): {_tail(log)}")
                if index < stop and rc != EXIT_MEMORY:
                    records.append(dict(_died(index, rc, log), input=spec_for(reader, opts.seed, index).label()))
                    index += 1
                break
            if msg.get("ready"):
                ready, problems, seed_sha = True, msg["problems"], msg["seeds"]
                continue
            if "start" in msg:
                started = msg["start"]
                continue
            records.append(msg)
            index = msg["index"] + 1
            peaks[-1] = max(peaks[-1], msg.get("rss_mb") or 0.0)
            if opts.progress and (len(records) % 100 == 0 or time.monotonic() - last > 60):
                last = time.monotonic()
                bad = sum(r["outcome"] in FAILURES for r in records)
                print(f"[fuzz] {reader}: {len(records)}/{stop - start} inputs, {bad} failures, "
                      f"{last - t0:.0f} s", file=sys.stderr, flush=True)
        proc.stdout.close()
    return {"records": records, "seed_problems": problems, "seeds_sha256": seed_sha, "workers": workers,
            "worker_peaks_mb": peaks, "peak_rss_mb": max(peaks, default=0.0), "seconds": round(time.monotonic() - t0, 1)}


def summarize(reader: str, run: dict) -> dict:
    recs = run["records"]
    counts = {o: sum(r["outcome"] == o for r in recs) for o in OUTCOMES + ("harness-error",)}
    sites: dict = {}
    for r in recs:
        if r["outcome"] in FAILURES or r["outcome"] == "harness-error":
            key = (r["outcome"], r.get("site") or r.get("input", "?"))
            entry = sites.setdefault(key, {"outcome": key[0], "site": key[1], "count": 0, "index": r["index"],
                                           "input": r.get("input"), "message": r.get("message", "")})
            entry["count"] += 1
    n_reg = len(regressions(reader))
    regs = [dict(r, expect=regressions(reader)[r["index"]].expect) for r in recs if r["index"] < n_reg]
    return {"inputs": len(recs), "counts": counts, "crash_sites": sum(k[0] == "crash" for k in sites),
            "peak_rss_mb": round(run["peak_rss_mb"], 1), "seconds": run["seconds"], "workers": run["workers"],
            "worker_peaks_mb": run["worker_peaks_mb"],
            "sites": sorted(sites.values(), key=lambda s: (FAILURES.index(s["outcome"]) if s["outcome"] in FAILURES else 9,
                                                            -s["count"])),
            "regressions": regs, "seed_problems": run["seed_problems"], "seeds_sha256": run["seeds_sha256"]}


# ----------------------------------------------------------------------------- report

COLUMNS = ("reader", "inputs tried", "accepted", "clean rejections", "crashes", "hangs", "memory blow-ups",
           "read outside / accepted garbage", "distinct crash sites", "peak RSS (MB)", "seconds")


def _python() -> str:
    exe = sys.executable
    return os.path.relpath(exe, REPO) if exe.startswith(REPO + os.sep) else exe


def reproduce_command(reader: str, index: int, seed: int) -> str:
    return f"{_python()} bench/fuzz.py --reproduce {reader} {index} --seed {seed} --to /tmp/fuzz-{reader}-{index}"


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").replace("`", "'")


def render_markdown(summary: dict) -> str:
    out = ["# Fuzzing the backend's readers of user files (issue 14)", "",
           f"Command: `{summary['command']}`  ", f"Date: {summary['date']}  ",
           f"Seed {summary['seed']}; {summary['inputs']} random inputs per reader after its named regression cases; "
           f"time limit {summary['time_limit']:g} s per input; memory limit {summary['memory_limit_mb']:g} MB peak RSS "
           f"(address space capped at {summary['address_cap_mb']} MB beyond a worker's start).", "",
           "| " + " | ".join(COLUMNS) + " |", "|" + "---|" + "---:|" * (len(COLUMNS) - 1)]
    for reader, s in summary["readers"].items():
        c = s["counts"]
        out.append(f"| {reader} | {s['inputs']} | {c['accepted']} | {c['rejected']} | {c['crash']} | {c['hang']} | "
                   f"{c['memory']} | {c['read-outside']} / {c['accepted-garbage']} | {s['crash_sites']} | "
                   f"{s['peak_rss_mb']:.0f} | {s['seconds']:.0f} |")
    out += [""] + [f"{reader}: {s['workers']} worker(s), peak RSS of each (MB): "
                   + ", ".join(f"{p:.0f}" for p in s["worker_peaks_mb"]) + "  " for reader, s in summary["readers"].items()]
    out += ["", "## Failures by site", ""]
    for reader, s in summary["readers"].items():
        out += [f"### {reader}", ""]
        if not s["sites"]:
            out += ["No failures.", ""]
        for site in s["sites"]:
            out.append(f"- **{site['outcome']}** `{_cell(site['site'])}`: {site['count']} input(s); e.g. #{site['index']} "
                       f"({_cell(site['input'])}): {_cell(site['message'])}  ")
            out.append(f"  `{reproduce_command(reader, site['index'], summary['seed'])}`")
        if s["counts"].get("harness-error"):
            out.append(f"- {s['counts']['harness-error']} input(s) hit an error in the harness itself (listed above)")
        out.append("")
    out += ["## Regression cases", "", "Expected: rejected; `flag` cases may instead be accepted with a DEGRADED warning, "
            "the PLY byte-order case accepted with a warning.", "",
            "| reader | # | case | expected | outcome | DEGRADED | seconds | site |", "|---|---:|---|---|---|---|---:|---|"]
    for reader, s in summary["readers"].items():
        for r in s["regressions"]:
            degraded = "" if r.get("degraded") is None else ("yes" if r["degraded"] else "no")
            out.append(f"| {reader} | {r['index']} | {_cell(r.get('input', '')[12:])} | {r['expect']} | {r['outcome']} | "
                       f"{degraded} | {r.get('seconds', '')} | {_cell(r.get('site') or '')} |")
    problems = [(reader, p) for reader, s in summary["readers"].items() for p in s["seed_problems"]]
    out += ["", "## Seeds", ""]
    out += [f"- {reader}: {p}" for reader, p in problems] or ["Every seed was accepted cleanly before fuzzing."]
    return "\n".join(out) + "\n"


def write_report(path: str, summary: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(render_markdown(summary))
    with open(os.path.splitext(path)[0] + ".json", "w") as f:
        json.dump(summary, f, indent=1)


def any_failure(summary: dict) -> bool:
    return any(s["counts"][o] for s in summary["readers"].values() for o in FAILURES + ("harness-error",))


# ----------------------------------------------------------------------------- reproduce and self-test


def reproduce(reader: str, index: int, seed: int, to: str, seeds_dir: str | None, run: bool, time_limit: float) -> int:
    if os.path.exists(to) and os.listdir(to):
        print(f"{to} is not empty", file=sys.stderr)
        return 2
    os.makedirs(to, exist_ok=True)
    tmp = None if seeds_dir else tempfile.mkdtemp(prefix="ps4pro-fuzz-seeds-")
    try:
        seeds = Seeds(reader, seeds_dir or tmp).ensure(time_limit)
        spec = spec_for(reader, seed, index)
        case = build(spec, seeds, os.path.abspath(to))
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"input #{index} of {reader} under seed {seed}: {spec.label()}")
    if case.expect:
        print(f"expected: {case.expect} ({case.notes})")
    if case.decoy:
        print(f"decoy folder (an accepted dataset must not read it): {case.decoy}")
    call = CALLS[reader].format(path=json.dumps(case.target))
    print(f"call: cd {shlex.quote(REPO)} && {_python()} -c {shlex.quote(call)}")
    if run:
        print(json.dumps(run_case(reader, case, time_limit)))
    return 0


class SelfTestReject(Exception):
    pass


def _selftest_target(name: str) -> dict:
    """A deliberately bad reader: one behaviour per input."""
    if name == "reject":
        raise SelfTestReject("clean")
    if name == "crash":
        return {}["missing"]
    if name == "hang":
        time.sleep(3600)
    if name == "stuck":  # the timer's signal blocked: only the parent's watchdog ends this
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(3600)
    if name == "memory":
        block = np.ones(600 * MB // 8)  # touched: RSS over the self-test's 400 MB limit
        del block
    if name == "memory-error":
        bytearray(1 << 46)
    if name == "die":
        os.kill(os.getpid(), signal.SIGSEGV)
    return {}


TARGETS["selftest"] = _selftest_target
SELFTEST_CASES = [Regression(name, "", None, expect) for name, expect in (
    ("accept", "accepted"), ("reject", "rejected"), ("crash", "crash"), ("hang", "hang"), ("stuck", "hang"),
    ("memory", "memory"), ("accept", "accepted"), ("memory-error", "memory"), ("die", "crash"), ("accept", "accepted"))]


def self_test() -> list[str]:
    """The harness's accounting on the fake reader: returns what went wrong (empty when all is right)."""
    # A generous watchdog: on a loaded machine the fake memory input alone can take seconds.
    opts = Options(time_limit=1.0, memory_limit_mb=400, slack=20.0, progress=False)
    with tempfile.TemporaryDirectory(prefix="ps4pro-fuzz-selftest-") as tmp:
        run = run_reader("selftest", opts, 0, len(SELFTEST_CASES), os.path.join(tmp, "seeds"), os.path.join(tmp, "work"))
    problems = []
    records = run["records"]
    if [r["index"] for r in records] != list(range(len(SELFTEST_CASES))):
        problems.append(f"indices {[r['index'] for r in records]}")
    for r, case in zip(records, SELFTEST_CASES):
        if r["outcome"] != case.expect:
            problems.append(f"#{r['index']} {case.name}: {r['outcome']} instead of {case.expect} ({r.get('site')})")
    crash = next((r for r in records if r.get("input") == "regression: crash"), {})
    if not str(crash.get("site", "")).startswith("KeyError at bench/fuzz.py:"):
        problems.append(f"crash site {crash.get('site')!r}")
    if not any("watchdog" in str(r.get("site")) for r in records):
        problems.append("the watchdog never fired")
    if run["workers"] != 4:  # the first, then after the watchdog, the memory exit and the death
        problems.append(f"{run['workers']} workers instead of 4")
    if not 400 < max(r.get("rss_mb", 0) for r in records) < 2000:
        problems.append(f"peak RSS {max(r.get('rss_mb', 0) for r in records)} MB")
    return problems


# ----------------------------------------------------------------------------- command line


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--readers", default=",".join(READERS), help="comma-separated: snapshot,dataset,ply")
    p.add_argument("--inputs", type=int, default=10000, help="random inputs per reader, after its regression cases")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=os.path.join(REPO, "bench", "results", "fuzz.md"))
    p.add_argument("--time-limit", type=float, default=10.0, help="seconds per input")
    p.add_argument("--memory-limit-mb", type=float, default=1024.0, help="peak RSS of a worker")
    p.add_argument("--address-cap-mb", type=int, default=4096, help="address space a worker may add (safety cap)")
    p.add_argument("--jobs", type=int, default=1, help="readers fuzzed at once")
    p.add_argument("--seeds-dir", help="keep (and reuse) the seeds here instead of a temporary folder")
    p.add_argument("--records", help="also write every input's record here (JSON lines)")
    p.add_argument("--reproduce", nargs=2, metavar=("READER", "INDEX"), help="write one input into --to")
    p.add_argument("--to", help="folder for --reproduce")
    p.add_argument("--run", action="store_true", help="with --reproduce: also run and classify it")
    p.add_argument("--self-test", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--start", type=int, help=argparse.SUPPRESS)
    p.add_argument("--stop", type=int, help=argparse.SUPPRESS)
    p.add_argument("--work-dir", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def fuzz(args, argv) -> int:
    readers = [r for r in args.readers.split(",") if r]
    unknown = set(readers) - set(READERS)
    if unknown:
        print(f"unknown readers: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    opts = Options(args.seed, args.time_limit, args.memory_limit_mb, args.address_cap_mb)
    tmp = tempfile.mkdtemp(prefix="ps4pro-fuzz-")
    seeds_root = os.path.abspath(args.seeds_dir) if args.seeds_dir else os.path.join(tmp, "seeds")
    summary = {"command": " ".join(shlex.quote(a) for a in [_python(), "bench/fuzz.py", *argv]),
               "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "seed": args.seed,
               "inputs": args.inputs, "time_limit": args.time_limit, "memory_limit_mb": args.memory_limit_mb,
               "address_cap_mb": args.address_cap_mb, "readers": {}}
    try:
        from concurrent.futures import ThreadPoolExecutor

        def one(reader):
            stop = len(REGRESSIONS[reader]) + args.inputs
            return reader, run_reader(reader, opts, 0, stop, seeds_root, os.path.join(tmp, "work", reader))

        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            for reader, run in pool.map(one, readers):
                summary["readers"][reader] = summarize(reader, run)
                if args.records:
                    with open(args.records, "a") as f:
                        f.writelines(json.dumps(dict(r, reader=reader)) + "\n" for r in run["records"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write_report(args.out, summary)
    print(render_markdown(summary).split("\n## Failures")[0], file=sys.stderr)
    print(f"wrote {args.out}", file=sys.stderr)
    return 1 if any_failure(summary) else 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.worker:
        return worker_main(args)
    if args.self_test:
        problems = self_test()
        print("\n".join(problems) or "self-test passed", file=sys.stderr)
        return 1 if problems else 0
    if args.reproduce:
        if not args.to:
            print("--reproduce needs --to DIR", file=sys.stderr)
            return 2
        reader, index = args.reproduce[0], int(args.reproduce[1])
        return reproduce(reader, index, args.seed, args.to, args.seeds_dir, args.run, args.time_limit)
    return fuzz(args, argv)


if __name__ == "__main__":
    sys.exit(main())
