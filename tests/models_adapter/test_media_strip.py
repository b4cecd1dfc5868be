"""strip_metadata removes planted model names from every media kind while the file still decodes."""
from __future__ import annotations

import io
import json
import struct
import wave
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms, PngImagePlugin

from models_adapter.media import sniff_mime, strip_metadata

NAME = b"ModelName"  # planted in every metadata block; must not survive


def gradient(mode: str = "RGB", size: tuple[int, int] = (24, 16)) -> Image.Image:
    im = Image.new(mode, size)
    im.putdata([((x * 10) % 256, (y * 15) % 256, (x * y) % 256)[:len(mode)] for y in range(size[1]) for x in range(size[0])])
    return im


def pixels(data: bytes) -> tuple[tuple[int, int], bytes]:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im.size, im.tobytes()


def exif_block() -> bytes:
    exif = Image.Exif()
    exif[0x0131] = "ModelName v1.5 (Software)"  # Software
    exif[0x013B] = "ModelName Artist"  # Artist
    return exif.tobytes()


XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description CreatorTool="ModelName-XL"/></x:xmpmeta>'


# --- PNG --------------------------------------------------------------------------------------
def png_chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def test_png_text_exif_c2pa_time_removed_pixels_kept():
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat\nSteps: 20, Sampler: Euler, Model: sd_xl_base ModelName")
    info.add_text("Software", "ModelName UI", zip=True)  # zTXt
    info.add_itxt("Comment", "made by ModelName", lang="en")
    buf = io.BytesIO()
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    gradient().save(buf, format="PNG", pnginfo=info, exif=exif_block(), icc_profile=icc)
    raw = buf.getvalue()
    # Put a C2PA manifest store and a timestamp right after IHDR, as signing tools do.
    ihdr_end = 8 + 25
    raw = raw[:ihdr_end] + png_chunk(b"caBX", b"jumb c2pa ModelName manifest") + \
        png_chunk(b"tIME", b"\x07\xea\x0b\x17\x00\x00\x00") + raw[ihdr_end:] + b"trailing ModelName"
    assert raw.count(NAME) >= 6
    clean = strip_metadata(raw, "image/png")
    assert NAME not in clean and b"sd_xl_base" not in clean
    for ctype in (b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"caBX", b"tIME"):
        assert ctype not in clean
    assert pixels(clean) == pixels(raw)
    opened = Image.open(io.BytesIO(clean))
    assert "parameters" not in opened.info and opened.info.get("icc_profile") == icc  # colour kept
    assert clean.endswith(png_chunk(b"IEND", b""))


# --- JPEG -------------------------------------------------------------------------------------
def jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


@pytest.mark.parametrize("progressive", [False, True])
def test_jpeg_exif_xmp_iptc_jumbf_comment_removed(progressive):
    buf = io.BytesIO()
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    gradient().save(buf, format="JPEG", exif=exif_block(), comment=b"ModelName comment",
                    icc_profile=icc, progressive=progressive, quality=90)
    raw = buf.getvalue()
    planted = (jpeg_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0" + XMP)
               + jpeg_segment(0xED, b"Photoshop 3.0\08BIM\x04\x04ModelName IPTC")
               + jpeg_segment(0xEB, b"JP\x00\x01jumb c2pa ModelName"))
    raw = raw[:2] + planted + raw[2:] + b"ModelName trailer"
    assert raw.count(NAME) >= 6
    clean = strip_metadata(raw, "image/jpeg")
    assert NAME not in clean
    assert pixels(clean) == pixels(raw)  # entropy-coded data copied unchanged
    opened = Image.open(io.BytesIO(clean))
    assert not opened.getexif() and "comment" not in opened.info
    assert opened.info.get("icc_profile") == icc


# --- WebP -------------------------------------------------------------------------------------
def test_webp_exif_xmp_removed_and_header_fixed():
    buf = io.BytesIO()
    gradient().save(buf, format="WEBP", lossless=True, exif=exif_block(), xmp=XMP)
    raw = buf.getvalue()
    assert NAME in raw and raw[12:16] == b"VP8X" and raw[20] & 0x0C
    clean = strip_metadata(raw, "image/webp")
    assert NAME not in clean and b"EXIF" not in clean and b"XMP " not in clean
    assert struct.unpack("<I", clean[4:8])[0] == len(clean) - 8
    assert clean[20] & 0x0C == 0  # VP8X no longer announces EXIF / XMP
    assert pixels(clean) == pixels(raw)


