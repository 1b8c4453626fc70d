"""Compiled programs run on the functional interpreter: every layer read back from DRAM equals
the golden network, in both dataflows, under an adversarial (load-first) and a random unit
schedule; the compiler's refusals are one line; a dropped token or a corrupted weight is caught."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hwcnn import compiler as LW
from hwcnn.arch.config import Dataflow
from hwcnn.compiler.backend import compile_network
from hwcnn.compiler.progcheck import check_insn, check_program
from hwcnn.errors import ConfigError
from hwcnn.hw.layout import act_words, unpack_word
from hwcnn.isa import Buffer, MemMode, Opcode, ProgramError, make
from hwcnn.machine.program_exec import _Machine, check_compiled, run_program
from tests.conftest import graph_of, model_graph
from tests.test_execute import RESIDUAL, hw, setup

OS, WS = Dataflow.OUTPUT_STATIONARY, Dataflow.WEIGHT_STATIONARY

RESBLOCK = """name: resblock
input: [8, 6, 6]
layers:
  - {name: c1, kind: conv2d, filters: 8, kernel: 3, padding: 1, bias: false}
  - {name: bn1, kind: batchnorm}
  - {name: r1, kind: relu}
  - {name: c2, kind: conv2d, filters: 8, kernel: 3, padding: 1, bias: false}
  - {name: bn2, kind: batchnorm}
  - {name: add, kind: add, inputs: [bn2, input]}
  - {name: r2, kind: relu}
"""

MBV2 = """name: mbv2_block
input: [4, 6, 6]
layers:
  - {name: expand, kind: conv2d, filters: 12, kernel: 1, bias: false}
  - {name: bn1, kind: batchnorm}
  - {name: r1, kind: relu6}
  - {name: dw, kind: conv2d, filters: 12, kernel: 3, padding: 1, groups: 12, bias: false}
  - {name: bn2, kind: batchnorm}
  - {name: r2, kind: relu6}
  - {name: project, kind: conv2d, filters: 4, kernel: 1, bias: false}
  - {name: bn3, kind: batchnorm}
  - {name: add, kind: add, inputs: [bn3, input]}
"""

FIRE = """name: fire
input: [6, 6, 6]
layers:
  - {name: squeeze, kind: conv2d, filters: 3, kernel: 1, activation: relu}
  - {name: e1, kind: conv2d, filters: 5, kernel: 1, activation: relu}
  - {name: e3, kind: conv2d, filters: 5, kernel: 3, padding: 1, activation: relu,
     inputs: [squeeze]}
  - {name: cat, kind: concat, inputs: [e1, e3]}
  - {name: pool, kind: maxpool, kernel: 3, stride: 2, ceil_mode: true}
  - {name: gap, kind: global_avgpool}
"""

FLAT = """name: flat
input: [2, 6, 6]
layers:
  - {name: c, kind: conv2d, filters: 3, kernel: 3, stride: 2, padding: 1, activation: relu}
  - {name: f, kind: flatten}
  - {name: dr, kind: dropout}
  - {name: d, kind: dense, units: 4}
  - {name: s, kind: softmax}
"""

# Both average conventions on the vector unit: count_include_pad (padded extent, ceil mode
# border windows) and valid taps, with padding so border windows have fewer taps.
AVGPAD = """name: avgpad
input: [3, 7, 7]
layers:
  - {name: c, kind: conv2d, filters: 5, kernel: 3, padding: 1, activation: relu}
  - {name: a1, kind: avgpool, kernel: 3, stride: 2, padding: 1, count_include_pad: true,
     ceil_mode: true}
  - {name: a2, kind: avgpool, kernel: 2, stride: 1, padding: 1}
