"""Builders for the files the attachment tests upload: good ones, and each kind of bad one.

Everything is built in memory from the libraries, so a test shows exactly what its file holds. The EICAR test string
is assembled from two halves so that this source file is not itself flagged by a virus scanner on a developer's
machine.
"""

import io
import struct
import zipfile
import zlib

import pikepdf
import pillow_heif
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, PngImagePlugin

# The industry's harmless test "virus" (eicar.org): every scanner reports it, as Eicar-Test-Signature in ClamAV.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

HTML_PAYLOAD = b"<html><body><script>alert('polyglot')</script></body></html>"
JS_PAYLOAD = "var activeContentMarker = 1;"  # no parentheses, which PDF strings escape
# A location a photo's EXIF might carry: 51°30'26"N 0°7'39"W (central London).
GPS_LATITUDE = (51.0, 30.0, 26.0)
GPS_LONGITUDE = (0.0, 7.0, 39.0)


def upload(name: str, data: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    """An upload as Django hands it to a form. The browser's content type is deliberately meaningless by default."""
    return SimpleUploadedFile(name, data, content_type=content_type)


def _noise_image(width: int, height: int, mode: str = "RGB") -> Image.Image:
    # Noise, so the compressed data is large enough to truncate meaningfully and no two tests share a photo.
    return Image.frombytes(mode, (width, height), bytes((i * 7919) % 251 for i in range(width * height * len(mode))))


def jpeg(width: int = 64, height: int = 48, *, gps: bool = False, orientation: int | None = None) -> bytes:
    image = _noise_image(width, height)
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0131] = "CameraApp 1.0"  # Software
    if orientation is not None:
        exif[0x0112] = orientation
    if gps:
        exif[0x8825] = {1: "N", 2: GPS_LATITUDE, 3: "W", 4: GPS_LONGITUDE}
    output = io.BytesIO()
    image.save(output, format="JPEG", exif=exif.tobytes(), comment=b"taken at home")
    return output.getvalue()


def png(width: int = 32, height: int = 24, *, text: dict[str, str] | None = None, mode: str = "RGB") -> bytes:
    image = _noise_image(width, height, mode)
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
        info.add_itxt(f"{key}-i", value)
    output = io.BytesIO()
    image.save(output, format="PNG", pnginfo=info)
    return output.getvalue()


def heic(width: int = 64, height: int = 48, *, gps: bool = False) -> bytes:
    image = _noise_image(width, height)
    exif = Image.Exif()
    if gps:
        exif[0x8825] = {1: "N", 2: GPS_LATITUDE, 3: "W", 4: GPS_LONGITUDE}
    heif_file = pillow_heif.from_pillow(image)
    output = io.BytesIO()
    heif_file.save(output, exif=exif.tobytes() if gps else None, quality=90)
    return output.getvalue()


def gif() -> bytes:
    output = io.BytesIO()
    Image.new("P", (8, 8)).save(output, format="GIF")
    return output.getvalue()


SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script><rect width="10" height="10"/></svg>'
HTML = b"<!DOCTYPE html><html><head><title>x</title></head><body><script>alert(1)</script></body></html>"


def pdf(*, pages: int = 1, text: str = "Letter from my GP") -> bytes:
    document = pikepdf.new()
    for _ in range(pages):
        document.add_blank_page(page_size=(595, 842))
    content = pikepdf.Stream(document, f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode())
    for page in document.pages:
        page.obj["/Contents"] = content
        page.obj["/Resources"] = pikepdf.Dictionary(
            Font=pikepdf.Dictionary(
                F1=pikepdf.Dictionary(
                    Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
                )
            )
        )
    output = io.BytesIO()
    document.save(output)
    return output.getvalue()


def pdf_with_active_content() -> bytes:
    """A PDF that runs JavaScript on opening, has page and link actions that run a program and script, an embedded
    file, and a file-attachment annotation. Saved without object streams so the script is visible in its bytes."""
    document = pikepdf.new()
    document.add_blank_page()
    page = document.pages[0].obj
    script = pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String(JS_PAYLOAD))
    document.Root.OpenAction = document.make_indirect(script)
    document.Root.AA = pikepdf.Dictionary(
        WC=pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String(JS_PAYLOAD))
    )
    embedded = pikepdf.Stream(document, b"MZ pretend program")
    filespec = pikepdf.Dictionary(
        Type=pikepdf.Name.Filespec,
        F=pikepdf.String("run.exe"),
        EF=pikepdf.Dictionary(F=document.make_indirect(embedded)),
    )
    document.Root.Names = pikepdf.Dictionary(
        JavaScript=pikepdf.Dictionary(Names=pikepdf.Array([pikepdf.String("init"), document.make_indirect(script)])),
        EmbeddedFiles=pikepdf.Dictionary(Names=pikepdf.Array([pikepdf.String("run.exe"), filespec])),
    )
    page["/AA"] = pikepdf.Dictionary(O=pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String(JS_PAYLOAD)))
    launch = pikepdf.Dictionary(S=pikepdf.Name.Launch, F=pikepdf.String("cmd.exe"))
    safe_link = pikepdf.Dictionary(S=pikepdf.Name.URI, URI=pikepdf.String("https://www.nhs.uk/"))
    page["/Annots"] = pikepdf.Array(
        [
            pikepdf.Dictionary(Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Link, Rect=[0, 0, 10, 10], A=launch),
            pikepdf.Dictionary(Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Link, Rect=[0, 20, 10, 30], A=safe_link),
            pikepdf.Dictionary(
                Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.FileAttachment, Rect=[0, 40, 10, 50], FS=filespec
            ),
        ]
    )
    output = io.BytesIO()
    document.save(output, object_stream_mode=pikepdf.ObjectStreamMode.disable, compress_streams=False)
    return output.getvalue()


def zip_archive() -> bytes:
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w") as archive:
        archive.writestr("index.html", HTML_PAYLOAD)
    return output.getvalue()


def jpeg_polyglot() -> bytes:
    """A valid JPEG with a ZIP archive and an HTML page appended after its end-of-image marker."""
    return jpeg() + zip_archive() + HTML_PAYLOAD


def pdf_polyglot() -> bytes:
    """A valid PDF with a ZIP archive appended after %%EOF."""
    return pdf() + zip_archive()


def elf_executable() -> bytes:
    """The 64-byte header of a Linux x86-64 executable, followed by padding."""
    header = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    header += struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, 0x401000, 64, 0, 0, 64, 56, 1, 64, 0, 0)
    return header + bytes(200)


def windows_executable() -> bytes:
    """A DOS/PE stub as at the start of every Windows .exe."""
    stub = bytearray(b"MZ" + bytes(126))
    stub[0x3C:0x40] = struct.pack("<I", 0x80)
    return bytes(stub) + b"PE\x00\x00" + struct.pack("<HH", 0x8664, 1) + bytes(300)


def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A valid 1-bit PNG of width × height pixels, all black: a few tens of KB that decode to hundreds of MB."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    compressor = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)  # filter byte + packed bits
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def truncated_jpeg() -> bytes:
    data = jpeg(400, 300)
    return data[: len(data) // 2]
