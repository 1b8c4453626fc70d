"""The encoding tables of ``rtl/README.md`` section 9, generated from the field tables (a test
checks the README against them)."""

from __future__ import annotations

from .fields import FORMATS, offsets

#: One line per field (the header fields are described once).
MEANING: dict[str, str] = {
    "opcode": "LOAD 0, STORE 1, GEMM 2, END 3, VEC 4, LOAD2D 5 (6, 7 illegal)",
    "pop_prev": "wait for and take a token from the previous unit's queue",
    "pop_next": "wait for and take a token from the next unit's queue",
    "push_prev": "after finishing, give a token to the previous unit",
    "push_next": "after finishing, give a token to the next unit",
    "buffer": "ACT 0, WGT 1, PARAM 2, OUT 3 (LOAD into OUT goes to the compute queue)",
    "mode": "WORDS 0 (packed buffer words), PIXELS 1 (tensor elements into lanes)",
    "sram_base": "first buffer word",
    "dram_base": "DRAM byte offset (relative to the DRAM base)",
    "rows": "WORDS: words; PIXELS: pixels (0 = token-only NOP)",
    "elems": "PIXELS: elements per pixel (lanes, folding into words of `lanes` each)",
    "dram_stride": "PIXELS: bytes from one pixel to the next",
    "sram_stride": "PIXELS: words from one pixel to the next",
    "fold_stride": "PIXELS: words from one lane fold (`lanes` elements) to the next",
    "in_h": "input map height (LOAD2D) / pool input height (VEC)",
    "in_w": "input map width (LOAD2D) / pool input width (VEC)",
    "pix_stride": "elements from one input pixel to the next (the tensor's channels)",
    "out_w": "output width (im2col row i = output pixel (i div out_w, i mod out_w))",
    "cg": "input channels per group (K = kh*kw*cg, channels innermost)",
    "kh": "kernel height", "kw": "kernel width", "sh": "stride (rows)", "sw": "stride (columns)",
    "ph": "top padding", "pw": "left padding", "dh": "dilation (rows)",
    "dw": "dilation (columns)",
    "m0": "LOAD2D: first im2col row; GEMM: per-tensor M0; VEC: M0 of SUM",
    "m": "rows of A / output pixels of the tile (LOAD2D: 0 = NOP)",
    "k0": "first K index of the tile (K-split chunk)", "k": "K of the tile",
    "n": "output columns of the tile",
    "a_base": "activation words", "b_base": "weight words", "p_base": "parameter words",
    "c_base": "output words",
    "per_channel": "M0/shift from the parameter words", "bias_en": "add the parameter bias",
    "acc_in": "K-split: start from the accumulator buffer",
    "acc_out": "K-split: keep the sums in the accumulator buffer",
    "shift": "per-tensor shift (GEMM) / shift of SUM (VEC)",
    "rounding": "0 TRUNCATE, 1 HALF_UP, 2 HALF_AWAY, 3 HALF_EVEN",
    "wrap": "0 SATURATE, 1 WRAP", "lo": "output clamp low (signed)",
    "hi": "output clamp high (signed)",
    "pool_op": "MAX 0, AVG 1, SUM 2 (3 free)", "out_h": "pool output height",
    "win_h": "window height", "win_w": "window width", "stride_h": "stride (rows)",
    "stride_w": "stride (columns)", "pad_top": "top padding", "pad_left": "left padding",
    "pin_base": "pool input words (in the output buffer)",
    "reserved": "zero",
    "pad_bottom": "bottom padding (the padded extent of count_pad averages)",
    "pad_right": "right padding (the padded extent of count_pad averages)",
    "count_pad": "AVG divides by the taps inside the padded input (count_include_pad)",
}

_HEADER = ("opcode", "pop_prev", "pop_next", "push_prev", "push_next")
#: which opcodes use each format
_USERS = {"MEM": "LOAD, STORE", "LOAD2D": "LOAD2D", "GEMM": "GEMM", "VEC": "VEC", "END": "END"}


def field_tables() -> str:
    """Markdown: the common header once, then one table per format (bits ``[lo, hi)``)."""
    out = ["Common header (every format):", "", "| field | bits | meaning |",
           "| --- | --- | --- |"]
    for name, (pos, f) in offsets("END").items():
        out.append(f"| `{name}` | [{pos}, {pos + f.width}) | {MEANING[name]} |")
    for fmt in FORMATS:
        if fmt == "END":
            continue
        out += ["", f"{fmt} ({_USERS[fmt]}):", "", "| field | bits | width | meaning |",
                "| --- | --- | ---: | --- |"]
        for name, (pos, f) in offsets(fmt).items():
            if name in _HEADER:
                continue
            signed = ", signed" if f.signed else ""
            out.append(f"| `{name}` | [{pos}, {pos + f.width}) | {f.width}{signed} | "
                       f"{MEANING[name]} |")
    return "\n".join(out) + "\n"