"""

# K chunks of whole kernel rows (4x4 array, 1 KiB buffers, WS: chunks of one row of 3 x 8
# channels): the compiler emits each as the whole K of a one-row kernel (codegen.row_window),
# with the top padding kept (conv), used up by a lower input start (conv_b's dilated rows,
# conv_c's unpadded ones).
ROWCHUNKS = """name: rowchunks
input: [8, 13, 11]
layers:
  - {name: conv, kind: conv2d, filters: 8, kernel: 3, padding: 1, activation: relu}
  - {name: conv_b, kind: conv2d, filters: 8, kernel: 3, padding: 2, dilation: 2}
  - {name: conv_c, kind: conv2d, filters: 8, kernel: 3, padding: 0}
"""

# torchvision AlexNet's tail: an adaptive average pool to the map's own size (one element per
# window: the identity, free on the accelerator), flatten and a dense layer
ADAPTIVE = """name: adaptive
input: [3, 6, 6]
layers:
  - {name: c, kind: conv2d, filters: 5, kernel: 3, padding: 1, activation: relu}
  - {name: ap, kind: adaptive_avgpool, output: 6}
  - {name: f, kind: flatten}
  - {name: d, kind: dense, units: 4}
"""

MODELS = {"tiny_cnn": None, "adaptive": ADAPTIVE, "avgpad": AVGPAD, "flat": FLAT, "lenet5": None, "resblock": RESBLOCK, "mbv2_block": MBV2,
          "fire": FIRE, "residual": RESIDUAL, "rowchunks": ROWCHUNKS}


def _graph(name: str):  # type: ignore[no-untyped-def]
    text = MODELS[name]
    return model_graph(name) if text is None else graph_of(text)


def _compiled(name: str, df: Dataflow, r: int = 4, c: int = 4, kib: int = 64, *,  # type: ignore[no-untyped-def]
              fuse_pool: bool = True, drain: int = 1):
    g = _graph(name)
    q, x = setup(g)
    prog = LW.lower(g, hw(df, r, c, kib, drain))
    return prog, q, x, compile_network(prog, q, x=x, fuse_pool=fuse_pool)


CASES = [(m, df, 4, 4, 64) for m in MODELS for df in (WS, OS)] + [
    ("tiny_cnn", WS, 3, 2, 64), ("tiny_cnn", OS, 3, 2, 64),
    ("lenet5", WS, 4, 4, 1), ("lenet5", OS, 4, 4, 1),      # K-split chains, pool bands
    ("fire", WS, 3, 2, 1), ("mbv2_block", OS, 3, 2, 1), ("resblock", WS, 2, 3, 1),
    ("rowchunks", WS, 4, 4, 1), ("rowchunks", OS, 4, 4, 1),
    ("adaptive", WS, 4, 4, 64), ("adaptive", OS, 4, 4, 1)]


@pytest.mark.parametrize("name, df, r, c, kib", CASES)
def test_whole_network_from_dram_equals_golden(name: str, df: Dataflow, r: int, c: int,
                                               kib: int) -> None:
    prog, q, x, comp = _compiled(name, df, r, c, kib)
    for schedule in ("eager", "store-first", "random"):
        res = check_compiled(comp, prog, q, x, schedule=schedule, seed=3)
        assert res.first_mismatch is None, (schedule, str(res.first_mismatch))
        assert res.ok and [c.name for c in res.layers] == [
            p.name for p in prog.layers if p.name not in comp.on_chip]
    out = res.layers[-1]
    assert out.match
    # not vacuous: the tile layers produce varied values
    assert len({int(v) for v in comp.image[comp.region("input").offset:][:64]}) > 1


@pytest.mark.parametrize("df, r, c, pack", [(WS, 4, 4, 4), (OS, 4, 4, 4), (OS, 3, 2, 1)])
def test_packed_depthwise_layer_runs_from_dram(df: Dataflow, r: int, c: int, pack: int) -> None:
    """The MobileNetV2 block's depthwise conv packs its groups (as many as the columns hold)
    in the 4x4 cases of CASES, so their golden match covers block-diagonal weights: the
    compiled LOAD2D gathers ``pack`` channels per tap. On OS 3x2 with 1 KiB packing two
    channels gives the same folds per channel (``max(18, 3, 2)`` for two against
    ``max(9, 3, 2)`` for one) and more weight bytes, so the layer stays unpacked. (On the
    Verilog, tests/test_soc_cocotb.py's 4x4 1 KiB build, the layer packs 4 channels in WS and
    3 in OS.)"""
    prog, _, _, comp = _compiled("mbv2_block", df, r, c, 64 if r == 4 else 1)
    dw = next(p for p in prog.layers if p.name == "dw")
    assert dw.pack == pack
    gathers = [i.get() for i, o in zip(comp.insns, comp.origin, strict=True)
               if i.op is Opcode.LOAD2D and o.startswith("layer 'dw'")]
    assert gathers and all(f["cg"] == pack for f in gathers)


@pytest.mark.parametrize("df", [WS, OS])
def test_pointwise_layers_load_pixels_instead_of_gathering(df: Dataflow) -> None:
    """In both dataflows the 1x1 convs of the MobileNetV2 block (and a dense layer on a 1x1
    map) load A with a PIXELS LOAD into ACT (same words as the gather: fold_stride = m; OS
    and WS share the activation layout), one byte stream from the tile's first pixel; the 3x3
    depthwise conv still gathers. (The golden match of CASES covers both;
    tests/test_soc_cocotb.py runs them on the Verilog.)"""
    _, _, _, comp = _compiled("mbv2_block", df)
    acts = {}
    for i, o in zip(comp.insns, comp.origin, strict=True):
        if o.startswith("layer '") and (i.op is Opcode.LOAD2D or (
                i.op is Opcode.LOAD and i["buffer"] == Buffer.ACT and i["rows"])):
            acts.setdefault(o.split("'")[1], []).append(i)
    for layer in ("expand", "project"):
        (ld,) = acts[layer]
        f = ld.get()
        assert ld.op is Opcode.LOAD and f["mode"] == MemMode.PIXELS
        assert (f["rows"], f["elems"], f["sram_stride"], f["fold_stride"]) == (
            36, 4 if layer == "expand" else 12, 1, 36)
        assert f["dram_stride"] == f["elems"]          # the whole pixel: contiguous
    assert all(i.op is Opcode.LOAD2D for i in acts["dw"])


def test_concat_is_free_strided_stores_into_one_tensor() -> None:
    _prog, _q, _x, comp = _compiled("fire", WS)
    cat = comp.address("cat")
    assert comp.address("e1") == cat and comp.address("e3") == cat + 5   # channel offset 5
    assert comp.views["e3"].pix_stride == 10
    assert not any(r.name in ("tensor:e1", "tensor:e3") for r in comp.regions)


def test_regions_are_aligned_and_disjoint() -> None:
    _, _, _, comp = _compiled("lenet5", OS)
    names = [r.name for r in comp.regions]
    assert names[:4] == ["program", "weights", "params", "input"]
    for a, b in zip(comp.regions, comp.regions[1:]):
        assert b.offset % 64 == 0 and b.offset >= a.offset + a.size
    assert comp.region("program").size == 32 * len(comp.insns)


def test_act_layout_round_trip() -> None:
    """The interpreter's GEMM reads A exactly as hw.layout.act_words packs it."""
    for df in (WS, OS):
        _, _, _, comp = _compiled("tiny_cnn", df, 3, 2)
        mach = _Machine(comp.target, np.zeros(16, np.uint8), 0)
        a = np.random.default_rng(1).integers(-128, 128, size=(7, 5))
        words = act_words(a, mach.cfg)
        mach.buf[Buffer.ACT][10:10 + len(words)] = [unpack_word(w, 3, 8) for w in words]
        assert np.array_equal(mach.read_a(10, 7, 5), a)






