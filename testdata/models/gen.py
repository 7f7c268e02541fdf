#!/usr/bin/python3
"""Generate ONNX test fixtures for onnxtune from PyTorch.

Usage (always with Debian's /usr/bin/python3, which has torch 1.13, torchvision 0.14, onnx 1.12):

    /usr/bin/python3 testdata/models/gen.py small [--force]
        (Re)writes the small committed fixtures next to this script.

    /usr/bin/python3 testdata/models/gen.py large OUTDIR [--opset N] [--preserve-bn]
                                                  [--models a,b] [--batch B] [--force]
        Exports torchvision resnet18, mobilenet_v2, squeezenet1_1 (random weights, seeded)
        at 1x3x224x224 with a dynamic batch axis into OUTDIR/<name>[_opN][_bn].onnx.
        Opsets 18 to 21, which torch 1.13 and onnx 1.12 do not know, are the opset-17 export
        with the forms that changed rewritten (see modernize); asking for any of them writes
        all four.

Every model <name>.onnx gets a <name>.io.npz (uncompressed, np.savez layout) holding the input
under "x" and every PyTorch output (eval mode, computed by PyTorch, not onnxruntime) under its
ONNX output name.

A target whose files all exist and are newer than this script is skipped (torch is not even
imported when everything is up to date), unless --force is given. One line is printed per file
written. Output is deterministic: re-running with --force gives byte-identical files.
"""

import argparse
import io
import os
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.abspath(__file__)

LARGE = ["resnet18", "mobilenet_v2", "squeezenet1_1"]
# Opsets written by rewriting the opset-17 export, each with the IR version it came with.
MODERN = {18: 8, 19: 9, 20: 9, 21: 10}
SMALL = ["tiny_cnn", "tiny_cnn_bn", "resblock", "mixed_ops", "two_heads", "shared_weight",
         "ext_data/model", "meta"]
# Fixtures whose initializer names equal their parameter names get PyTorch gradients.
SMALL_GRADS = ["tiny_cnn_bn", "resblock", "mixed_ops", "two_heads", "shared_weight"]


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("small", help="committed fixtures in testdata/models")
    s.add_argument("--outdir", default=HERE)
    s.add_argument("--force", action="store_true", help="regenerate even if up to date")
    lg = sub.add_parser("large", help="torchvision models into OUTDIR")
    lg.add_argument("outdir")
    lg.add_argument("--opset", type=int, default=13)
    lg.add_argument("--preserve-bn", action="store_true",
                    help="keep BatchNormalization (no constant folding, TrainingMode.PRESERVE)")
    lg.add_argument("--models", default=",".join(LARGE),
                    help="comma-separated torchvision model names (default: " + ",".join(LARGE) + ")")
    lg.add_argument("--size", type=int, default=224, help="input height and width")
    lg.add_argument("--grads", action="store_true",
                    help="also write NAME.grad.npz: PyTorch gradients under cross-entropy and MSE")
    lg.add_argument("--batch", type=int, default=2, help="batch size of the .io.npz input")
    lg.add_argument("--force", action="store_true", help="regenerate even if up to date")
    a = ap.parse_args(argv)
    if a.cmd == "large":
        a.models = [m for m in a.models.split(",") if m]
        for m in a.models:
            if m not in LARGE:
                import torchvision.models as tvm

                if not callable(getattr(tvm, m, None)):
                    ap.error("unknown torchvision model %r" % m)
    return a


def up_to_date(paths):
    """True when every path exists and is newer than this script."""
    ref = os.path.getmtime(SCRIPT)
    for p in paths:
        if not os.path.exists(p) or os.path.getmtime(p) <= ref:
            return False
    return True


def large_name(model, opset, preserve_bn, size=224):
    """File stem of a large model; the variant is only encoded when not the default."""
    n = model
    if opset != 13:
        n += "_op%d" % opset
    if preserve_bn:
        n += "_bn"
    if size != 224:
        n += "_s%d" % size
    return n


def small_targets(outdir):
    t = []
    for n in SMALL:
        t += [os.path.join(outdir, n + ".onnx"), os.path.join(outdir, n + ".io.npz")]
    t.append(os.path.join(outdir, "ext_data", "model.onnx.data"))
    t += [os.path.join(outdir, n + ".grad.npz") for n in SMALL_GRADS]
    return t


