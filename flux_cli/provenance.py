"""C2PA content credentials: whether an image carries them, and what they say.

Finding them is a walk over the file's structure (docs/image-metadata.md): a C2PA manifest store
is embedded as JUMBF in JPEG APP11 segments, in a PNG `caBX` chunk, or in a WebP `C2PA` chunk.
Any byte added to such a file breaks the manifest's data hash, which is why flux2 never changes a
file that carries one (see `flux_cli.metadata.for_saving`).

Reading what they say (signer, claim generator, digital source type, validation) uses the
Content Authenticity Initiative's `c2pa-python`, an optional extra (`flux2-cli[c2pa]`) imported
only here, only by `read_credentials`. It is told not to fetch anything: no remote manifests,
no OCSP.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

from flux_cli.containers import APP11, ContainerError, jpeg_segments, png_chunks, webp_chunks
from flux_cli.images import MEDIA_TYPES

__all__ = ["HOW_TO_CHECK", "Credentials", "find_credentials", "read_credentials"]

HOW_TO_CHECK = (
    "install flux2-cli[c2pa] (pip install 'flux2-cli[c2pa]') for flux2 inspect to check them, "
    "or use c2patool or https://contentcredentials.org/verify"
)
_WHERE = {"png": "PNG caBX chunk", "jpeg": "JPEG APP11 JUMBF", "webp": "WebP C2PA chunk"}
# Settings for c2pa-python: verify what is in the file, fetch nothing.
_OFFLINE = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
# Not a failure of the file: flux2 configures no trust list, so every signer is "untrusted".
_UNTRUSTED = "signingCredential.untrusted"
_MAX_TEXT = 256


def find_credentials(data: bytes, fmt: str) -> str | None:
    """Where `data` (a whole image of format `fmt`) carries a C2PA manifest, e.g.
    "JPEG APP11 JUMBF"; None when it carries none or its structure cannot be walked."""
    try:
        if fmt == "png":
            found = any(chunk.kind == b"caBX" for chunk in png_chunks(data)[0])
        elif fmt == "jpeg":
            found = any(
                segment.marker == APP11 and _is_c2pa_jumbf(segment.payload(data))
                for segment in jpeg_segments(data)
            )
        elif fmt == "webp":
            found = any(chunk.kind == b"C2PA" for chunk in webp_chunks(data)[0])
        else:
            return None
    except ContainerError:
        return None
    return _WHERE[fmt] if found else None


def _is_c2pa_jumbf(payload: bytes) -> bool:
    # JPEG XT box: common identifier "JP", instance (2 bytes), sequence number (4 bytes), then
    # a JUMBF superbox ("jumb") whose description box is labelled "c2pa".
    head = payload[:64]
    return head.startswith(b"JP") and b"jumb" in head and b"c2pa" in head


@dataclass(frozen=True)
class Credentials:
    """What `flux2 inspect` says about content credentials. `checked` is False when c2pa-python
    is not installed (then only `present` and `where` are known)."""

    present: bool
    where: str | None = None
    checked: bool = False
    valid: bool | None = None
    state: str | None = None  # c2pa-python's validation state: Valid, Invalid or Trusted
    signer: str | None = None
    claim_generator: str | None = None
    digital_source_type: str | None = None
    problems: tuple[str, ...] = field(default=())
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "present": self.present,
            "where": self.where,
            "checked": self.checked,
            "valid": self.valid,
            "state": self.state,
            "signer": self.signer,
            "claim_generator": self.claim_generator,
            "digital_source_type": self.digital_source_type,
            "problems": list(self.problems),
            "note": self.note,
        }


def read_credentials(data: bytes, fmt: str) -> Credentials:
    """Whether `data` carries content credentials and, with c2pa-python, what they say and
    whether they validate. Never raises for a hostile file: a manifest that cannot be read is
    reported as not valid, with the reason."""
    where = find_credentials(data, fmt)
    if where is None:
        return Credentials(present=False)
    try:
        import c2pa  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        return Credentials(present=True, where=where, note=HOW_TO_CHECK)
    try:
        context = c2pa.Context.from_dict(_OFFLINE)
        with c2pa.Reader(MEDIA_TYPES[fmt], io.BytesIO(data), context=context) as reader:
            store = json.loads(reader.json())
    except Exception as exc:  # c2pa.C2paError, or anything the native library raises
        reason = _short(str(exc)) or type(exc).__name__
        return Credentials(
            present=True,
            where=where,
            checked=True,
            valid=False,
            problems=(reason,),
            note="the manifest cannot be read",
        )
    return _summary(store, where)


def _summary(store: object, where: str) -> Credentials:
    store = store if isinstance(store, dict) else {}
    manifests = store.get("manifests")
    active = store.get("active_manifest")
    manifest = manifests.get(active) if isinstance(manifests, dict) else None
    manifest = manifest if isinstance(manifest, dict) else {}
    state = store.get("validation_state")
    results = store.get("validation_results")
    failures = []
    if isinstance(results, dict) and isinstance(results.get("activeManifest"), dict):
        for item in results["activeManifest"].get("failure") or []:
            if isinstance(item, dict) and isinstance(item.get("code"), str):
                failures.append(item["code"])
    problems = tuple(_short(code) for code in failures if code != _UNTRUSTED)
    return Credentials(
        present=True,
        where=where,
        checked=True,
        valid=state in ("Valid", "Trusted") and not problems,
        state=_short(state) if isinstance(state, str) else None,
        signer=_signer(manifest),
        claim_generator=_claim_generator(manifest),
        digital_source_type=_source_type(manifest),
        problems=problems,
        note=None if state == "Trusted" else "the signer is not checked against a trust list",
    )


def _short(value: object) -> str:
    return str(value)[:_MAX_TEXT]


def _signer(manifest: dict[str, Any]) -> str | None:
    info = manifest.get("signature_info")
    if not isinstance(info, dict):
        return None
    parts = [info.get("common_name"), info.get("issuer")]
    names = [_short(p) for p in parts if isinstance(p, str) and p]
    if len(names) == 2 and names[0] != names[1]:
        return f"{names[0]} ({names[1]})"
    return names[0] if names else None


def _claim_generator(manifest: dict[str, Any]) -> str | None:
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], dict):
        name, version = info[0].get("name"), info[0].get("version")
        if isinstance(name, str) and name:
            return _short(f"{name} {version}" if isinstance(version, str) and version else name)
    generator = manifest.get("claim_generator")
    return _short(generator) if isinstance(generator, str) and generator else None


def _source_type(manifest: dict[str, Any]) -> str | None:
    for assertion in manifest.get("assertions") or []:
        if not isinstance(assertion, dict):
            continue
        label = assertion.get("label")
        data = assertion.get("data")
        if not (isinstance(label, str) and label.startswith("c2pa.actions")):
            continue
        if not isinstance(data, dict):
            continue
        for action in data.get("actions") or []:
            if isinstance(action, dict) and isinstance(action.get("digitalSourceType"), str):
                return _short(action["digitalSourceType"])
    return None