def test_dropped_barrier_or_token_is_caught() -> None:
    """Negative controls: without the DRAM barrier the load unit reads conv1's output before it
    is stored; without l2g the GEMM reads operands that were never loaded."""
    prog, q, x, comp = _compiled("tiny_cnn", WS)
    size = comp.regions[-1].offset + comp.regions[-1].size
    base = check_compiled(comp, prog, q, x)
    assert base.ok
    insns = list(comp.insns)
    barrier = [i for i, o in enumerate(comp.origin) if o == "barrier"
               and insns[i].op is Opcode.LOAD and insns[i]["buffer"] == Buffer.ACT]
    assert barrier
    cut = [make(Opcode.LOAD, buffer=Buffer.ACT) if i in barrier else ins
           for i, ins in enumerate(insns)]
    with pytest.raises(ProgramError):   # the checker refuses the unbalanced stream ...
        check_program(cut, comp.target)
    dram = run_program(cut, comp.target, comp.image, size, check=False)   # ... and it is wrong
    good = run_program(insns, comp.target, comp.image, size)
    assert not np.array_equal(dram, good)
    first = next(i for i, ins in enumerate(insns) if ins.op is Opcode.GEMM)
    f = insns[first].get()
    f.pop("opcode")
    f["pop_prev"] = 0
    nol2g = insns[:first] + [make(Opcode.GEMM, **f)] + insns[first + 1:]
    try:
        dram = run_program(nol2g, comp.target, comp.image, size, check=False,
                           schedule="store-first")
        assert not np.array_equal(dram, good)
    except ProgramError as exc:
        assert "overflows" in str(exc) or "deadlock" in str(exc)


