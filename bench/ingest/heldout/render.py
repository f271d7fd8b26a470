#!/usr/bin/env python3
"""Render the held-out .txt documents to PDFs.

For every NAME.txt in discharge/, soap/ and intake_lab/ this writes, into <family>/out/:
  NAME.pdf          text PDF (Courier, layout preserved line for line, selectable text)
  NAME.scan300.pdf  image-only PDF, page rasterised at 300 dpi, slightly rotated,
                    gaussian noise + blur (looks like a scan / fax)
  NAME.scan200.pdf  the same at 200 dpi
Transcripts (transcript/) are left as plain text.

Needs only reportlab and Pillow. If they are not importable, the script creates
/work/main/.cache/venv-render (relative: <repo>/.cache/venv-render), pip-installs them
there and re-executes itself with that interpreter.

Output is deterministic (random rotation/noise seeded from the file name).
Usage:  python3 bench/ingest/heldout/render.py [--only NAME ...]
"""
import os
import subprocess
import sys
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
VENV = REPO / ".cache" / "venv-render"
FAMILIES = ["discharge", "soap", "intake_lab"]


def ensure_deps():
    try:
        import reportlab  # noqa: F401
        import PIL  # noqa: F401
        return
    except ImportError:
        pass
    py = VENV / "bin" / "python"
    if os.environ.get("HELDOUT_RENDER_REEXEC"):
        sys.exit("reportlab/Pillow still missing inside %s" % VENV)
    if not py.exists():
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
    subprocess.check_call([str(py), "-m", "pip", "install", "-q", "reportlab", "pillow"])
    env = dict(os.environ, HELDOUT_RENDER_REEXEC="1")
    os.execve(str(py), [str(py), str(Path(__file__).resolve())] + sys.argv[1:], env)


ensure_deps()

import random  # noqa: E402

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont  # noqa: E402
from reportlab.lib.pagesizes import letter  # noqa: E402
from reportlab.pdfgen import canvas  # noqa: E402

PAGE_W, PAGE_H = letter            # points (612 x 792)
MARGIN_X, MARGIN_Y = 40.0, 50.0
CHAR_W = 0.6                       # Courier advance width, in em
MAX_FS, LEADING = 10.0, 1.22


def layout(text):
    """Split into pages of lines and pick a font size so the widest line fits."""
    lines = text.expandtabs(8).rstrip("\n").split("\n")
    width = max([len(l.rstrip()) for l in lines] + [40])
    fs = min(MAX_FS, (PAGE_W - 2 * MARGIN_X) / (CHAR_W * width))
    per_page = int((PAGE_H - 2 * MARGIN_Y) // (fs * LEADING))
    pages, cur = [], []
    for l in lines:
        if l.startswith("\f"):          # explicit form feed = new page
            if cur:
                pages.append(cur)
            cur, l = [], l[1:]
        cur.append(l)
        if len(cur) >= per_page:
            pages.append(cur)
            cur = []
    if cur:
        pages.append(cur)
    return pages, fs


def text_pdf(pages, fs, out):
    c = canvas.Canvas(str(out), pagesize=letter)
    c.setTitle(out.stem)
    for page in pages:
        t = c.beginText(MARGIN_X, PAGE_H - MARGIN_Y)
        t.setFont("Courier", fs, leading=fs * LEADING)
        for l in page:
            t.textLine(l.rstrip())
        c.drawText(t)
        c.showPage()
    c.save()


def find_font(px):
    for p in ["/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
              "/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf",
              "/usr/share/fonts/TTF/DejaVuSansMono.ttf",
              "/Library/Fonts/Courier New.ttf", "C:/Windows/Fonts/cour.ttf"]:
        if os.path.exists(p):
            return ImageFont.truetype(p, px)
    try:
        return ImageFont.load_default(size=px)   # Pillow >= 10.1
    except TypeError:
        return ImageFont.load_default()


def raster_page(lines, fs, dpi, rng):
    """Draw one page at `dpi` on a character grid (same geometry as the text PDF)."""
    s = dpi / 72.0
    w, h = int(PAGE_W * s), int(PAGE_H * s)
    img = Image.new("L", (w, h), 255)
    d = ImageDraw.Draw(img)
    font = find_font(max(6, int(round(fs * s))))
    cw, lh = fs * CHAR_W * s, fs * LEADING * s
    x0, y0 = MARGIN_X * s, MARGIN_Y * s - fs * s * 0.8
    ink = rng.randint(0, 40)
    for i, l in enumerate(lines):
        y = y0 + i * lh
        for j, ch in enumerate(l.rstrip()):
            if ch != " ":
                d.text((x0 + j * cw, y), ch, fill=ink, font=font)
    # scanner artefacts: skew, slight offset, blur, gaussian noise, a few specks
    angle = rng.uniform(0.5, 1.5) * rng.choice([-1, 1])
    img = img.rotate(angle, resample=Image.BICUBIC, expand=False, fillcolor=255,
                     translate=(rng.randint(-int(8 * s), int(8 * s)), rng.randint(-int(6 * s), int(6 * s))))
    img = img.filter(ImageFilter.GaussianBlur(radius=rng.uniform(0.5, 0.9) * s / 3.0))
    noise = Image.effect_noise((w, h), rng.uniform(18, 30))       # gaussian, centred at 128
    img = ImageChops.add(img, noise, scale=1.0, offset=-128)
    d = ImageDraw.Draw(img)
    for _ in range(rng.randint(20, 80)):
        x, y, r = rng.randint(0, w), rng.randint(0, h), rng.uniform(0.5, 2.0) * s / 3
        d.ellipse([x - r, y - r, x + r, y + r], fill=rng.randint(60, 160))
    return img


def scan_pdf(pages, fs, dpi, out, seed):
    rng = random.Random(seed)
    imgs = [raster_page(p, fs, dpi, rng) for p in pages]
    imgs[0].save(str(out), "PDF", resolution=float(dpi), save_all=True,
                 append_images=imgs[1:], quality=80)


def main(argv):
    only = set()
    if "--only" in argv:
        only = set(argv[argv.index("--only") + 1:])
    total = 0
    for fam in FAMILIES:
        src = HERE / fam
        out_dir = src / "out"
        out_dir.mkdir(exist_ok=True)
        (out_dir / ".gitignore").write_text("*\n")
        for txt in sorted(src.glob("*.txt")):
            name = txt.stem
            if only and name not in only:
                continue
            pages, fs = layout(txt.read_text(encoding="utf-8"))
            seed = zlib.crc32(name.encode())
            text_pdf(pages, fs, out_dir / f"{name}.pdf")
            scan_pdf(pages, fs, 300, out_dir / f"{name}.scan300.pdf", seed)
            scan_pdf(pages, fs, 200, out_dir / f"{name}.scan200.pdf", seed + 1)
            total += 1
            print(f"{fam}/{name}: {len(pages)} page(s), {fs:.1f} pt")
    print(f"rendered {total} documents x 3 PDFs")


if __name__ == "__main__":
    main(sys.argv[1:])