# --- WAV --------------------------------------------------------------------------------------
def riff_chunk(fourcc: bytes, payload: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)


def test_wav_list_info_and_id3_removed():
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(range(256)) * 4)
    base = buf.getvalue()
    info = b"INFO" + riff_chunk(b"ISFT", b"ModelName Audio v2\0") + riff_chunk(b"INAM", b"track by ModelName\0")
    body = base[12:] + riff_chunk(b"LIST", info) + riff_chunk(b"id3 ", b"ID3\x03\0\0\0\0\0\x10TSSE ModelName")
    raw = b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body
    clean = strip_metadata(raw, "audio/wav")
    assert NAME not in clean and b"LIST" not in clean
    assert struct.unpack("<I", clean[4:8])[0] == len(clean) - 8
    with wave.open(io.BytesIO(clean)) as w:
        assert (w.getnchannels(), w.getframerate(), w.readframes(10_000)) == (1, 8000, bytes(range(256)) * 4)


# --- MP3 --------------------------------------------------------------------------------------
def id3v2_frame(fid: bytes, text: str) -> bytes:
    data = b"\x03" + text.encode()  # encoding byte 3 = UTF-8
    return fid + struct.pack(">I", len(data)) + b"\0\0" + data


def test_mp3_id3v2_apev2_id3v1_removed():
    frames = id3v2_frame(b"TIT2", "Song by ModelName") + id3v2_frame(b"TSSE", "ModelName encoder")
    size = len(frames)
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    id3v2 = b"ID3\x03\x00\x00" + syncsafe + frames
    # Two MPEG-1 Layer III frames, 128 kbit/s, 44.1 kHz: 417 bytes each.
    audio = (b"\xff\xfb\x90\x00" + bytes(range(256)) + bytes(157)) * 2
    ape_items = struct.pack("<II", 9, 0) + b"Encoder\0ModelName"
    # APEv2 with header and footer (flag bit 31): the size field excludes the header.
    ape_hdr = b"APETAGEX" + struct.pack("<IIII", 2000, len(ape_items) + 32, 1, 0xA0000000) + bytes(8)
    ape = ape_hdr + ape_items + b"APETAGEX" + struct.pack("<IIII", 2000, len(ape_items) + 32, 1, 0x80000000) + bytes(8)
    id3v1 = b"TAG" + b"ModelName title".ljust(30, b"\0") + bytes(95)
    raw = id3v2 + audio + ape + id3v1
    assert sniff_mime(raw) == "audio/mpeg" and len(id3v1) == 128
    clean = strip_metadata(raw, "audio/mpeg")
    assert clean == audio  # exactly the audio frames, nothing else


# --- MP4 --------------------------------------------------------------------------------------
def box(btype: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">I", 8 + len(payload)) + btype + payload


def full_box(btype: bytes, payload: bytes) -> bytes:
    return box(btype, b"\0\0\0\0" + payload)


def build_mp4(samples: bytes) -> bytes:
    ftyp = box(b"ftyp", b"isom\0\0\x02\0isomiso2avc1mp41")
    avc1 = box(b"avc1", bytes(6) + b"\0\x01" + bytes(16) + struct.pack(">HH", 16, 16) + bytes(14)
               + b"\x0eModelName enc".ljust(32, b"\0") + b"\0\x18\xff\xff")
    udta = box(b"udta", full_box(b"meta", full_box(b"hdlr", b"\0\0\0\0mdirappl" + bytes(9))
                                  + box(b"ilst", box(b"\xa9too", box(b"data", b"\0\0\0\x01\0\0\0\0Lavf/ModelName")))))

    def moov(offset: int) -> bytes:
        stbl = box(b"stbl", full_box(b"stsd", struct.pack(">I", 1) + avc1) + full_box(b"stco", struct.pack(">II", 1, offset)))
        mdia = box(b"mdia", full_box(b"mdhd", bytes(20)) + full_box(b"hdlr", b"\0\0\0\0vide" + bytes(12) + b"Video\0")
                   + box(b"minf", stbl))
        trak = box(b"trak", full_box(b"tkhd", bytes(80)) + mdia + box(b"udta", box(b"name", b"ModelName track")))
        return box(b"moov", full_box(b"mvhd", bytes(96)) + trak + udta)

    c2pa = box(b"uuid", b"\xd8\xfe\xc3\xd6\x1b\x0e\x48\x3c\x92\x97\x58\x28\x87\x7e\xc4\x81" + b"c2pa ModelName manifest")
    head = ftyp + c2pa
    mdat_offset = len(head) + len(moov(0)) + 8  # moov before mdat ("fast start"), the hard case
    return head + moov(mdat_offset) + box(b"mdat", samples)