def test_corrupted_weight_is_caught() -> None:
    prog, q, x, comp = _compiled("tiny_cnn", OS)
    w = comp.region("weights").offset
    img = bytearray(comp.image)
    img[w + 2] ^= 0x40
    bad = type(comp)(**{f: getattr(comp, f) for f in comp.__slots__ if f != "image"},
                     image=bytes(img))
    res = check_compiled(bad, prog, q, x)
    assert not res.ok and res.first_mismatch is not None
    # conv1 is pooled in the output buffer (never stored): the flip shows in pool1
    assert dict(comp.on_chip) == {"conv1": "pool1"}
    assert res.first_mismatch.layer == "pool1"


def test_refusals_are_one_line() -> None:
    prog, q, _x, _ = _compiled("tiny_cnn", WS)
    comp = compile_network(prog, q, fuse_pool=False)      # conv1's STORE is there
    insns = list(comp.insns)
    i = next(j for j, ins in enumerate(insns) if ins.op is Opcode.GEMM)
    f = insns[i].get()
    f.pop("opcode")
    f["a_base"] = comp.target.act - 4
    bad = insns[:i] + [make(Opcode.GEMM, **f)] + insns[i + 1:]
    with pytest.raises(ProgramError) as e:
        check_program(bad, comp.target, comp.origin)
    depth = comp.target.act
    assert str(e.value) == (f"layer 'conv1' tile 0: instruction {i} (GEMM): gemm tile: activation "
                            f"words [{depth - 4}, {depth + 188}) exceed the buffer depth {depth}")
    j = next(j for j, ins in enumerate(insns) if ins.op is Opcode.STORE and ins["rows"])
    f = insns[j].get()
    f.pop("opcode")
    f["dram_base"] = comp.target.dram_bytes - 8
    bad = insns[:j] + [make(Opcode.STORE, **f)] + insns[j + 1:]
    with pytest.raises(ProgramError) as e:
        check_program(bad, comp.target, comp.origin)
    end = comp.target.dram_bytes - 8 + 63 * 4 + 4
    assert str(e.value) == (f"layer 'conv1' tile 0: instruction {j} (STORE): DMA ends at byte "
                            f"{end}, outside the DRAM window of {comp.target.dram_bytes} bytes")
    with pytest.raises(ProgramError) as e:
        compile_network(prog, q, dram_bytes=2048, fuse_pool=False)
    total = comp.regions[-1].offset + comp.regions[-1].size
    assert str(e.value) == (f"the memory map needs {total} bytes, more than the DRAM window of "
                            "2048 bytes (--dram-bytes)")


