"""2. Client-side cost of one response: from the last byte received to the file on disk.

Payloads (built once, deterministic): a 1 MP photo-like JPEG (gradients + blurred noise + grain,
quality 90) and a 4 MP PNG of RGB noise (incompressible, the worst case ~12.6 MB). Each is
wrapped as the images-route answer `{"created", "data":[{"b64_json", "media_type"}], "usage"}`.

What is timed (medians, in this process, after warm-ups; the path, the floor and the decode in turn):

* **client path** = `OpenRouterClient.generate()` over an `httpx.MockTransport` that returns the
  prebuilt body, then what `cli/run.py::_save` does after it: `metadata.Recipe` +
  `metadata.embed`, `hashlib.sha256`, `atomic_write.write_atomic` (temp file, fsync, link, dir fsync),
  **minus** the transport's cost: the same `httpx.Client.stream()` + `iter_bytes()` + join over
  the same MockTransport, timed alone. Inside generate() this covers `wire.loads`,
  `parse_images_success`, `images.decode_base64_strict` and `images.normalise_image`.
* **steps** (breakdown, each timed alone): those same calls made directly on the body bytes.
* **floor** = `json.loads` + `base64.b64decode` + open/write/close of the decoded bytes (no
  fsync); also shown with fsync of the file and its directory, which write_atomic does.
* **one full decode** = `PIL.Image.open(BytesIO(image)).load()`.

Target: client path ≤ 2 × floor + one full decode.

Memory (the median of five fresh processes): peak RSS (VmHWM, reset via /proc/self/clear_refs; ru_maxrss where that is missing) after − before the client path (generate + save) in a fresh subprocess whose
baseline already holds the body bytes and has run the path once on a tiny image; target ≤ 3 ×
the response body size. The tracemalloc peak of the same path (in this process) is shown too;
it does not see Pillow's pixel buffers, which are allocated outside Python's allocator.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import FAKE_KEY, Row, median, mib, ms, temp_root

BASE_URL = "https://openrouter.ai/api/v1"
GEN_ID = "gen-bench-0000000000"


# --- payloads -------------------------------------------------------------------------------


def photo_jpeg(width: int = 1024, height: int = 1024) -> bytes:
    from PIL import Image, ImageChops, ImageFilter

    rnd = random.Random(8)
    grad = Image.linear_gradient("L").resize((width, height))
    r = grad.rotate(30, resample=Image.BICUBIC, expand=False)
    g = grad.transpose(Image.Transpose.ROTATE_90)
    b = ImageChops.invert(grad)
    blobs = Image.frombytes("L", (width // 16, height // 16), rnd.randbytes(width * height // 256))
    blobs = blobs.resize((width, height), Image.BICUBIC).filter(ImageFilter.GaussianBlur(6))
    grain = Image.frombytes("L", (width, height), rnd.randbytes(width * height))
    channels = []
    for chan in (r, g, b):
        mixed = Image.blend(chan, blobs, 0.5)
        channels.append(Image.blend(mixed, grain, 0.08))
    image = Image.merge("RGB", channels)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def noise_png(width: int = 2048, height: int = 2048) -> bytes:
    from PIL import Image

    rnd = random.Random(4)
    image = Image.frombytes("RGB", (width, height), rnd.randbytes(width * height * 3))
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def response_body(image: bytes, media_type: str) -> bytes:
    return json.dumps(
        {
            "created": 1_760_000_000,
            "data": [
                {"b64_json": base64.b64encode(image).decode("ascii"), "media_type": media_type}
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "cost": 0.03},
        }
    ).encode("utf-8")


# --- the paths ------------------------------------------------------------------------------


def _handler(body: bytes) -> Any:
    import httpx

    headers = {"content-type": "application/json", "x-generation-id": GEN_ID}

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=headers, content=body)

    return handle


def make_client(body: bytes) -> Any:
    import httpx

    from flux_cli.credentials import ApiKey
    from flux_cli.openrouter.client import OpenRouterClient

    return OpenRouterClient(
        BASE_URL, ApiKey(FAKE_KEY, "benchmark"), transport=httpx.MockTransport(_handler(body))
    )


def make_request() -> Any:
    from flux_cli.openrouter.wire import ImageRequest

    return ImageRequest(model="black-forest-labs/flux.2-pro", prompt="a lighthouse", seed=7)


def _recipe(width: int, height: int, fmt: str) -> Any:
    from flux_cli import metadata

    return metadata.Recipe(
        model="black-forest-labs/flux.2-pro",
        seed=7,
        prompt="a lighthouse",
        width=width,
        height=height,
        route="images",
        format=fmt,
        generation_id=GEN_ID,
        cost_usd="0.03",
        estimate_usd="0.03",
        created="2026-01-01T00:00:00Z",
        reference_count=0,
    )


class Counter:
    def __init__(self) -> None:
        self.n = 0

    def name(self, ext: str) -> str:
        self.n += 1
        return f"img-{self.n}.{ext}"


def client_path(client: Any, request: Any, outdir: Path, names: Counter) -> None:
    """generate() then the save steps of cli/run.py::_save (recipe, embed, sha256, write)."""
    from flux_cli import atomic_write, metadata

    result = client.generate(request)
    data = metadata.embed(
        result.data, result.format, _recipe(result.width, result.height, result.format)
    )
    hashlib.sha256(data).hexdigest()
    atomic_write.write_atomic(outdir, names.name(result.format), data)


def transport_only(client: Any) -> None:
    """The transport's share: the same stream + iter_bytes + join over the same MockTransport."""
    with client._http.stream("POST", "images", content=b"{}") as response:
        b"".join(response.iter_bytes())