def parse_boxes(data: bytes, start: int = 0, end: int | None = None, depth: int = 0) -> list[tuple[int, bytes, int, int]]:
    """(depth, type, start, end) for every box; asserts each size fits its parent exactly."""
    end = len(data) if end is None else end
    out, pos = [], start
    while pos < end:
        size, btype = struct.unpack(">I4s", data[pos:pos + 8])
        assert 8 <= size <= end - pos, (btype, size)
        out.append((depth, btype, pos, pos + size))
        if btype in (b"moov", b"trak", b"mdia", b"minf", b"stbl"):
            out += parse_boxes(data, pos + 8, pos + size, depth + 1)
        pos += size
    assert pos == end
    return out


def test_mp4_udta_meta_uuid_removed_offsets_still_valid():
    samples = b"\x00\x00\x00\x10" + bytes(range(16)) * 4
    raw = build_mp4(samples)
    assert raw.count(NAME) == 4
    clean = strip_metadata(raw, "video/mp4")
    assert NAME not in clean and len(clean) == len(raw)
    types = [t for _, t, _, _ in parse_boxes(clean)]
    assert b"udta" not in types and b"uuid" not in types and b"meta" not in types
    assert types.count(b"free") == 3 and b"mvhd" in types and b"stco" in types
    [(_, _, s, e)] = [b for b in parse_boxes(clean) if b[1] == b"stco"]
    (offset,) = struct.unpack(">I", clean[e - 4:e])
    assert clean[offset:offset + len(samples)] == samples  # the sample table still points at the media


# --- glTF / GLB -------------------------------------------------------------------------------
GLTF = {
    "asset": {"version": "2.0", "generator": "ModelName exporter", "copyright": "ModelName Inc.",
              "extras": {"model": "ModelName"}},
    "extensionsUsed": ["KHR_xmp_json_ld", "KHR_materials_unlit"],
    "extensions": {"KHR_xmp_json_ld": {"packets": [{"dc:creator": "ModelName"}]}},
    "extras": {"prompt": "by ModelName"},
    "scene": 0, "scenes": [{"nodes": [0], "name": "ModelName scene"}],
    "nodes": [{"mesh": 0, "extensions": {"KHR_xmp_json_ld": {"packet": 0}}}],
    "meshes": [{"name": "ModelName_mesh", "primitives": [{"attributes": {"POSITION": 0}, "material": 0}]}],
    "materials": [{"extensions": {"KHR_materials_unlit": {}}, "extras": {"by": "ModelName"}}],
    "accessors": [{"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3",
                   "min": [0, 0, 0], "max": [1, 1, 0]}],
    "bufferViews": [{"buffer": 0, "byteLength": 36}],
    "buffers": [{"byteLength": 36}],
}
BIN = struct.pack("<9f", 0, 0, 0, 1, 0, 0, 0, 1, 0)


def build_glb(doc: dict, binary: bytes) -> bytes:
    js = json.dumps(doc).encode()
    js += b" " * (-len(js) % 4)
    body = struct.pack("<I4s", len(js), b"JSON") + js + struct.pack("<I4s", len(binary), b"BIN\0") + binary
    return b"glTF" + struct.pack("<II", 2, 12 + len(body)) + body


def check_clean_gltf(doc: dict) -> None:
    assert "ModelName" not in json.dumps(doc)
    assert doc["asset"] == {"version": "2.0"}
    assert doc["extensionsUsed"] == ["KHR_materials_unlit"]
    assert doc["materials"][0]["extensions"] == {"KHR_materials_unlit": {}}  # rendering extensions kept
    assert doc["meshes"][0]["primitives"] == GLTF["meshes"][0]["primitives"] and doc["accessors"] == GLTF["accessors"]


def test_glb_generator_and_xmp_removed_lengths_consistent():
    clean = strip_metadata(build_glb(GLTF, BIN), "model/gltf-binary")
    magic, version, total = struct.unpack("<4sII", clean[:12])
    assert (magic, version, total) == (b"glTF", 2, len(clean))
    jlen, jtype = struct.unpack("<I4s", clean[12:20])
    assert jtype == b"JSON" and jlen % 4 == 0
    check_clean_gltf(json.loads(clean[20:20 + jlen]))
    blen, btype = struct.unpack("<I4s", clean[20 + jlen:28 + jlen])
    assert btype == b"BIN\0" and clean[28 + jlen:28 + jlen + blen] == BIN and 28 + jlen + blen == total