def test_host_layers_are_refused() -> None:
    g = graph_of("name: h\ninput: [1, 6, 6]\nlayers:\n"
                 "  - {name: c, kind: conv2d, filters: 2, kernel: 3}\n"
                 "  - {name: t, kind: tanh}\n")
    q, _ = setup(g)
    with pytest.raises(ConfigError) as e:
        compile_network(LW.lower(g, hw(WS)), q)
    assert str(e.value) == ("layer 't': tanh runs on the host CPU; a compiled program cannot "
                            "contain it")


def test_an_adaptive_pool_is_free_only_at_its_input_s_size() -> None:
    """To the map's own size every window is one element: the layer is the identity, free
    (its tensor is its input's, no instruction); to another size it runs on the host and a
    program cannot contain it."""
    from hwcnn.compiler.plan import Unit

    prog, _, _, comp = _compiled("adaptive", WS)
    plan = {p.name: p for p in prog.layers}
    assert plan["ap"].unit is Unit.FREE and not plan["ap"].tiles
    assert comp.views["ap"] == comp.views["c"]
    assert not [o for o in comp.origin if "'ap'" in o]
    g = graph_of(ADAPTIVE.replace("output: 6", "output: 3"))
    assert {p.name: p for p in LW.lower(g, hw(WS)).layers}["ap"].unit is Unit.HOST
    q, _ = setup(g)
    with pytest.raises(ConfigError) as e:
        compile_network(LW.lower(g, hw(WS)), q)
    assert str(e.value) == ("layer 'ap': adaptive_avgpool runs on the host CPU; a compiled "
                            "program cannot contain it")


def test_undefined_codes_are_refused() -> None:
    _, _, _, comp = _compiled("tiny_cnn", OS)
    vec = make(Opcode.VEC, pool_op=3, in_h=1, in_w=1, out_h=1, out_w=1, win_h=1, win_w=1,
               stride_h=1, stride_w=1, pin_base=0, c_base=1, hi=1)
    with pytest.raises(ProgramError) as e:
        check_program([vec], comp.target)
    assert str(e.value) == "instruction 0 (VEC): pool_op 3 is not defined"
    f = vec.get()
    f.pop("opcode")
    with pytest.raises(ProgramError) as e:
        check_program([make(Opcode.VEC, **{**f, "pool_op": 0, "reserved": 1})], comp.target)
    assert str(e.value) == "instruction 0 (VEC): reserved bits are set"
    with pytest.raises(ProgramError) as e:
        check_program([make(Opcode.STORE, buffer=Buffer.WGT, rows=1)], comp.target)
    assert str(e.value) == "instruction 0 (STORE): STORE reads the WGT buffer (only OUT is stored)"