def steps(body: bytes, outdir: Path, names: Counter) -> dict[str, float]:
    from flux_cli import atomic_write, images, metadata
    from flux_cli.openrouter import wire
    from flux_cli.openrouter.fetch import MAX_IMAGE_BYTES

    times: dict[str, float] = {}
    t0 = time.perf_counter()
    obj = wire.loads(body)
    t1 = time.perf_counter()
    parsed = wire.parse_images_success(obj, {"x-generation-id": GEN_ID})
    t2 = time.perf_counter()
    raw = images.decode_base64_strict(parsed.encoded, max_bytes=MAX_IMAGE_BYTES)
    t3 = time.perf_counter()
    clean, info = images.normalise_image(raw)
    t4 = time.perf_counter()
    data = metadata.embed(clean, info.format, _recipe(info.width, info.height, info.format))
    t5 = time.perf_counter()
    hashlib.sha256(data).hexdigest()
    t6 = time.perf_counter()
    atomic_write.write_atomic(outdir, names.name(info.format), data)
    t7 = time.perf_counter()
    times["wire.loads"] = t1 - t0
    times["parse_images_success"] = t2 - t1
    times["decode_base64_strict"] = t3 - t2
    times["normalise_image"] = t4 - t3
    times["metadata.embed"] = t5 - t4
    times["sha256"] = t6 - t5
    times["write_atomic"] = t7 - t6
    return times


def floor(body: bytes, path: Path, *, fsync: bool = False) -> None:
    data = base64.b64decode(json.loads(body)["data"][0]["b64_json"])
    with path.open("wb") as handle:
        handle.write(data)
        if fsync:
            handle.flush()
            os.fsync(handle.fileno())
    if fsync:
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def full_decode(image: bytes) -> None:
    from PIL import Image

    with Image.open(io.BytesIO(image)) as im:
        im.load()


def _timed(
    fn: Callable[[], object], runs: int, warmup: int, cleanup: Callable[[], None]
) -> list[float]:
    out = []
    for i in range(warmup + runs):
        started = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - started
        cleanup()
        if i >= warmup:
            out.append(elapsed)
    return out


def _timed_in_turn(
    fns: list[Callable[[], object]], runs: int, warmup: int, cleanup: Callable[[], None]
) -> list[list[float]]:
    """Time each of `fns` in turn, run after run; one list of figures per function."""
    out: list[list[float]] = [[] for _ in fns]
    for i in range(warmup + runs):
        for fn, figures in zip(fns, out, strict=True):
            started = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - started
            cleanup()
            if i >= warmup:
                figures.append(elapsed)
    return out


def _clear(directory: Path) -> Callable[[], None]:
    def clear() -> None:
        for child in directory.iterdir():
            child.unlink()

    return clear


