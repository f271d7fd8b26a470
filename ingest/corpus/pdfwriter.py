"""A small PDF writer producing real text-layer PDFs (Helvetica, WinAnsiEncoding, Flate
content streams). Written for Hearth's $ingest-document development corpus; it knows only
what the corpus needs: text runs at positions, several pages, lines."""
import zlib

PAGE_W, PAGE_H = 612, 792  # US Letter, points


def _escape(text):
    data = text.encode("cp1252", errors="replace")
    out = bytearray()
    for b in data:
        if b in (0x28, 0x29, 0x5C):  # ( ) backslash
            out += b"\\" + bytes([b])
        else:
            out.append(b)
    return bytes(out)


def text_width(text, size, bold=False):
    """Approximate Helvetica advance width (enough to lay columns out)."""
    w = 0.0
    for ch in text:
        if ch in "il.,;:'|!I":
            w += 0.28
        elif ch in "mwMW":
            w += 0.85
        elif ch.isupper() or ch.isdigit():
            w += 0.66 if ch.isupper() else 0.56
        elif ch == " ":
            w += 0.28
        else:
            w += 0.52
    return w * size * (1.06 if bold else 1.0)


class Pdf:
    def __init__(self):
        self.pages = []  # list of lists of content bytes

    def new_page(self):
        self.pages.append([])

    def text(self, x, y, text, size=10, bold=False):
        font = b"/F2" if bold else b"/F1"
        self.pages[-1].append(
            b"BT " + font + b" %d Tf 1 0 0 1 %.2f %.2f Tm (" % (size, x, y) + _escape(text) + b") Tj ET\n"
        )

    def line(self, x1, y1, x2, y2, width=0.5):
        self.pages[-1].append(b"%.2f w %.2f %.2f m %.2f %.2f l S\n" % (width, x1, y1, x2, y2))

    def tobytes(self, title="Clinical document"):
        objs = []  # index i -> object number i+1

        def add(body):
            objs.append(body)
            return len(objs)

        catalog = add(None)
        pages_obj = add(None)
        f1 = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
        f2 = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>")
        kids = []
        for content in self.pages:
            raw = zlib.compress(b"".join(content))
            stream = add(b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(raw) + raw + b"\nendstream")
            page = add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d] /Resources << /Font << /F1 %d 0 R /F2 %d 0 R >> >> /Contents %d 0 R >>"
                % (pages_obj, PAGE_W, PAGE_H, f1, f2, stream)
            )
            kids.append(page)
        objs[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_obj
        objs[pages_obj - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
            b" ".join(b"%d 0 R" % k for k in kids),
            len(kids),
        )
        info = add(b"<< /Title (" + _escape(title) + b") /Producer (Hearth corpus pdfwriter) >>")
        out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for i, body in enumerate(objs):
            offsets.append(len(out))
            out += b"%d 0 obj\n" % (i + 1) + body + b"\nendobj\n"
        xref = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
        for off in offsets:
            out += b"%010d 00000 n \n" % off
        out += b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
            len(objs) + 1,
            catalog,
            info,
            xref,
        )
        return bytes(out)


def image_pdf(pages, title="Scanned clinical document"):
    """An image-only PDF (no text layer): `pages` is a list of (width, height, gray bytes)
    shown full-page on US Letter, as a scanner would produce."""
    objs = []

    def add(body):
        objs.append(body)
        return len(objs)

    catalog = add(None)
    pages_obj = add(None)
    kids = []
    for w, h, gray in pages:
        raw = zlib.compress(gray, 6)
        img = add(b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n" % (w, h, len(raw)) + raw + b"\nendstream")
        content = b"q %d 0 0 %d 0 0 cm /Im1 Do Q\n" % (PAGE_W, PAGE_H)
        stream = add(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
        kids.append(add(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d] /Resources << /XObject << /Im1 %d 0 R >> >> /Contents %d 0 R >>" % (pages_obj, PAGE_W, PAGE_H, img, stream)))
    objs[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_obj
    objs[pages_obj - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % (i + 1) + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, catalog, xref)
    return bytes(out)