def large_targets(outdir, model, opset, preserve_bn, size=224, grads=False):
    """Every file one generation writes: for an opset of MODERN, those of all four."""
    out = []
    for o in (sorted(MODERN) if opset in MODERN else [opset]):
        base = os.path.join(outdir, large_name(model, o, preserve_bn, size))
        out += [base + ".onnx", base + ".io.npz"] + ([base + ".grad.npz"] if grads else [])
    return out


# Cheap exit before importing torch (seconds) when every requested file is up to date.
if __name__ == "__main__":
    ARGS = parse_args(sys.argv[1:])
    if not ARGS.force:
        if ARGS.cmd == "small":
            _todo = small_targets(ARGS.outdir)
        else:
            _todo = [p for m in ARGS.models
                     for p in large_targets(ARGS.outdir, m, ARGS.opset, ARGS.preserve_bn,
                                            ARGS.size, ARGS.grads)]
        if up_to_date(_todo):
            sys.exit(0)

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnx.numpy_helper  # noqa: E402
import onnx.shape_inference  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(1)  # bit-reproducible reference outputs


# ---------------------------------------------------------------------------------------------
# helpers


def rel(path):
    r = os.path.relpath(path)
    return path if r.startswith("..") else r


def save_npz(path, arrays):
    """np.savez-compatible uncompressed .npz with fixed zip timestamps (np.savez stamps the
    current time into the archive, which would make re-runs differ byte-wise)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for key, arr in arrays.items():
            data = io.BytesIO()
            np.lib.format.write_array(data, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data.getvalue())
    with open(path, "wb") as f:
        f.write(buf.getvalue())
    print("wrote %s (%d bytes)" % (rel(path), os.path.getsize(path)))


def perturb_(model, seed, scale=0.05):
    """Make every float parameter/buffer distinct and non-trivial (the exporter merges
    initializers with equal values, and default BN stats make BN an identity)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=g))
            elif name.endswith("running_mean"):
                t.copy_(0.2 * torch.randn(t.shape, generator=g))
            else:
                t.add_(scale * torch.randn(t.shape, generator=g))
    return model


