"""Remove from generated media everything that could name the model before it is stored or served.

A blind vote is only blind if the file carries no hint of its maker: Stable Diffusion writes its
settings into PNG text chunks, encoders write their name into ID3 / RIFF INFO / MP4 `udta`,
C2PA manifests name the service, 3D exporters fill glTF `asset.generator`.

We cut at the byte level (container chunks and boxes) instead of re-encoding: pixels and samples
stay bit-identical, it is fast, and it needs no codec. Each format keeps an allow-list of what is
needed to decode where the container allows dropping the rest; anything else is dropped.
Malformed input or an unknown mime raises ValueError: a caller must not serve what we could not
clean.
"""
from __future__ import annotations

import json
import struct
from typing import Any, Callable

_PNG_SIG = b"\x89PNG\r\n\x1a\n"


def sniff_mime(data: bytes) -> str | None:
    """The mime type told by the file's magic bytes, or None if it is none we handle."""
    head = data[:16]
    if head.startswith(_PNG_SIG):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    # MPEG audio frame sync (11 bits) with a layer other than 00, which would be ADTS AAC.
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06):
        return "audio/mpeg"
    if head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    if head[:4] == b"glTF":
        return "model/gltf-binary"
    if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{":
        try:
            if "asset" in json.loads(data.decode("utf-8-sig")):
                return "model/gltf+json"
        except (ValueError, TypeError):
            pass
    return None


# --- PNG --------------------------------------------------------------------------------------
# Ancillary chunks needed to show the image as intended (colour, transparency, APNG frames).
# Every other ancillary chunk (tEXt zTXt iTXt eXIf caBX tIME, private ones) may be dropped.
_PNG_KEEP = {b"tRNS", b"cHRM", b"gAMA", b"iCCP", b"sBIT", b"sRGB", b"cICP", b"mDCV", b"mDCv",
             b"cLLI", b"cLLi", b"bKGD", b"hIST", b"pHYs", b"sPLT", b"acTL", b"fcTL", b"fdAT"}


def _strip_png(data: bytes) -> bytes:
    if not data.startswith(_PNG_SIG):
        raise ValueError("not a PNG file")
    out, pos = [_PNG_SIG], 8
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 12 + length
        if end > len(data):
            raise ValueError("truncated PNG chunk")
        critical = not ctype[0] & 0x20  # uppercase first letter: decoders need it
        if critical or ctype in _PNG_KEEP:
            out.append(data[pos:end])
        pos = end
        if ctype == b"IEND":  # bytes after IEND are not part of the image and may hide anything
            return b"".join(out)
    raise ValueError("PNG without IEND")


# --- JPEG -------------------------------------------------------------------------------------
def _strip_jpeg(data: bytes) -> bytes:
    if not data.startswith(b"\xff\xd8"):
        raise ValueError("not a JPEG file")
    out, pos, n = [b"\xff\xd8"], 2, len(data)
    while pos < n:
        if data[pos] != 0xFF:
            raise ValueError("corrupt JPEG marker")
        marker = data[pos + 1] if pos + 1 < n else 0xD9
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:  # EOI: drop any trailer (hidden extra images, vendor blobs)
            out.append(b"\xff\xd9")
            return b"".join(out)
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            out.append(data[pos:pos + 2])
            pos += 2
            continue
        if pos + 4 > n:
            raise ValueError("truncated JPEG segment")
        (seglen,) = struct.unpack(">H", data[pos + 2:pos + 4])
        end = pos + 2 + seglen
        if end > n:
            raise ValueError("truncated JPEG segment")
        payload = data[pos + 4:end]
        # APP0 (JFIF), ICC profile (APP2) and APP14 "Adobe" (colour transform) change how the
        # pixels decode; every other APPn (EXIF, XMP, IPTC, JUMBF/C2PA, MPF) and COM goes.
        keep = not (0xE0 <= marker <= 0xEF or marker == 0xFE) or marker == 0xE0 \
            or (marker == 0xE2 and payload.startswith(b"ICC_PROFILE\0")) \
            or (marker == 0xEE and payload.startswith(b"Adobe"))
        if keep:
            out.append(data[pos:end])
        pos = end
        if marker == 0xDA:  # entropy-coded scan: copy up to the next real marker
            scan_end = pos
            while True:
                scan_end = data.find(b"\xff", scan_end)
                if scan_end < 0 or scan_end + 1 >= n:
                    raise ValueError("JPEG scan without end")
                nxt = data[scan_end + 1]
                if nxt == 0x00 or 0xD0 <= nxt <= 0xD7 or nxt == 0xFF:
                    scan_end += 1 if nxt == 0xFF else 2
                    continue
                break
            out.append(data[pos:scan_end])
            pos = scan_end
    raise ValueError("JPEG without EOI")


# --- RIFF (WebP, WAV) -------------------------------------------------------------------------
def _riff_chunks(data: bytes, form: bytes) -> list[tuple[bytes, bytes]]:
    if data[:4] != b"RIFF" or data[8:12] != form:
        raise ValueError(f"not a RIFF {form.decode()} file")
    chunks, pos, n = [], 12, len(data)
    while pos + 8 <= n:
        fourcc, size = struct.unpack("<4sI", data[pos:pos + 8])
        if pos + 8 + size > n:
            if fourcc != b"data":
                raise ValueError("truncated RIFF chunk")
            size = n - pos - 8  # streamed WAV writers leave 0xFFFFFFFF: the data runs to the end
        chunks.append((fourcc, data[pos + 8:pos + 8 + size]))
        pos += 8 + size + (size & 1)
    return chunks


def _riff_build(form: bytes, chunks: list[tuple[bytes, bytes]]) -> bytes:
    body = b"".join(struct.pack("<4sI", c, len(p)) + p + b"\0" * (len(p) & 1) for c, p in chunks)
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + form + body


def _strip_webp(data: bytes) -> bytes:
    keep = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP"}
    chunks = [(c, p) for c, p in _riff_chunks(data, b"WEBP") if c in keep]
    # VP8X flags announce EXIF (0x08) and XMP (0x04); a reader trusting them would look for
    # chunks that are gone.
    chunks = [(c, bytes([p[0] & ~0x0C]) + p[1:]) if c == b"VP8X" and p else (c, p) for c, p in chunks]
    return _riff_build(b"WEBP", chunks)


def _strip_wav(data: bytes) -> bytes:
    # LIST (INFO: ISFT software, INAM, ICMT...), id3, bext (originator), iXML, _PMX (XMP) go.
    keep = {b"fmt ", b"fact", b"data", b"cue ", b"smpl", b"inst"}
    return _riff_build(b"WAVE", [(c, p) for c, p in _riff_chunks(data, b"WAVE") if c in keep])


# --- MP3 --------------------------------------------------------------------------------------
def _strip_mp3(data: bytes) -> bytes:
    start, end = 0, len(data)
    while data[start:start + 3] == b"ID3" and start + 10 <= end:  # ID3v2 (possibly repeated)
        flags, raw = data[start + 5], data[start + 6:start + 10]
        size = (raw[0] << 21) | (raw[1] << 14) | (raw[2] << 7) | raw[3]  # "syncsafe" integer
        start += 10 + size + (10 if flags & 0x10 else 0)
    while True:  # trailing tags, in any order: ID3v1 (+ enhanced TAG+) and APEv2
        if end - start >= 128 and data[end - 128:end - 125] == b"TAG":
            end -= 128
            if end - start >= 227 and data[end - 227:end - 223] == b"TAG+":
                end -= 227
        elif end - start >= 32 and data[end - 32:end - 24] == b"APETAGEX":
            (size,), (flags,) = struct.unpack("<I", data[end - 20:end - 16]), struct.unpack("<I", data[end - 12:end - 8])
            end -= size + (32 if flags & 0x80000000 else 0)
        else:
            break
    if start >= end:
        raise ValueError("MP3 without audio frames")
    body = data[start:end]
    if not (body[0] == 0xFF and body[1] & 0xE0 == 0xE0):
        raise ValueError("not an MP3 stream (no frame sync after the tags)")
    return body


# --- MP4 / MOV --------------------------------------------------------------------------------
# Boxes that hold only descriptive data: iTunes-style tags (©too "Lavf…", ©nam), XMP, C2PA.
# free/skip are zeroed too: muxers that move moov leave old copies (tags included) in them.
_MP4_DROP = {b"udta", b"meta", b"uuid", b"XMP_", b"free", b"skip"}
_MP4_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf", b"mvex",
                   b"moof", b"traf", b"mfra"}
