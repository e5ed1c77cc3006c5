"""Makes the embedded models' real inputs for whole-model PTQ.

Text-line crops for the PaddleOCR text-direction classifier (rapidocr-onnxruntime's
ch_ppocr_mobile_v2.0_cls_infer.onnx): the lines of scikit-image's data/page.png (a scanned printed page,
CC0), cut into windows of the classifier's 4:1 aspect, each shown upright (label 0 = "0") and turned by
180 degrees (label 1 = "180"). The preprocessing is rapidocr's TextClassifier.resize_norm_img
(ch_ppocr_cls/text_cls.py): height 48, width ceil(48 * w / h) capped at 192, (x / 255 - 0.5) / 0.5, zero
padding on the right. Evaluation windows do not overlap; calibration windows sit half a window off them,
so the two sets share no crop.

Usage: python3 scripts/make_ptq_inputs.py PAGE_PNG OUT_DIR
"""
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

# Ink = darker than the local background (a 15-px max filter) by more than this; a text row has more
# than ROW_INK such pixels. Chosen by looking at page.png's row profile (lines ~20 px, gaps < 10).
INK_CONTRAST = 40
ROW_INK = 40
MIN_LINE_ROWS = 6
LINE_MARGIN = 4


def text_lines(grey):
    background = np.asarray(Image.fromarray(grey).filter(ImageFilter.MaxFilter(15)))
    ink = (background.astype(np.int32) - grey.astype(np.int32)) > INK_CONTRAST
    rows = ink.sum(axis=1) > ROW_INK
    lines, start = [], None
    for y, on in enumerate(list(rows) + [False]):
        if on and start is None:
            start = y
        elif not on and start is not None:
            if y - start >= MIN_LINE_ROWS:
                top, bottom = max(0, start - LINE_MARGIN), min(grey.shape[0], y + LINE_MARGIN)
                cols = np.nonzero(ink[top:bottom].any(axis=0))[0]
                lines.append(grey[top:bottom, cols.min() : cols.max() + 1])
            start = None
    return lines


def resize_norm(crop):
    height, width = crop.shape
    resized_w = min(192, math.ceil(48 * width / height))
    rgb = Image.fromarray(crop).convert("RGB").resize((resized_w, 48), Image.BILINEAR)
    chw = np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1) / 255.0
    out = np.zeros((3, 48, 192), dtype=np.float32)
    out[:, :, :resized_w] = (chw - 0.5) / 0.5
    return out


def windows(line, offset):
    step = line.shape[0] * 4
    return [line[:, x : x + step] for x in range(offset, line.shape[1] - step // 2, step)]


def labelled(crops):
    xs, ys = [], []
    for crop in crops:
        xs.append(resize_norm(crop))
        ys.append(0)
        xs.append(resize_norm(np.ascontiguousarray(np.rot90(crop, 2))))
        ys.append(1)
    return np.stack(xs), np.asarray(ys, dtype=np.int64)


def main():
    page_png, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
    grey = np.asarray(Image.open(page_png).convert("L"))
    lines = text_lines(grey)
    eval_crops = [w for line in lines for w in windows(line, 0)]
    calib_crops = [w for line in lines for w in windows(line, line.shape[0] * 2)]
    out_dir.mkdir(parents=True, exist_ok=True)
    x, y = labelled(eval_crops)
    np.savez_compressed(out_dir / "textline-eval.npz", x=x, label=y)
    cx, _ = labelled(calib_crops)
    np.savez_compressed(out_dir / "textline-calib.npz", x=cx)
    print(f"{len(lines)} lines; eval {x.shape} calib {cx.shape}")


if __name__ == "__main__":
    main()