# --- memory in a subprocess ---------------------------------------------------------------------


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> int:
    """Reset the peak RSS to the current RSS (Linux: `5` to /proc/self/clear_refs); the baseline.

    ru_maxrss cannot be used alone: Linux carries the parent's value across fork+exec."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return (_status_kib("VmRSS") or 0) * 1024


def _peak() -> int:
    hwm = _status_kib("VmHWM")
    if hwm is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return hwm * 1024


def child(mode: str, body_path: str, outdir: str) -> None:
    """`python -m benchmarks.response MODE BODY OUTDIR`: print the peak-RSS delta as JSON."""
    out = Path(outdir)
    names = Counter()
    tiny = response_body(noise_png(8, 8), "image/png")
    warm = make_client(tiny)
    client_path(warm, make_request(), out, names)  # imports and code paths warm
    warm.close()
    floor(tiny, out / "warm.bin")
    body = Path(body_path).read_bytes()
    client = make_client(body) if mode == "client" else None
    before = _reset_peak()
    if client is not None:
        client_path(client, make_request(), out, names)
    else:
        floor(body, out / "floor.bin")
    after = _peak()
    print(json.dumps({"before": before, "after": after, "delta": after - before}))


def rss_delta(mode: str, body: bytes, tmp: Path) -> int:
    body_path = tmp / "body.json"
    body_path.write_bytes(body)
    outdir = tmp / f"rss-{mode}"
    outdir.mkdir(exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.response", mode, str(body_path), str(outdir)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return int(json.loads(proc.stdout)["delta"])


def tracemalloc_peak(body: bytes, outdir: Path) -> int:
    client = make_client(body)
    request = make_request()
    names = Counter()
    client_path(client, request, outdir, names)  # warm
    _clear(outdir)()
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        client_path(client, request, outdir, names)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        client.close()
        _clear(outdir)()
    return peak - base


# --- the section ------------------------------------------------------------------------------


def measure(label: str, image: bytes, media_type: str, runs: int, warmup: int) -> list[Row]:
    body = response_body(image, media_type)
    rows: list[Row] = []
    with temp_root("response") as tmp_name:
        tmp = Path(tmp_name)
        outdir = tmp / "out"
        outdir.mkdir()
        clear = _clear(outdir)
        client = make_client(body)
        request = make_request()
        names = Counter()
        # The path, the floor and the decode are timed in turn, run after run, so all three meet
        # the allocator and the CPU in the same state: big buffers come from fresh pages or from
        # recycled ones depending on what ran before, which alone moves the 4 MP floor between
        # 35 and 65 ms, and the machine's speed drifts over a run.
        floor_path = outdir / "floor.bin"
        t_path, t_floor, t_decode = _timed_in_turn(
            [
                lambda: client_path(client, request, outdir, names),
                lambda: floor(body, floor_path),
                lambda: full_decode(image),
            ],
            runs,
            warmup,
            clear,
        )
        t_transport = _timed(lambda: transport_only(client), runs, warmup, lambda: None)
        client.close()
        step_runs: list[dict[str, float]] = []
        for i in range(warmup + runs):
            s = steps(body, outdir, names)
            clear()
            if i >= warmup:
                step_runs.append(s)
        t_floor_sync = _timed(lambda: floor(body, floor_path, fsync=True), runs, warmup, clear)
        peak_py = tracemalloc_peak(body, outdir)
        # One fresh process per figure; the median of five, as the allocator's choices vary.
        rss_client = int(statistics.median(rss_delta("client", body, tmp) for _ in range(5)))
        rss_floor = int(statistics.median(rss_delta("floor", body, tmp) for _ in range(5)))

    path_s = median(t_path)
    transport_s = median(t_transport)
    cost = path_s - transport_s
    floor_s = median(t_floor)
    decode_s = median(t_decode)
    limit = 2 * floor_s + decode_s
    step_medians = {k: median([s[k] for s in step_runs]) for k in step_runs[0]}
    size = f"{label}: body {mib(len(body))}, image {mib(len(image))}"
    sec = "response"
    rows.append(
        Row(
            sec,
            f"{label} client path (generate+save − transport)",
            ms(cost),
            f"≤ 2×floor+decode = {ms(limit)}",
            cost <= limit,
            {
                "body_bytes": len(body),
                "image_bytes": len(image),
                "path_s": path_s,
                "transport_s": transport_s,
                "cost_s": cost,
                "limit_s": limit,
                "ratio_to_limit": cost / limit,
            },
        )
    )
    rows.append(Row(sec, f"{label}   transport share (subtracted)", ms(transport_s), size))
    rows.append(
        Row(
            sec,
            f"{label}   floor (loads+b64decode+write)",
            ms(floor_s),
            "",
            None,
            {"floor_s": floor_s},
        )
    )
    rows.append(
        Row(
            sec,
            f"{label}   floor + fsync(file, dir)",
            ms(median(t_floor_sync)),
            "",
            None,
            {"s": median(t_floor_sync)},
        )
    )
    rows.append(
        Row(sec, f"{label}   one full decode (Image.load)", ms(decode_s), "", None, {"s": decode_s})
    )
    breakdown = ", ".join(f"{k} {v * 1000:.1f}" for k, v in step_medians.items())
    rows.append(
        Row(
            sec,
            f"{label}   steps sum (direct calls)",
            ms(sum(step_medians.values())),
            f"ms: {breakdown}",
            None,
            {"steps_s": step_medians},
        )
    )
    rss_limit = 3 * len(body)
    rows.append(
        Row(
            sec,
            f"{label} peak memory (peak RSS Δ, subprocess)",
            f"{mib(rss_client)} = {rss_client / len(body):.2f}× body",
            f"≤ 3× body = {mib(rss_limit)}",
            rss_client <= rss_limit,
            {"rss_delta_bytes": rss_client, "limit_bytes": rss_limit},
        )
    )
    rows.append(
        Row(
            sec,
            f"{label}   floor peak RSS Δ; tracemalloc peak",
            f"{mib(rss_floor)}; {mib(peak_py)}",
            "tracemalloc misses Pillow buffers",
            None,
            {"floor_rss_delta_bytes": rss_floor, "tracemalloc_peak_bytes": peak_py},
        )
    )
    return rows


def run(runs: int = 15, warmup: int = 2) -> list[Row]:
    # A 1 MP path takes milliseconds, where a scheduler hiccup is a large share: more runs.
    return [
        *measure("1 MP JPEG", photo_jpeg(), "image/jpeg", runs * 4, warmup * 2),
        *measure("4 MP PNG", noise_png(), "image/png", runs, warmup),
    ]


if __name__ == "__main__":
    child(*sys.argv[1:4])