def test_gltf_json_cleaned():
    clean = strip_metadata(json.dumps(GLTF).encode(), "model/gltf+json")
    check_clean_gltf(json.loads(clean))


# --- mime handling and robustness -------------------------------------------------------------
def test_sniff_mime_recognises_each_format():
    png, jpg, webp = (io.BytesIO() for _ in range(3))
    gradient().save(png, format="PNG")
    gradient().save(jpg, format="JPEG")
    gradient().save(webp, format="WEBP")
    wav = riff_chunk(b"fmt ", bytes(16))
    assert sniff_mime(png.getvalue()) == "image/png"
    assert sniff_mime(jpg.getvalue()) == "image/jpeg"
    assert sniff_mime(webp.getvalue()) == "image/webp"
    assert sniff_mime(b"RIFF\0\0\0\0WAVE" + wav) == "audio/wav"
    assert sniff_mime(b"ID3\x03\0\0\0\0\0\0") == "audio/mpeg"
    assert sniff_mime(build_mp4(b"x")) == "video/mp4"
    assert sniff_mime(build_glb(GLTF, BIN)) == "model/gltf-binary"
    assert sniff_mime(json.dumps(GLTF).encode()) == "model/gltf+json"
    assert sniff_mime(b"\xff\xf1\x50\x80") is None  # ADTS AAC is not MP3
    assert sniff_mime(b"<html>") is None


def test_unknown_or_mismatched_media_is_refused():
    with pytest.raises(ValueError, match="unknown media"):
        strip_metadata(b"GIF89a...", "image/gif")
    png = io.BytesIO()
    gradient().save(png, format="PNG")
    with pytest.raises(ValueError):
        strip_metadata(png.getvalue(), "image/jpeg")
    with pytest.raises(ValueError):
        strip_metadata(png.getvalue()[:-20], "image/png")  # truncated: IEND missing


def test_mime_parameters_and_case_are_accepted():
    png = io.BytesIO()
    gradient().save(png, format="PNG")
    assert strip_metadata(png.getvalue(), "Image/PNG; charset=binary") == png.getvalue()


SAMPLES = {
    "image/png": lambda: (lambda b: (gradient().save(b, format="PNG"), b.getvalue())[1])(io.BytesIO()),
    "image/jpeg": lambda: (lambda b: (gradient().save(b, format="JPEG"), b.getvalue())[1])(io.BytesIO()),
    "video/mp4": lambda: build_mp4(b"abcd"),
    "model/gltf-binary": lambda: build_glb(GLTF, BIN),
    "audio/mpeg": lambda: b"ID3\x03\0\0\0\0\0\x02ab" + b"\xff\xfb\x90\x00" + bytes(413),
    "image/webp": lambda: (lambda b: (gradient().save(b, format="WEBP", exif=exif_block()), b.getvalue())[1])(io.BytesIO()),
    "audio/wav": lambda: b"RIFF\0\0\0\0WAVE" + riff_chunk(b"fmt ", bytes(16)) + riff_chunk(b"LIST", b"INFO")
    + riff_chunk(b"data", bytes(100)),
    "model/gltf+json": lambda: json.dumps(GLTF).encode(),
}


@settings(max_examples=150, deadline=None)
@given(mime=st.sampled_from(sorted(SAMPLES)), cut=st.integers(min_value=0, max_value=2000),
       junk=st.binary(max_size=64), pos=st.integers(min_value=0, max_value=2000))
def test_damaged_files_raise_value_error_only(mime, cut, junk, pos):
    # A worker catches ValueError to refuse a file; any other exception would crash the task.
    data = SAMPLES[mime]()
    pos %= len(data) + 1
    damaged = (data[:pos] + junk + data[pos + len(junk):])[:max(1, len(data) - cut)]
    try:
        strip_metadata(damaged, mime)
    except ValueError:
        pass


def test_hostile_nesting_is_refused_not_crashing():
    nested = b""
    for _ in range(5000):  # moov inside moov ...: recursion a parser must survive
        nested = box(b"moov", nested)
    with pytest.raises(ValueError):
        strip_metadata(nested, "video/mp4")
    with pytest.raises(ValueError):
        strip_metadata(b'{"asset":' + b"[" * 100_000 + b"]" * 100_000 + b"}", "model/gltf+json")
