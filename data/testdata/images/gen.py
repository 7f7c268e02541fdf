"""Writes the tiny image folder data/images tests compare against torchvision.

    /usr/bin/python3 data/testdata/images/gen.py

folder/<class>/... holds a few small images (2-3 KB) of different sizes, formats and Pillow
modes: RGB, RGBA, L, LA, 16-bit gray, palette PNG and GIF, 24-bit and 8-bit BMP, and JPEG
with 4:2:0, 4:2:2 and 4:4:4 chroma and in grayscale. Nested folders (nest, nest-x, nest/deep)
check that files are ordered as torchvision's make_dataset orders them (sorted os.walk
roots, then sorted names), and notes.txt that other files are skipped. The pictures are
smooth colour fields with a few shapes and mild noise, so resizing and JPEG have real
edges to work on. The tests run torchvision on these files live; no output is stored.
"""
import os
import shutil

import numpy as np
from PIL import Image, ImageDraw

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "folder")
rng = np.random.default_rng(20240601)


def picture(w, h, seed):
    r = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    a, b, c = r.uniform(0.5, 2.0, 3)
    img = np.stack([
        128 + 100 * np.sin(xx / w * np.pi * a + seed),
        128 + 100 * np.cos(yy / h * np.pi * b),
        128 + 90 * np.sin((xx + yy) / (w + h) * np.pi * c),
    ], axis=-1)
    img += r.normal(0, 6, img.shape)
    im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(im)
    for _ in range(3):
        x0, y0 = int(r.integers(0, w - 4)), int(r.integers(0, h - 4))
        x1, y1 = x0 + int(r.integers(3, max(4, w // 2))), y0 + int(r.integers(3, max(4, h // 2)))
        col = tuple(int(v) for v in r.integers(0, 256, 3))
        if r.random() < 0.5:
            d.rectangle([x0, y0, x1, y1], fill=col)
        else:
            d.ellipse([x0, y0, x1, y1], fill=col)
    return im


def save(rel, im, **kw):
    path = os.path.join(ROOT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    im.save(path, **kw)


def main():
    shutil.rmtree(ROOT, ignore_errors=True)
    # bird: nested folders and an upper-case extension.
    save("bird/b01.png", picture(37, 29, 1))
    save("bird/b02.jpg", picture(40, 52, 2), quality=90)  # Pillow's default: 4:2:0
    save("bird/B03.PNG", picture(23, 31, 3).convert("L"))
    save("bird/nest/b04.gif", picture(33, 21, 4).quantize(32))
    save("bird/nest-x/b05.png", picture(18, 26, 5))
    save("bird/nest/deep/b06.png", picture(20, 20, 6))
    # cat: BMP, alpha, 4:4:4 and grayscale JPEG, and a file that is not an image.
    save("cat/c01.bmp", picture(26, 34, 7))
    rgba = picture(30, 30, 8).convert("RGBA")
    alpha = np.tile(np.linspace(0, 255, 30).astype(np.uint8), (30, 1))
    rgba.putalpha(Image.fromarray(alpha, "L"))
    save("cat/c02.png", rgba)
    save("cat/c03.jpeg", picture(45, 33, 9), quality=95, subsampling=0)
    save("cat/c04.jpg", picture(28, 20, 10).convert("L"), quality=90)
    with open(os.path.join(ROOT, "cat", "notes.txt"), "w") as f:
        f.write("not an image\n")
    # dog: palette GIF and PNG, 8-bit BMP, 16-bit gray PNG (Pillow clips it to 255), 4:2:2
    # JPEG, gray with alpha.
    save("dog/d01.gif", picture(50, 40, 11).quantize(64))
    save("dog/d02.png", picture(19, 27, 12).quantize(16))
    save("dog/d03.bmp", picture(21, 21, 13).convert("L"))
    g16 = (np.asarray(picture(22, 18, 14).convert("L"), dtype=np.float64) * 1.6).astype(np.uint16)
    save("dog/d04.png", Image.fromarray(g16))
    save("dog/d05.jpg", picture(36, 28, 15), quality=90, subsampling=1)
    la = picture(24, 24, 16).convert("LA")
    save("dog/d06.png", la)


if __name__ == "__main__":
    main()