_VISUAL_ENTRIES = {b"avc1", b"avc3", b"hvc1", b"hev1", b"vp08", b"vp09", b"av01", b"mp4v",
                   b"jpeg", b"apcn", b"apch", b"apcs", b"apco", b"ap4h", b"mjpa", b"mjpb", b"dvh1", b"dvhe"}


def _mp4_boxes(buf: bytearray, start: int, end: int) -> list[tuple[bytes, int, int, int]]:
    """(type, box start, payload start, box end) for the boxes in buf[start:end]."""
    boxes, pos = [], start
    while pos + 8 <= end:
        size, btype = struct.unpack(">I4s", buf[pos:pos + 8])
        header = 8
        if size == 1:
            (size,) = struct.unpack(">Q", buf[pos + 8:pos + 16])
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise ValueError(f"corrupt MP4 box {btype!r} at {pos}")
        boxes.append((bytes(btype), pos, pos + header, pos + size))
        pos += size
    if pos != end:
        raise ValueError("trailing bytes in MP4 box")
    return boxes


def _mp4_scrub(buf: bytearray, start: int, end: int) -> None:
    for btype, bstart, pstart, bend in _mp4_boxes(buf, start, end):
        if btype in _MP4_DROP:
            # Turning the box into a zero-filled `free` box of the same size removes the data
            # while every sample offset (stco/co64, also with moov before mdat) stays valid.
            buf[bstart + 4:bstart + 8] = b"free"
            buf[pstart:bend] = bytes(bend - pstart)
        elif btype in _MP4_CONTAINERS:
            _mp4_scrub(buf, pstart, bend)
        elif btype == b"stsd" and bend - pstart >= 8:
            for etype, _es, epay, eend in _mp4_boxes(buf, pstart + 8, bend):
                # VisualSampleEntry.compressorname (32 bytes) is a free-text encoder label.
                off = epay + 42
                if etype in _VISUAL_ENTRIES and off + 32 <= eend:
                    buf[off:off + 32] = bytes(32)


