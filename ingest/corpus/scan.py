#!/usr/bin/env python3
"""Makes "scanned" variants of corpus PDFs: each page rasterised (pdftoppm, grayscale),
slightly rotated (two small shears), speckled with noise, and wrapped in an image-only PDF.
The truth file is copied unchanged.

Usage: python3 ingest/corpus/scan.py CORPUS_DIR OUT_DIR [COUNT] [DPI]
Needs pdftoppm (Debian poppler-utils). Deterministic (seeded by file name).
"""
import math, os, random, shutil, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pdfwriter import image_pdf  # noqa: E402


def read_pgm(path):
    data = open(path, "rb").read()
    parts, i = [], 0
    while len(parts) < 4:  # magic, width, height, maxval (no comments from pdftoppm)
        while data[i:i + 1].isspace():
            i += 1
        j = i
        while not data[j:j + 1].isspace():
            j += 1
        parts.append(data[i:j])
        i = j
    i += 1
    w, h = int(parts[1]), int(parts[2])
    return w, h, data[i:i + w * h]


def skew(w, h, px, angle_deg, rng):
    t = math.tan(math.radians(angle_deg))
    rows = [px[y * w:(y + 1) * w] for y in range(h)]
    white = b"\xff" * w
    # vertical shear: strips of columns move up or down
    strip = 32
    out = []
    offs = [int(round((x0 + strip / 2) * t)) for x0 in range(0, w, strip)]
    for y in range(h):
        pieces = []
        for k, x0 in enumerate(range(0, w, strip)):
            sy = y - offs[k]
            src = rows[sy] if 0 <= sy < h else white
            pieces.append(src[x0:x0 + strip])
        out.append(b"".join(pieces))
    # horizontal shear: rows move left or right
    res = bytearray()
    for y, row in enumerate(out):
        d = int(round(-y * t))
        if d > 0:
            row = b"\xff" * d + row[:w - d]
        elif d < 0:
            row = row[-d:] + b"\xff" * (-d)
        res += row
    # speckle noise
    for _ in range(int(w * h * 0.002)):
        res[rng.randrange(w * h)] = rng.choice((0, 255))
    return bytes(res)


def main():
    src, out = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 6
    dpi = sys.argv[4] if len(sys.argv) > 4 else "200"
    os.makedirs(out, exist_ok=True)
    pdfs = sorted(f for f in os.listdir(src) if f.endswith(".pdf"))[:count]
    for f in pdfs:
        rng = random.Random(f)
        angle = rng.choice((-1, 1)) * rng.uniform(0.3, 1.0)
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["pdftoppm", "-r", dpi, "-gray", os.path.join(src, f), os.path.join(tmp, "p")], check=True)
            pages = []
            for img in sorted(os.listdir(tmp)):
                w, h, px = read_pgm(os.path.join(tmp, img))
                pages.append((w, h, skew(w, h, px, angle, rng)))
        stem = f[:-4]
        with open(os.path.join(out, stem + "-scan.pdf"), "wb") as fh:
            fh.write(image_pdf(pages))
        shutil.copy(os.path.join(src, stem + ".truth.json"), os.path.join(out, stem + "-scan.truth.json"))
        print(f"{stem}: {len(pages)} page(s), rotated {angle:.2f} degrees")


if __name__ == "__main__":
    main()