def perturb_large_(model, seed):
    """Non-trivial BN statistics/affine params for the torchvision models, and noise on any
    parameter whose elements are all equal (zero-initialised biases). Other weights keep their
    seeded torchvision init. Without the latter the exporter merges the equal zero biases into
    one initializer fed to the others through Identity nodes (squeezenet1_1 gets 18)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
                if m.affine:
                    m.weight.add_(0.1 * torch.randn(m.weight.shape, generator=g))
                    m.bias.add_(0.1 * torch.randn(m.bias.shape, generator=g))
        for _, p in model.named_parameters():
            if p.numel() > 1 and bool((p == p.flatten()[0]).all()):
                p.add_(0.01 * torch.randn(p.shape, generator=g))
    return model


def export(model, x, output_names, opset, preserve_bn=False, fold=None, check=True, dynamic=True):
    """torch.onnx.export with input "x", dynamic batch on input and all outputs (fixed at
    x's batch size with dynamic=False, as an export without dynamic_axes writes it).

    preserve_bn: do_constant_folding=False + TrainingMode.PRESERVE (BatchNormalization kept,
    initializer names = parameter names). Otherwise the default export (folding on, BN folded
    into Conv). fold overrides do_constant_folding.
    """
    model.eval()
    if fold is None:
        fold = not preserve_bn
    kwargs = {}
    if preserve_bn:
        kwargs["training"] = torch.onnx.TrainingMode.PRESERVE
    dyn = {"x": {0: "batch"}}
    for n in output_names:
        dyn[n] = {0: "batch"}
    if not dynamic:
        dyn = None
    f = io.BytesIO()
    torch.onnx.export(
        model, (x,), f,
        input_names=["x"], output_names=list(output_names), dynamic_axes=dyn,
        opset_version=opset, do_constant_folding=fold, **kwargs)
    m = onnx.load_from_string(f.getvalue())
    if check:
        onnx.checker.check_model(m, full_check=True)
    return m


# The operators that took their axes as an input instead of an attribute at opset 18 (ReduceSum
# did at 13). Nothing else torch 1.13 writes at opset 17 changed meaning or form by opset 21:
# Split's split and Pad's pads are inputs already, and the attributes added since (Resize's
# antialias, Pad's axes, AveragePool's dilations, Cast's saturate) default to what 17 did.
REDUCE_AXES_INPUT = {"ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                     "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"}


def modernize(m, opset):
    """Returns a copy of the opset-17 model m in the form of opset 18 to 21: the reductions'
    axes moved to an int64 initializer input, the default domain's opset and the IR version
    raised. onnx 1.12's checker knows neither, so none is run; ONNX Runtime reads the result."""
    out = onnx.ModelProto()
    out.CopyFrom(m)
    g = out.graph
    for i, node in enumerate(g.node):
        if node.domain not in ("", "ai.onnx") or node.op_type not in REDUCE_AXES_INPUT:
            continue
        for a in node.attribute:
            if a.name == "axes":
                name = "%s_axes_%d" % (node.op_type, i)
                g.initializer.append(onnx.numpy_helper.from_array(np.array(a.ints, dtype=np.int64), name))
                node.input.append(name)
                node.attribute.remove(a)
                break
    for imp in out.opset_import:
        if imp.domain in ("", "ai.onnx"):
            imp.version = opset
    out.ir_version = MODERN[opset]
    return out


def save_onnx(m, path):
    data = m.SerializeToString()
    with open(path, "wb") as f:
        f.write(data)
    print("wrote %s (%d bytes)" % (rel(path), len(data)))


def reference_io(model, x, output_names):
    model.eval()
    with torch.no_grad():
        out = model(x)
    if isinstance(out, torch.Tensor):
        out = (out,)
    assert len(out) == len(output_names)
    d = {"x": x.numpy()}
    for n, t in zip(output_names, out):
        d[n] = t.numpy()
    return d


def reference_grads(model, x, onnx_model):
    """PyTorch autograd references for onnxtune's gradient tests: for the first output, the
    loss and the gradient of every parameter under F.cross_entropy against seeded class
    targets (when the output is [N, C]) and under F.mse_loss against a seeded normal target.
    Keys: target_ce, loss_ce, ce/<param>, target_mse, loss_mse, mse/<param>. Returns None when
    the export renamed parameters (BN folding), since gradients are matched by name."""
    inits = {i.name for i in onnx_model.graph.initializer}
    params = list(model.named_parameters())
    if not all(n in inits for n, _ in params):
        return None
    model.eval()
    g = torch.Generator().manual_seed(99)

    def first(out):
        return out[0] if isinstance(out, (tuple, list)) else out

    with torch.no_grad():
        shape = first(model(x)).shape
    d = {}
    losses = []
    if len(shape) == 2:
        t = torch.randint(0, shape[1], (shape[0],), generator=g)
        losses.append(("ce", t, lambda y, t: F.cross_entropy(y, t)))
    losses.append(("mse", torch.randn(shape, generator=g), lambda y, t: F.mse_loss(y, t)))
    for key, target, fn in losses:
        model.zero_grad()
        loss = fn(first(model(x)), target)
        loss.backward()
        d["target_" + key] = target.numpy()
        d["loss_" + key] = np.array(loss.item(), np.float32)
        for n, p in params:
            gr = p.grad if p.grad is not None else torch.zeros_like(p)  # not on the path: zero
            d[key + "/" + n] = gr.detach().numpy().copy()
    model.zero_grad()
    return d


def save_grads(path, model, x, onnx_model):
    d = reference_grads(model, x, onnx_model)
    if d is not None:
        save_npz(path, d)


def sample_input(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float32)


# ---------------------------------------------------------------------------------------------
# small models


class TinyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(16)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        x = F.relu(self.bn2(self.conv2(x)))
        return self.fc(torch.flatten(self.gap(x), 1))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + idt)


class ResNetTiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.layer1 = BasicBlock(8, 8)
        self.layer2 = BasicBlock(8, 16, stride=2)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


