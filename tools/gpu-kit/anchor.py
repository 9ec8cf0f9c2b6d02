"""The GPU kit's native anchor: FLUX's double and single transformer block in PyTorch.

Reads the kit's transformer checkpoint (diffusers layout, safetensors, the same random
weights the ONNX shards were converted from), then
  1. checks: runs both blocks in float32 (TF32 off) on the kit's check inputs and compares
     them with the onnxruntime CPU EP's fp32 outputs (relative L2 of the residual update),
     which shows that this is the same function as the ONNX shards;
  2. times both blocks in bfloat16 at each image size (CUDA events, warm-up, median);
  3. measures PyTorch's bf16 and fp32 (TF32 off) matmul rates.
Prints progress on stderr and one JSON object as the last line of stdout.

  python3 anchor.py --checkpoint DIR --check DIR --sizes 512,1024 --text-tokens 256 --flops JSON
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import torch
import torch.nn.functional as F

DTYPES = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32}


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


def load_safetensors(folder):
    """Every tensor of the folder's safetensors files (single file or shards), on the CPU."""
    tensors = {}
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".safetensors"):
            continue
        with open(os.path.join(folder, name), "rb") as f:
            data = f.read()
        (length,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + length])
        base = 8 + length
        for key, info in header.items():
            if key == "__metadata__":
                continue
            start, end = info["data_offsets"]
            raw = bytearray(data[base + start : base + end])
            tensors[key] = torch.frombuffer(raw, dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
    return tensors


def rope_tables(text_tokens, h, w, axes, theta=10000.0):
    """cos, sin [tokens, head_dim/2] for text (ids 0) then the image ids (0, row, col), as FluxPosEmbed."""
    ids = torch.zeros(text_tokens + (h // 2) * (w // 2), 3, dtype=torch.float64)
    rows = torch.arange(h // 2, dtype=torch.float64)[:, None].expand(h // 2, w // 2)
    cols = torch.arange(w // 2, dtype=torch.float64)[None, :].expand(h // 2, w // 2)
    ids[text_tokens:, 1] = rows.reshape(-1)
    ids[text_tokens:, 2] = cols.reshape(-1)
    angles = []
    for axis, dim in enumerate(axes):
        freqs = 1.0 / theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim)
        angles.append(ids[:, axis : axis + 1] * freqs[None, :])
    angle = torch.cat(angles, dim=1)
    return torch.cos(angle).float(), torch.sin(angle).float()


class Blocks:
    """FLUX double/single block math (diffusers FluxTransformerBlock / FluxSingleTransformerBlock)."""

    def __init__(self, weights, config, device, dtype):
        self.w = {k: v.to(device=device, dtype=dtype) for k, v in weights.items()}
        self.heads = config["num_attention_heads"]
        self.head_dim = config["attention_head_dim"]
        self.dim = self.heads * self.head_dim

    def lin(self, x, name, bias=True):
        return F.linear(x, self.w[name + ".weight"], self.w.get(name + ".bias") if bias else None)

    def ln(self, x):
        return F.layer_norm(x, (x.shape[-1],), eps=1e-6)

    def head_norm(self, x, name):
        b, s, _ = x.shape
        x = x.view(b, s, self.heads, self.head_dim)
        var = x.float().pow(2).mean(-1, keepdim=True)
        x = (x.float() * torch.rsqrt(var + 1e-6)).to(x.dtype) * self.w[name + ".weight"]
        return x

    def rope(self, x, cos, sin):
        # x [B, S, H, D]; interleaved pairs (2i, 2i+1) rotated by angle[pos, i]
        b, s, h, d = x.shape
        pairs = x.float().view(b, s, h, d // 2, 2)
        x0, x1 = pairs[..., 0], pairs[..., 1]
        c, sn = cos[None, :, None, :], sin[None, :, None, :]
        out = torch.stack((x0 * c - x1 * sn, x1 * c + x0 * sn), dim=-1)
        return out.view(b, s, h, d).to(x.dtype)

    def attention(self, q, k, v):
        # [B, S, H, D] → [B, S, H·D]
        q, k, v = (t.transpose(1, 2).contiguous() for t in (q, k, v))
        if hasattr(F, "scaled_dot_product_attention"):
            o = F.scaled_dot_product_attention(q, k, v)
        else:
            o = torch.softmax((q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1]), dim=-1) @ v
        return o.transpose(1, 2).reshape(q.shape[0], q.shape[2], -1)

    def qkv(self, x, names, norms, prefix):
        q = self.head_norm(self.lin(x, f"{prefix}.{names[0]}"), f"{prefix}.{norms[0]}")
        k = self.head_norm(self.lin(x, f"{prefix}.{names[1]}"), f"{prefix}.{norms[1]}")
        v = self.lin(x, f"{prefix}.{names[2]}").view(x.shape[0], x.shape[1], self.heads, self.head_dim)
        return q, k, v

    def ff(self, x, prefix):
        return self.lin(F.gelu(self.lin(x, f"{prefix}.net.0.proj"), approximate="tanh"), f"{prefix}.net.2")

    def double(self, img, txt, temb, cos, sin, p="transformer_blocks.0"):
        t = F.silu(temb)
        sm, cm, gm, sf, cf, gf = self.lin(t, f"{p}.norm1.linear").chunk(6, dim=-1)
        csm, ccm, cgm, csf, ccf, cgf = self.lin(t, f"{p}.norm1_context.linear").chunk(6, dim=-1)
        img_n = self.ln(img) * (1 + cm[:, None]) + sm[:, None]
        txt_n = self.ln(txt) * (1 + ccm[:, None]) + csm[:, None]
        q, k, v = self.qkv(img_n, ("to_q", "to_k", "to_v"), ("norm_q", "norm_k"), f"{p}.attn")
        tq, tk, tv = self.qkv(txt_n, ("add_q_proj", "add_k_proj", "add_v_proj"), ("norm_added_q", "norm_added_k"), f"{p}.attn")
        q = self.rope(torch.cat((tq, q), 1), cos, sin)
        k = self.rope(torch.cat((tk, k), 1), cos, sin)
        a = self.attention(q, k, torch.cat((tv, v), 1))
        txt_a, img_a = a[:, : txt.shape[1]], a[:, txt.shape[1] :]
        img = img + gm[:, None] * self.lin(img_a, f"{p}.attn.to_out.0")
        img = img + gf[:, None] * self.ff(self.ln(img) * (1 + cf[:, None]) + sf[:, None], f"{p}.ff")
        txt = txt + cgm[:, None] * self.lin(txt_a, f"{p}.attn.to_add_out")
        txt = txt + cgf[:, None] * self.ff(self.ln(txt) * (1 + ccf[:, None]) + csf[:, None], f"{p}.ff_context")
        return img, txt

    def single(self, img, txt, temb, cos, sin, p="single_transformer_blocks.0"):
        x = torch.cat((txt, img), 1)
        shift, scale, gate = self.lin(F.silu(temb), f"{p}.norm.linear").chunk(3, dim=-1)
        n = self.ln(x) * (1 + scale[:, None]) + shift[:, None]
        mlp = F.gelu(self.lin(n, f"{p}.proj_mlp"), approximate="tanh")
        q, k, v = self.qkv(n, ("to_q", "to_k", "to_v"), ("norm_q", "norm_k"), f"{p}.attn")
        a = self.attention(self.rope(q, cos, sin), self.rope(k, cos, sin), v)
        x = x + gate[:, None] * self.lin(torch.cat((a, mlp), -1), f"{p}.proj_out")
        return x[:, txt.shape[1] :], x[:, : txt.shape[1]]


def rel_update_error(out, ref, base):
    """‖(out − base) − (ref − base)‖ / ‖ref − base‖ in float64."""
    d_out, d_ref = (out.double() - base.double()), (ref.double() - base.double())
    return float((d_out - d_ref).norm() / d_ref.norm())


def check(blocks, folder, device, dtype):
    """Relative L2 of each block's updates against the onnxruntime CPU fp32 outputs."""
    with open(os.path.join(folder, "index.json")) as f:
        index = json.load(f)
    result = {}
    for kind, spec in index.items():
        ins = {n: load_f32(os.path.join(folder, f"{kind}.in.{n}.f32"), d).to(device) for n, d in spec["inputs"].items()}
        refs = {n: load_f32(os.path.join(folder, f"{kind}.out.{n}.f32"), [-1]).to(device) for n in spec["outputs"]}
        cast = {n: t.to(dtype) for n, t in ins.items()}
        fn = blocks.double if kind == "double" else blocks.single
        with torch.no_grad():
            img, txt = fn(cast["img"], cast["txt"], cast["temb"], ins["rope_cos"], ins["rope_sin"])
        errors = [
            rel_update_error(img.float().reshape(-1), refs["img_out"], ins["img"].reshape(-1)),
            rel_update_error(txt.float().reshape(-1), refs["txt_out"], ins["txt"].reshape(-1)),
        ]
        result[kind] = max(errors)
    return result


def load_f32(path, dims):
    with open(path, "rb") as f:
        raw = bytearray(f.read())
    return torch.frombuffer(raw, dtype=torch.float32).reshape(dims)


def timed(fn, device, warmup, runs):
    """Median milliseconds of fn() (CUDA events on a GPU, wall clock on the CPU)."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            samples.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return samples[len(samples) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--check")
    ap.add_argument("--sizes", default="512,1024")
    ap.add_argument("--text-tokens", type=int, default=256)
    ap.add_argument("--flops", default="{}")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--matmul", type=int, default=8192)
    args = ap.parse_args()
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    flops = json.loads(args.flops)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    out = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu", "dtype": args.dtype}
    with open(os.path.join(args.checkpoint, "config.json")) as f:
        config = json.load(f)
    t0 = time.perf_counter()
    weights = load_safetensors(args.checkpoint)
    log(f"loaded {len(weights)} tensors in {time.perf_counter() - t0:.1f} s")

    if args.check:
        blocks = Blocks(weights, config, device, torch.float32)
        out["check"] = check(blocks, args.check, device, torch.float32)
        log(f"float32 vs onnxruntime CPU fp32 (relative L2 of the updates): {out['check']}")
        del blocks
        if device.type == "cuda":
            torch.cuda.empty_cache()

    blocks = Blocks(weights, config, device, dtype)
    if args.check:
        low = check(blocks, args.check, device, dtype)
        out["check_" + args.dtype] = low
        log(f"{args.dtype} vs onnxruntime CPU fp32: {low}")
    dim = blocks.dim
    out["blocks"] = []
    gen = torch.Generator(device="cpu").manual_seed(0)
    with torch.no_grad():
        for size in [int(s) for s in args.sizes.split(",")]:
            h = w = 2 * (size // 16)
            img_tokens = (h // 2) * (w // 2)
            img = torch.randn(1, img_tokens, dim, generator=gen).to(device, dtype)
            txt = torch.randn(1, args.text_tokens, dim, generator=gen).to(device, dtype)
            temb = torch.randn(1, dim, generator=gen).to(device, dtype)
            cos, sin = (t.to(device) for t in rope_tables(args.text_tokens, h, w, config["axes_dims_rope"]))
            for kind in ("double", "single"):
                fn = blocks.double if kind == "double" else blocks.single
                ms = timed(lambda: fn(img, txt, temb, cos, sin), device, args.warmup, args.runs)
                n = flops.get(f"{kind}:{size}", 0)
                out["blocks"].append({"shard": kind, "size": size, "ms": ms, "flops": n, "tflops": n / (ms * 1e9) if n else 0})
                log(f"{kind} {size}²: {ms:.2f} ms")
        if device.type == "cuda" and args.matmul:
            n = args.matmul
            out["matmul"] = []
            for name, dt in (("bfloat16", torch.bfloat16), ("float32", torch.float32)):
                a = torch.randn(n, n, device=device, dtype=dt)
                b = torch.randn(n, n, device=device, dtype=dt)
                ms = timed(lambda: a @ b, device, 3, 10)
                out["matmul"].append({"dtype": name, "n": n, "ms": ms, "tflops": 2 * n**3 / (ms * 1e9)})
                log(f"torch matmul {name} {n}³: {2 * n**3 / (ms * 1e9):.1f} TFLOP/s")
                del a, b
    print(json.dumps(out))


if __name__ == "__main__":
    main()