@pytest.mark.parametrize(("rows", "sram_stride", "elems", "fold_stride", "ok"), [
    (8, 1, 4, 0, True),        # one fold (C = 4): pixels one word apart
    (8, 2, 8, 1, True),        # two folds interleaved inside each pixel's two words
    (8, 1, 8, 8, True),        # two folds, each a block of 8 words
    (8, 1, 8, 4, False),       # fold 1 of pixel i is fold 0 of pixel i + 4
    (8, 0, 4, 0, False),       # every pixel into the same word
    (1, 0, 8, 0, False),       # both folds of the one pixel into the same word
])
def test_pixel_loads_that_write_a_word_twice_are_refused(rows: int, sram_stride: int,
                                                        elems: int, fold_stride: int,
                                                        ok: bool) -> None:
    _, _, _, comp = _compiled("tiny_cnn", WS)
    insn = make(Opcode.LOAD, buffer=Buffer.OUT, mode=MemMode.PIXELS, rows=rows, elems=elems,
                sram_stride=sram_stride, fold_stride=fold_stride, dram_stride=elems)
    # the words the test enumerates, independently of the rule
    words = [f * fold_stride + i * sram_stride for i in range(rows) for f in range(elems // 4)]
    assert (len(set(words)) == len(words)) is ok
    if ok:
        check_insn(insn, comp.target)
        return
    with pytest.raises(ProgramError) as e:
        check_program([insn], comp.target)
    assert str(e.value) == (f"instruction 0 (LOAD): PIXELS load: pixels {rows} x folds "
                            f"{elems // 4} with sram_stride {sram_stride} and fold_stride "
                            f"{fold_stride} write some buffer word twice")


def test_field_overflow_refused_by_the_compiler() -> None:
    """A dense layer over a 64x64 map: its LOAD2D kernel height 64 exceeds the 6-bit field."""
    g = graph_of("name: wide\ninput: [1, 64, 64]\nlayers:\n"
                 "  - {name: fc, kind: dense, units: 2}\n")
    q, _ = setup(g)
    prog = LW.lower(g, hw(WS))
    with pytest.raises(ProgramError) as e:
        compile_network(prog, q)
    assert str(e.value) == "layer 'fc' tile 0: LOAD2D: field kh = 64 does not fit 6 bits"


def _gather(geo: dict[str, int], k0: int, k: int, off: int, m0: int, m: int) -> list[int | None]:
    """Per pixel and chunk element (pixel-major), the DRAM element it reads, None for padding:
    the im2col of rtl/README.md (K in (ky, kx, c) order), written out naively."""
    out: list[int | None] = []
    for i in range(m0, m0 + m):
        oy, ox = divmod(i, geo["out_w"])
        for kk in range(k0, k0 + k):
            ky, kx = divmod(kk // geo["cg"], geo["kw"])
            y = oy * geo["sh"] - geo["ph"] + ky * geo["dh"]
            x = ox * geo["sw"] - geo["pw"] + kx * geo["dw"]
            inside = 0 <= y < geo["in_h"] and 0 <= x < geo["in_w"]
            out.append(off + (y * geo["in_w"] + x) * geo["pix_stride"] + kk % geo["cg"]
                       if inside else None)
    return out


def test_kernel_row_chunks_gather_the_same_elements() -> None:
    from hwcnn.compiler.codegen import row_window

    tried = 0
    for kh, dh, ph, sh, in_h, cg, kw in itertools.product(
            (1, 2, 3, 5), (1, 2, 3), (0, 1, 2, 4), (1, 2), (1, 4, 7), (1, 3), (1, 3)):
        out_h = (in_h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        if out_h < 1:
            continue
        geo = {"in_h": in_h, "in_w": 3, "pix_stride": cg + 1, "out_w": 3, "cg": cg, "kh": kh,
               "kw": kw, "sh": sh, "sw": 1, "ph": ph, "pw": 1, "dh": dh, "dw": 1}
        row = kw * cg
        m = out_h * 3
        for a, b in itertools.product(range(kh), range(1, kh + 1)):
            if a + b > kh:
                continue
            new, k0, off = row_window(geo, a * row, b * row, 1)
            want = _gather(geo, a * row, b * row, 0, 0, m)
            if (a, b) == (0, kh) or (k0, new) == (a * row, geo):
                # whole K, or every row of the chunk below the input: left as it is
                assert (new, k0, off) == (geo, a * row, 0)
                assert (a, b) == (0, kh) or all(e is None for e in want)
                continue
            assert k0 == 0 and new["kh"] == b and new["ph"] >= 0 and new["in_h"] >= 1
            assert _gather(new, 0, b * row, off, 0, m) == want, (geo, a, b)
            tried += 1
    assert tried > 500
    # chunks that cut a kernel row keep the geometry and k0
    geo = {"in_h": 5, "in_w": 5, "pix_stride": 4, "out_w": 5, "cg": 4, "kh": 3, "kw": 3,
           "sh": 1, "sw": 1, "ph": 1, "pw": 1, "dh": 1, "dw": 1}
    assert row_window(geo, 4, 12, 1) == (geo, 4, 0)
    assert row_window(geo, 12, 8, 1) == (geo, 12, 0)


def test_kernel_row_chunks_take_one_descriptor_per_pixel() -> None:
    # rowchunks under WS: every LOAD2D is a one-row kernel at k0 = 0; its gather issues one
    # DMA descriptor per pixel with an in-bounds element, where the chunk as cut from the
    # 3x3 kernel would issue one per in-bounds kernel position (three per interior pixel).
    from hwcnn.machine.socload import Im2colModel

    _, _, _, comp = _compiled("rowchunks", WS, 4, 4, 1)
    loads = [i.get() for i in comp.insns if i.op is Opcode.LOAD2D]
    assert loads and all(f["kh"] == 1 and f["k0"] == 0 and f["k"] == 24 for f in loads)
    for f in loads:
        descs = [d for _, d in Im2colModel(f, 0, 1, elements=False).script if d is not None]
        geo = {n: f[n] for n in ("in_h", "in_w", "pix_stride", "out_w", "cg", "kh", "kw", "sh",
                                 "sw", "ph", "pw", "dh", "dw")}
        elems = _gather(geo, 0, f["k"], 0, f["m0"], f["m"])
        pixels = [elems[i * f["k"]:(i + 1) * f["k"]] for i in range(f["m"])]
        assert len(descs) == sum(any(e is not None for e in p) for p in pixels)
        assert all(d.rows * d.row_bytes == sum(e is not None for e in p)
                   for d, p in zip(descs, [p for p in pixels if any(e is not None for e in p)],
                                   strict=True))


def test_same_inputs_same_bytes() -> None:
    a = _compiled("fire", OS)[3]
    b = _compiled("fire", OS)[3]
    assert a.image == b.image and a.insns == b.insns


@pytest.mark.slow
@pytest.mark.parametrize("df", [WS, OS])
def test_squeezenet_from_dram_equals_golden(df: Dataflow) -> None:
    """The whole SqueezeNet 1.1 (fire concats, ceil-mode pools, global average) on 16x16."""
    g = model_graph("squeezenet1_1")
    q, x = setup(g)
    prog = LW.lower(g, hw(df, 16, 16))
    res = check_compiled(compile_network(prog, q, x=x), prog, q, x)
    assert res.ok, str(res.first_mismatch)


def test_weights_are_packed_from_their_narrowest_integer_type() -> None:
    """VGG16's fc6 has 103 M weights: as int64 its B operand and the (ky, kx, c) permutation
    of it took 1.6 GB while compiling; the compiler keeps B in the narrowest signed type
    that holds the weights (and the packed image is the same as from int64)."""
    from hwcnn.compiler.codegen import _narrowest
    from hwcnn.compiler.qparams import gemm_b
    from hwcnn.frontend import layers as L

    assert _narrowest(np.array([-128, 127])) is np.int8
    assert _narrowest(np.array([-129, 0])) is np.int16
    assert _narrowest(np.array([0, 32768])) is np.int32
    assert _narrowest(np.array([-(1 << 31) - 1])) is np.int64
    assert _narrowest(np.zeros(0, np.int64)) is np.int8
    layer = L.Dense(name="fc", inputs=("x",), units=3)
    w = np.array([[1, -2, 3, -4], [5, -6, 7, -8], [-128, 127, 0, 1]], dtype=np.int8)
    b8, b64 = gemm_b(layer, w, np.int8), gemm_b(layer, w)
    assert b8.dtype == np.int8 and b64.dtype == np.int64
    assert np.array_equal(b8, b64) and b8.shape == (1, 4, 3)