class MixedOps(nn.Module):
    """Awkward attributes. Shapes for a 32x32 input are noted per line."""

    def __init__(self):
        super().__init__()
        self.pad = nn.ZeroPad2d((1, 2, 0, 1))                         # 3x33x35
        self.dil = nn.Conv2d(3, 8, 3, dilation=2)                     # 8x29x31
        self.act1 = nn.LeakyReLU(0.1)
        self.group = nn.Conv2d(8, 8, 3, padding=1, groups=2)          # 8x29x31
        self.act2 = nn.Hardswish()
        self.mpool = nn.MaxPool2d(2, 2, padding=1, ceil_mode=True)    # 8x15x16 (last window
                                                                      # would start in padding)
        self.dw = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8)   # 8x8x8
        self.act3 = nn.ELU()
        self.apool_inc = nn.AvgPool2d(3, 2, padding=1, ceil_mode=True,
                                      count_include_pad=True)         # 8x5x5 from 8x8x9
        self.apool_exc = nn.AvgPool2d(2, 2, padding=1, ceil_mode=True,
                                      count_include_pad=False)        # 8x5x5 from 8x8x8
        self.pw = nn.Conv2d(16, 12, 1)
        self.relu6 = nn.ReLU6()
        self.drop = nn.Dropout(0.3)
        # ORT 1.30 loads this model only because this floor-mode pool maps both PyTorch's 4x4
        # and the 4x5 that ORT's shape inference expects (it lacks the ceil_mode drop rule for
        # mpool, while its kernels apply it) to 2x2; a Flatten of a 4x4 map into the Linear
        # would make ORT reject the model (Gemm: "Dimension mismatch ... 192 and 240").
        self.avg = nn.AvgPool2d(2)                                    # 12x2x2
        self.fc = nn.Linear(12 * 2 * 2, 10)

    def forward(self, x):
        x = self.act1(self.dil(self.pad(x)))
        x = self.mpool(self.act2(self.group(x)))
        x = self.act3(self.dw(x))                                     # 8x8x8
        a = self.apool_inc(F.pad(x, (0, 1, 0, 0)))                    # 8x5x5
        a = torch.sigmoid(a) * torch.tanh(a)
        b = self.apool_exc(x)                                         # 8x5x5
        b = F.hardsigmoid(b) + F.softplus(b)
        y = F.max_pool2d(torch.cat([a, b], 1), 2, 1)                  # 16x4x4
        y = self.drop(self.relu6(self.pw(y) * 3.0))
        return F.log_softmax(self.fc(torch.flatten(self.avg(y), 1)), dim=1)


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.cls = nn.Linear(16, 5)
        self.box = nn.Linear(16, 4)

    def forward(self, x):
        h = self.trunk(x)
        return self.cls(h), self.box(h)


class SharedWeight(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1)
        self.conv = nn.Conv2d(8, 8, 3, padding=1)   # used twice
        self.fc = nn.Linear(8, 8)                   # used twice
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        x = F.relu(self.stem(x))
        x = F.relu(self.conv(x))
        x = F.relu(self.conv(x))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        x = F.relu(self.fc(x))
        x = F.relu(self.fc(x))
        return self.head(x)


class MetaNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv(x)), 2)
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class ViewNet(nn.Module):
    """Flattens with x.view(x.size(0), -1): traced at a fixed size, the size is a constant."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 7 * 7, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv(x)), 4)
        return self.fc(x.view(x.size(0), -1))


FIXED = ["fixed_batch", "fixed_batch_view", "fixed_batch_view_folded"]


def gen_fixed(outdir, force):
    """Models exported without dynamic_axes: their batch dimension fixed at 4. fixed_batch
    (tiny_cnn's network) computes the same for any batch; the two ViewNets bake 4 into a
    Reshape's shape, as a Concat of constants or (folded) as one constant."""
    targets = [os.path.join(outdir, n + ext) for n in FIXED for ext in (".onnx", ".io.npz")]
    if not force and up_to_date(targets):
        return
    torch.manual_seed(21)
    tiny = perturb_(TinyCNN(), seed=121).eval()
    x = sample_input((4, 1, 28, 28), seed=31)
    m = export(tiny, x, ["logits"], opset=13, dynamic=False)
    assert m.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 4
    save_onnx(m, os.path.join(outdir, "fixed_batch.onnx"))
    save_npz(os.path.join(outdir, "fixed_batch.io.npz"), reference_io(tiny, x, ["logits"]))
    torch.manual_seed(22)
    view = ViewNet().eval()
    for name, fold in (("fixed_batch_view", False), ("fixed_batch_view_folded", True)):
        m = export(view, x, ["logits"], opset=13, fold=fold, dynamic=False)
        save_onnx(m, os.path.join(outdir, name + ".onnx"))
        save_npz(os.path.join(outdir, name + ".io.npz"), reference_io(view, x, ["logits"]))


def _check_distinct_initializers(m, what):
    seen = {}
    for init in m.graph.initializer:
        key = (init.data_type, tuple(init.dims), onnx.numpy_helper.to_array(init).tobytes())
        if key in seen:
            raise SystemExit("%s: initializers %s and %s are equal" % (what, seen[key], init.name))
        seen[key] = init.name


def _check_param_names(m, model, what):
    params = {n for n, _ in model.named_parameters()} | {n for n, _ in model.named_buffers()}
    names = [i.name for i in m.graph.initializer]
    bad = [n for n in names if n not in params]
    if bad:
        raise SystemExit("%s: initializer names not parameter names: %s" % (what, bad))


def add_metadata(m):
    m = onnx.shape_inference.infer_shapes(m, check_type=True, strict_mode=True)
    assert len(m.graph.value_info) > 0
    m.doc_string = "onnxtune fixture: model doc_string survives a round trip."
    m.graph.doc_string = "Graph doc_string: unicode too \u2713."
    for i, node in enumerate(m.graph.node):
        node.doc_string = "node %d (%s) doc_string" % (i, node.op_type)
    for k, v in [("author", "onnxtune"), ("license", "none"), ("empty", ""),
                 ("unicode", "\u00e9t\u00e9 \u2192 \u6f22\u5b57")]:
        p = m.metadata_props.add()
        p.key, p.value = k, v
    m.graph.input[0].doc_string = "input doc_string"
    m.graph.output[0].doc_string = "output doc_string"
    m.graph.value_info[0].doc_string = "value_info doc_string"
    m.graph.initializer[0].doc_string = "initializer doc_string"
    return m


def gen_small(outdir, force):
    if not force and up_to_date(small_targets(outdir)):
        return

    def P(n):
        return os.path.join(outdir, n)

    # 1, 2: tiny_cnn (folded) and tiny_cnn_bn (BN kept); same perturbed weights.
    torch.manual_seed(1)
    tiny = perturb_(TinyCNN(), seed=101).eval()
    x = sample_input((2, 1, 28, 28), seed=11)
    io_tiny = reference_io(tiny, x, ["logits"])
    m = export(tiny, x[:1], ["logits"], opset=13)
    save_onnx(m, P("tiny_cnn.onnx"))
    save_npz(P("tiny_cnn.io.npz"), io_tiny)

    m_bn = export(tiny, x[:1], ["logits"], opset=13, preserve_bn=True)
    _check_distinct_initializers(m_bn, "tiny_cnn_bn")
    _check_param_names(m_bn, tiny, "tiny_cnn_bn")
    assert any(n.op_type == "BatchNormalization" for n in m_bn.graph.node)
    save_onnx(m_bn, P("tiny_cnn_bn.onnx"))
    save_npz(P("tiny_cnn_bn.io.npz"), io_tiny)
    save_grads(P("tiny_cnn_bn.grad.npz"), tiny, x, m_bn)

    # 7: ext_data/model.onnx = tiny_cnn_bn with every initializer in model.onnx.data.
    os.makedirs(P("ext_data"), exist_ok=True)
    ext = onnx.load_from_string(m_bn.SerializeToString())
    for stale in ("model.onnx", "model.onnx.data"):
        if os.path.exists(P("ext_data/" + stale)):
            os.remove(P("ext_data/" + stale))  # onnx appends to an existing data file
    onnx.save_model(ext, P("ext_data/model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="model.onnx.data", size_threshold=0)
    onnx.checker.check_model(P("ext_data/model.onnx"), full_check=True)
    chk = onnx.load(P("ext_data/model.onnx"), load_external_data=False)
    assert all(i.data_location == onnx.TensorProto.EXTERNAL for i in chk.graph.initializer)
    for f in ("model.onnx", "model.onnx.data"):
        print("wrote %s (%d bytes)" % (rel(P("ext_data/" + f)), os.path.getsize(P("ext_data/" + f))))
    save_npz(P("ext_data/model.io.npz"), io_tiny)

    # 3: resblock, opset 11, BN kept.
    torch.manual_seed(3)
    rb = perturb_(ResNetTiny(), seed=103).eval()
    x = sample_input((2, 3, 32, 32), seed=13)
    m = export(rb, x[:1], ["logits"], opset=11, preserve_bn=True)
    _check_distinct_initializers(m, "resblock")
    _check_param_names(m, rb, "resblock")
    save_onnx(m, P("resblock.onnx"))
    save_npz(P("resblock.io.npz"), reference_io(rb, x, ["logits"]))
    save_grads(P("resblock.grad.npz"), rb, x, m)

    # 4: mixed_ops, opset 17.
    torch.manual_seed(4)
    mo = MixedOps().eval()
    x = sample_input((2, 3, 32, 32), seed=14)
    m = export(mo, x[:1], ["logits"], opset=17)
    save_onnx(m, P("mixed_ops.onnx"))
    save_npz(P("mixed_ops.io.npz"), reference_io(mo, x, ["logits"]))
    save_grads(P("mixed_ops.grad.npz"), mo, x, m)

    # 5: two_heads, opset 13.
    torch.manual_seed(5)
    th = TwoHeads().eval()
    x = sample_input((2, 3, 32, 32), seed=15)
    m = export(th, x[:1], ["logits", "box"], opset=13)
    save_onnx(m, P("two_heads.onnx"))
    save_npz(P("two_heads.io.npz"), reference_io(th, x, ["logits", "box"]))
    save_grads(P("two_heads.grad.npz"), th, x, m)

    # 6: shared_weight, opset 13, no folding.
    torch.manual_seed(6)
    sw = SharedWeight().eval()
    x = sample_input((2, 1, 28, 28), seed=16)
    m = export(sw, x[:1], ["logits"], opset=13, fold=False)
    uses = {}
    for node in m.graph.node:
        for i in node.input:
            uses[i] = uses.get(i, 0) + 1
    for w in ("conv.weight", "conv.bias", "fc.weight", "fc.bias"):
        assert uses.get(w) == 2, (w, uses.get(w))
    save_onnx(m, P("shared_weight.onnx"))
    save_npz(P("shared_weight.io.npz"), reference_io(sw, x, ["logits"]))
    save_grads(P("shared_weight.grad.npz"), sw, x, m)

    # 8: meta, opset 13, with metadata/doc strings/value_info added after export.
    torch.manual_seed(8)
    mn = MetaNet().eval()
    x = sample_input((2, 1, 16, 16), seed=18)
    m = add_metadata(export(mn, x[:1], ["logits"], opset=13))
    onnx.checker.check_model(m, full_check=True)
    save_onnx(m, P("meta.onnx"))
    save_npz(P("meta.io.npz"), reference_io(mn, x, ["logits"]))


# ---------------------------------------------------------------------------------------------
# large models (not committed)


def _tv(name):
    import torchvision.models as tvm

    return getattr(tvm, name)(weights=None)


def gen_large(outdir, models, opset, preserve_bn, batch, force, size=224, grads=False):
    os.makedirs(outdir, exist_ok=True)
    for name in models:
        targets = large_targets(outdir, name, opset, preserve_bn, size, grads)
        if not force and up_to_date(targets):
            continue
        torch.manual_seed(0)
        model = perturb_large_(_tv(name), seed=1000).eval()
        x = sample_input((batch, 3, size, size), seed=7)
        m = export(model, x[:1], ["logits"], opset=min(opset, 17), preserve_bn=preserve_bn)
        _check_distinct_initializers(m, name)
        io_ref = reference_io(model, x, ["logits"])
        d = reference_grads(model, x, m) if grads else None
        assert not grads or d is not None, "%s: export renamed parameters; use --preserve-bn" % name
        per = 3 if grads else 2
        for k, o in enumerate(sorted(MODERN) if opset in MODERN else [opset]):
            t = targets[k * per:(k + 1) * per]
            save_onnx(modernize(m, o) if o in MODERN else m, t[0])
            save_npz(t[1], io_ref)
            if grads:
                save_npz(t[2], d)


def main(a):
    if a.cmd == "small":
        gen_small(a.outdir, a.force)
        gen_fixed(a.outdir, a.force)
    else:
        gen_large(a.outdir, a.models, a.opset, a.preserve_bn, a.batch, a.force, a.size, a.grads)


if __name__ == "__main__":
    main(ARGS)