def _strip_mp4(data: bytes) -> bytes:
    buf = bytearray(data)
    if not any(t in (b"ftyp", b"moov", b"mdat") for t, *_ in _mp4_boxes(buf, 0, len(buf))):
        raise ValueError("not an MP4/MOV file")
    _mp4_scrub(buf, 0, len(buf))
    return bytes(buf)


# --- glTF / GLB -------------------------------------------------------------------------------
_GLTF_ARRAYS = ("accessors", "animations", "buffers", "bufferViews", "cameras", "images",
                "materials", "meshes", "nodes", "samplers", "scenes", "skins", "textures")


def _scrub_extensions(obj: Any) -> None:
    """Drop every `extras` (free-form app data) and XMP extension, recursively."""
    if isinstance(obj, dict):
        obj.pop("extras", None)
        ext = obj.get("extensions")
        if isinstance(ext, dict):
            for k in [k for k in ext if "xmp" in k.lower()]:  # KHR_xmp_json_ld, KHR_xmp
                del ext[k]
            if not ext:
                del obj["extensions"]
        for v in obj.values():
            _scrub_extensions(v)
    elif isinstance(obj, list):
        for v in obj:
            _scrub_extensions(v)


def _scrub_gltf(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict) or not isinstance(doc.get("asset"), dict):
        raise ValueError("not a glTF document (no asset object)")
    asset = doc["asset"]
    doc["asset"] = {k: asset[k] for k in ("version", "minVersion") if k in asset}  # generator, copyright...
    for key in ("extensionsUsed", "extensionsRequired"):
        if isinstance(doc.get(key), list):
            doc[key] = [e for e in doc[key] if "xmp" not in str(e).lower()]
            if not doc[key]:
                del doc[key]
    _scrub_extensions(doc)
    for arr in _GLTF_ARRAYS:  # object names ("hunyuan_mesh") are labels only: indices link objects
        for item in doc.get(arr) or []:
            if isinstance(item, dict):
                item.pop("name", None)
    return doc


def _dump_json(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _strip_gltf(data: bytes) -> bytes:
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"not a glTF JSON file: {e}") from None
    return _dump_json(_scrub_gltf(doc))


def _strip_glb(data: bytes) -> bytes:
    if len(data) < 20 or data[:4] != b"glTF":
        raise ValueError("not a GLB file")
    version, total = struct.unpack("<II", data[4:12])
    if version != 2 or total > len(data):
        raise ValueError("unsupported or truncated GLB")
    chunks, pos = [], 12
    while pos + 8 <= total:
        clen, ctype = struct.unpack("<I4s", data[pos:pos + 8])
        if pos + 8 + clen > total:
            raise ValueError("truncated GLB chunk")
        chunks.append((ctype, data[pos + 8:pos + 8 + clen]))
        pos += 8 + clen
    if not chunks or chunks[0][0] != b"JSON":
        raise ValueError("GLB without a JSON chunk first")
    js = _dump_json(_scrub_gltf(json.loads(chunks[0][1].rstrip(b"\0 ").decode("utf-8"))))
    chunks[0] = (b"JSON", js + b" " * (-len(js) % 4))  # the spec pads JSON with spaces to 4 bytes
    body = b"".join(struct.pack("<I4s", len(p), t) + p for t, p in chunks)
    return b"glTF" + struct.pack("<II", 2, 12 + len(body)) + body


_STRIPPERS: dict[str, Callable[[bytes], bytes]] = {
    "image/png": _strip_png, "image/apng": _strip_png,
    "image/jpeg": _strip_jpeg, "image/jpg": _strip_jpeg, "image/pjpeg": _strip_jpeg,
    "image/webp": _strip_webp,
    "audio/wav": _strip_wav, "audio/x-wav": _strip_wav, "audio/wave": _strip_wav, "audio/vnd.wave": _strip_wav,
    "audio/mpeg": _strip_mp3, "audio/mp3": _strip_mp3,
    "video/mp4": _strip_mp4, "video/quicktime": _strip_mp4, "audio/mp4": _strip_mp4,
    "model/gltf-binary": _strip_glb, "model/gltf+json": _strip_gltf,
}


def strip_metadata(data: bytes, mime: str) -> bytes:
    """A copy of `data` with every metadata block that could name its maker removed.

    Raises ValueError for a mime we do not handle or data that does not parse as that format.
    """
    kind = (mime or "").split(";")[0].strip().lower()
    try:
        strip = _STRIPPERS[kind]
    except KeyError:
        raise ValueError(f"cannot strip metadata from {mime!r}; refusing unknown media") from None
    try:
        return strip(bytes(data))
    # Parsers walking off the end, or hostile nesting (moov in moov in moov..., deep JSON).
    except (struct.error, IndexError, UnicodeDecodeError, RecursionError) as e:
        raise ValueError(f"malformed {kind}: {e}") from None


# --- Duration (audio/video): how long one full play lasts -------------------------------------
def media_duration_s(data: bytes, mime: str) -> float | None:
    """Seconds of a WAV or MP4/MOV clip read from its headers, or None when it cannot be told
    (another format, a damaged file). The vote's listening rule uses it: a clip shorter than the
    minimum is heard in full by one play."""
    try:
        if mime in ("audio/wav", "audio/x-wav", "audio/wave"):
            chunks = dict(_riff_chunks(data, b"WAVE"))
            fmt, pcm = chunks.get(b"fmt "), chunks.get(b"data")
            if fmt is None or pcm is None or len(fmt) < 12:
                return None
            (byte_rate,) = struct.unpack("<I", fmt[8:12])
            return len(pcm) / byte_rate if byte_rate else None
        if mime in ("video/mp4", "video/quicktime", "audio/mp4"):
            buf = bytearray(data)
            for btype, _s, pstart, bend in _mp4_boxes(buf, 0, len(buf)):
                if btype != b"moov":
                    continue
                for mtype, _ms, mpay, _me in _mp4_boxes(buf, pstart, bend):
                    if mtype == b"mvhd":
                        if buf[mpay] == 1:
                            timescale, duration = struct.unpack(">IQ", buf[mpay + 20:mpay + 32])
                        else:
                            timescale, duration = struct.unpack(">II", buf[mpay + 12:mpay + 20])
                        return duration / timescale if timescale else None
    except (ValueError, struct.error, IndexError):
        return None
    return None
