"""Instance norm + affine with an optional (leaky) ReLU, residual add and label border, in one pass.

    out = act(IN(x + border) * weight + bias) + residual

per (n, c) plane, statistics in fp32 (fp64 for fp64 inputs). StarGAN v1's generator needs three
variants: ReLU after most convs, residual add without ReLU for the second norm of a residual block,
and ReLU with the label border for the first layer (see label_fold.py and DESIGN.md, "The kernels").
StarGAN v2 needs LeakyReLU(0.2) after each norm, with a per-channel affine (C,) in its encoder and
`to_rgb`, and a per-sample one (N, C) in AdaIN (see adain.py): weight and bias are either.

`border` is a per-sample (N, C, 2r+1, 2r+1) table, 7x7 for the first conv: pixel (h, w) gets
border[n, c, row(h), col(w)] with row(h) = h in the first r rows, 2r - (H - 1 - h) in the last r
and r in between (the same for columns).

Statistics: each plane is shifted by its first value (exact for nearby values, Sterbenz), each
tile's mean and M2 are computed two-pass from registers and tiles are merged with Chan's parallel
formula, so large means (x ~ 1000) keep fp32 precision; E[x^2] - E[x]^2 would not.

Order: Triton kernels, launchers, PyTorch reference, custom ops, dispatcher.
"""

import torch
import torch.nn.functional as F

from .dispatch import tl, triton, use_triton

MAX_TILE = 4096  # elements of one program's tile in registers
MIN_PROGRAMS = 256  # split channel tiles until a launch has about this many programs


# ----------------------------------------------------------------------------- Triton kernels


@triton.jit
def _load_input(x_ptr, border_ptr, n, cs, c_mask, ps, C, H, W, x_sn, x_sc, x_sp, x0, b0,
                HAS_BORDER: tl.constexpr, R: tl.constexpr, ACC: tl.constexpr):
    """A (BLOCK_C, BLOCK_P) tile of (x - x0) + (border - b0) in ACC; masked elements are 0.

    Subtracting each plane's first values before adding keeps fp32 exact at large means.
    """
    mask = c_mask[:, None] & (ps < H * W)[None, :]
    x = tl.load(x_ptr + n * x_sn + cs[:, None] * x_sc + ps[None, :] * x_sp, mask=mask, other=0.0)
    x = x.to(ACC) - x0[:, None]  # cast first: bf16 arithmetic is wrong in the interpreter
    if HAS_BORDER:
        h = ps // W
        w = ps % W
        row = tl.where(h < R, h, tl.where(h >= H - R, h - H + 2 * R + 1, R))
        col = tl.where(w < R, w, tl.where(w >= W - R, w - W + 2 * R + 1, R))
        side = 2 * R + 1
        cell = (n * C + cs[:, None]) * (side * side) + (row * side + col)[None, :]
        x += tl.load(border_ptr + cell, mask=mask, other=0.0).to(ACC) - b0[:, None]
    return tl.where(mask, x, 0.0), mask


@triton.jit
def _first_values(x_ptr, border_ptr, n, cs, c_mask, C, x_sn, x_sc,
                  HAS_BORDER: tl.constexpr, R: tl.constexpr, ACC: tl.constexpr):
    """Each plane's x and border at pixel (0, 0): the shifts that keep the sums small."""
    x0 = tl.load(x_ptr + n * x_sn + cs * x_sc, mask=c_mask, other=0.0).to(ACC)
    b0 = tl.zeros_like(x0)
    if HAS_BORDER:
        b0 = tl.load(border_ptr + (n * C + cs) * (2 * R + 1) * (2 * R + 1), mask=c_mask,
                     other=0.0).to(ACC)
    return x0, b0


@triton.jit
def _instance_norm_fwd_kernel(
    x_ptr, weight_ptr, bias_ptr, border_ptr, residual_ptr, out_ptr, mean_ptr, rstd_ptr,
    C, H, W, eps, a_sn,
    x_sn, x_sc, x_sp, r_sn, r_sc, r_sp, o_sn, o_sc, o_sp,
    HAS_BORDER: tl.constexpr, HAS_RESIDUAL: tl.constexpr, RELU: tl.constexpr, SLOPE: tl.constexpr,
    R: tl.constexpr, ACC: tl.constexpr,
    ONE_TILE: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_P: tl.constexpr,
):
    """a_sn: the affine's stride over samples, 0 for a (C,) weight and bias, C for (N, C)."""
    n = tl.program_id(0).to(tl.int64)
    cs = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    c_mask = cs < C
    hw = H * W
    x0, b0 = _first_values(x_ptr, border_ptr, n, cs, c_mask, C, x_sn, x_sc, HAS_BORDER, R, ACC)

    if ONE_TILE:  # the plane fits in registers: read once, write once
        ps = tl.arange(0, BLOCK_P)
        x, mask = _load_input(x_ptr, border_ptr, n, cs, c_mask, ps, C, H, W, x_sn, x_sc, x_sp,
                              x0, b0, HAS_BORDER, R, ACC)
        mean = tl.sum(x, axis=1) / hw
        diff = tl.where(mask, x - mean[:, None], 0.0)
        var = tl.sum(diff * diff, axis=1) / hw
    else:  # Chan et al.: merge each tile's (count, mean, M2) into the running ones
        count = tl.zeros((BLOCK_C,), dtype=ACC)
        mean = tl.zeros((BLOCK_C,), dtype=ACC)
        m2 = tl.zeros((BLOCK_C,), dtype=ACC)
        for start in range(0, hw, BLOCK_P):
            ps = start + tl.arange(0, BLOCK_P)
            x, mask = _load_input(x_ptr, border_ptr, n, cs, c_mask, ps, C, H, W, x_sn, x_sc,
                                  x_sp, x0, b0, HAS_BORDER, R, ACC)
            tile_count = tl.minimum(hw - start, BLOCK_P).to(ACC)
            tile_mean = tl.sum(x, axis=1) / tile_count
            diff = tl.where(mask, x - tile_mean[:, None], 0.0)
            total = count + tile_count
            delta = tile_mean - mean
            mean += delta * (tile_count / total)
            m2 += tl.sum(diff * diff, axis=1) + delta * delta * (count * tile_count / total)
            count = total
        var = m2 / hw
    rstd = 1.0 / tl.sqrt(var + eps)
    tl.store(mean_ptr + n * C + cs, mean, mask=c_mask)  # of x - x0 + border - b0, see _load_input
    tl.store(rstd_ptr + n * C + cs, rstd, mask=c_mask)

    scale = rstd * tl.load(weight_ptr + n * a_sn + cs, mask=c_mask, other=0.0).to(ACC)
    bias = tl.load(bias_ptr + n * a_sn + cs, mask=c_mask, other=0.0).to(ACC)
    for start in range(0, hw, BLOCK_P):
        ps = start + tl.arange(0, BLOCK_P)
        if not ONE_TILE:
            x, mask = _load_input(x_ptr, border_ptr, n, cs, c_mask, ps, C, H, W, x_sn, x_sc,
                                  x_sp, x0, b0, HAS_BORDER, R, ACC)
        y = (x - mean[:, None]) * scale[:, None] + bias[:, None]
        if RELU:
            if SLOPE == 0.0:
                y = tl.maximum(y, 0.0)
            else:
                y = tl.where(y > 0.0, y, y * SLOPE)
        if HAS_RESIDUAL:
            y += tl.load(residual_ptr + n * r_sn + cs[:, None] * r_sc + ps[None, :] * r_sp,
                         mask=mask, other=0.0).to(ACC)
        out = out_ptr + n * o_sn + cs[:, None] * o_sc + ps[None, :] * o_sp
        tl.store(out, y.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _grad_tile(grad_ptr, x_ptr, border_ptr, n, cs, c_mask, ps, C, H, W, g_sn, g_sc, g_sp,
               x_sn, x_sc, x_sp, x0, b0, mean, rstd, weight, bias,
               HAS_BORDER: tl.constexpr, RELU: tl.constexpr, SLOPE: tl.constexpr,
               R: tl.constexpr, ACC: tl.constexpr):
    """(x_hat, g, mask) of a tile, with g the incoming grad through the (leaky) ReLU."""
    x, mask = _load_input(x_ptr, border_ptr, n, cs, c_mask, ps, C, H, W, x_sn, x_sc, x_sp,
                          x0, b0, HAS_BORDER, R, ACC)
    x_hat = tl.where(mask, (x - mean[:, None]) * rstd[:, None], 0.0)
    g = tl.load(grad_ptr + n * g_sn + cs[:, None] * g_sc + ps[None, :] * g_sp, mask=mask,
                other=0.0).to(ACC)
    if RELU:
        # the forward's pre-activation, rounded as there, so both agree on its sign
        positive = (x - mean[:, None]) * (rstd * weight)[:, None] + bias[:, None] > 0.0
        if SLOPE == 0.0:
            g = tl.where(positive, g, 0.0)
        else:
            g = tl.where(positive, g, g * SLOPE)
    return x_hat, g, mask


@triton.jit
def _instance_norm_bwd_kernel(
    grad_ptr, x_ptr, weight_ptr, bias_ptr, border_ptr, mean_ptr, rstd_ptr,
    dx_ptr, dweight_ptr, dbias_ptr,
    C, H, W, a_sn,
    g_sn, g_sc, g_sp, x_sn, x_sc, x_sp, d_sn, d_sc, d_sp,
    HAS_BORDER: tl.constexpr, RELU: tl.constexpr, SLOPE: tl.constexpr,
    R: tl.constexpr, ACC: tl.constexpr,
    ONE_TILE: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_P: tl.constexpr,
):
    """dx = rstd * w * (g - mean(g) - x_hat * mean(g * x_hat)), g the grad through the ReLU.

    Writes each (n, c)'s sums of g * x_hat and g: dweight and dbias of a per-sample affine, and
    for a (C,) one the partials the launcher sums over n (deterministic, no atomics).
    """
    n = tl.program_id(0).to(tl.int64)
    cs = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    c_mask = cs < C
    hw = H * W
    x0, b0 = _first_values(x_ptr, border_ptr, n, cs, c_mask, C, x_sn, x_sc, HAS_BORDER, R, ACC)
    mean = tl.load(mean_ptr + n * C + cs, mask=c_mask, other=0.0)
    rstd = tl.load(rstd_ptr + n * C + cs, mask=c_mask, other=0.0)
    weight = tl.load(weight_ptr + n * a_sn + cs, mask=c_mask, other=0.0).to(ACC)
    bias = tl.load(bias_ptr + n * a_sn + cs, mask=c_mask, other=0.0).to(ACC)

    if ONE_TILE:  # the plane fits in registers: read x and grad once
        ps = tl.arange(0, BLOCK_P)
        x_hat, g, mask = _grad_tile(grad_ptr, x_ptr, border_ptr, n, cs, c_mask, ps, C, H, W,
                                    g_sn, g_sc, g_sp, x_sn, x_sc, x_sp, x0, b0, mean, rstd,
                                    weight, bias, HAS_BORDER, RELU, SLOPE, R, ACC)
        sum_g = tl.sum(g, axis=1)
        sum_gx = tl.sum(g * x_hat, axis=1)
        dx = (rstd * weight)[:, None] * (g - sum_g[:, None] / hw - x_hat * sum_gx[:, None] / hw)
        out = dx_ptr + n * d_sn + cs[:, None] * d_sc + ps[None, :] * d_sp
        tl.store(out, dx.to(dx_ptr.dtype.element_ty), mask=mask)
    else:
        sum_g = tl.zeros((BLOCK_C,), dtype=ACC)
        sum_gx = tl.zeros((BLOCK_C,), dtype=ACC)
        for start in range(0, hw, BLOCK_P):
            ps = start + tl.arange(0, BLOCK_P)
            x_hat, g, mask = _grad_tile(grad_ptr, x_ptr, border_ptr, n, cs, c_mask, ps, C, H, W,
                                        g_sn, g_sc, g_sp, x_sn, x_sc, x_sp, x0, b0, mean, rstd,
                                        weight, bias, HAS_BORDER, RELU, SLOPE, R, ACC)
            sum_g += tl.sum(g, axis=1)
            sum_gx += tl.sum(g * x_hat, axis=1)
        for start in range(0, hw, BLOCK_P):
            ps = start + tl.arange(0, BLOCK_P)
            x_hat, g, mask = _grad_tile(grad_ptr, x_ptr, border_ptr, n, cs, c_mask, ps, C, H, W,
                                        g_sn, g_sc, g_sp, x_sn, x_sc, x_sp, x0, b0, mean, rstd,
                                        weight, bias, HAS_BORDER, RELU, SLOPE, R, ACC)
            dx = (rstd * weight)[:, None] * (g - sum_g[:, None] / hw
                                             - x_hat * sum_gx[:, None] / hw)
            out = dx_ptr + n * d_sn + cs[:, None] * d_sc + ps[None, :] * d_sp
            tl.store(out, dx.to(dx_ptr.dtype.element_ty), mask=mask)
    tl.store(dweight_ptr + n * C + cs, sum_gx, mask=c_mask)
    tl.store(dbias_ptr + n * C + cs, sum_g, mask=c_mask)


# ----------------------------------------------------------------------------- launchers


def _like_input(x: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """An output in x's layout: channels_last stays channels_last, anything else is NCHW."""
    channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    layout = torch.channels_last if channels_last else torch.contiguous_format
    return torch.empty_like(x, dtype=dtype, memory_format=layout)


def _plane_strides(t: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int]]:
    """(tensor, (stride_n, stride_c, stride_pixel)) with each (h, w) plane walkable by one stride."""
    _, _, height, width = t.shape
    sn, sc, sh, sw = t.stride()
    if width == 1:
        return t, (sn, sc, sh)
    if height == 1 or sh == width * sw:
        return t, (sn, sc, sw)
    t = t.contiguous()
    return t, t.stride()[:2] + (1,)


def _tiles(n: int, c: int, hw: int, channels_last: bool) -> tuple[int, int, int]:
    """(BLOCK_C, BLOCK_P, num_warps): whole planes in registers when they fit, pixels of several
    channels per program when planes are small (or for coalesced loads in channels_last)."""
    if channels_last:
        block_c = min(triton.next_power_of_2(c), 32)
        block_p = min(triton.next_power_of_2(hw), MAX_TILE // block_c)
    else:
        block_p = min(triton.next_power_of_2(hw), MAX_TILE)
        block_c = min(triton.next_power_of_2(c), MAX_TILE // block_p)
        while block_c > 1 and n * triton.cdiv(c, block_c) < MIN_PROGRAMS:
            block_c //= 2
    num_warps = min(max(block_c * block_p // 256, 1), 8)
    return block_c, block_p, num_warps


def _radius(border: torch.Tensor | None) -> int:
    return border.shape[-1] // 2 if border is not None else 0


def _accumulator(x: torch.Tensor):
    return tl.float64 if x.dtype == torch.float64 else tl.float32


def _stats_dtype(x: torch.Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _affine_stride(weight: torch.Tensor) -> int:
    """Stride over samples of a (C,) (shared: 0) or (N, C) (per sample) weight and bias."""
    return weight.shape[-1] if weight.dim() == 2 else 0


def _launch_forward(x, weight, bias, border, residual, eps, relu, negative_slope):
    n, c, height, width = x.shape
    if border is not None:
        _check_border(border, height, width)
    out = _like_input(x)
    mean = x.new_empty((n, c), dtype=_stats_dtype(x))
    rstd = torch.empty_like(mean)
    x, x_strides = _plane_strides(x)
    _, o_strides = _plane_strides(out)
    if residual is not None:
        residual, r_strides = _plane_strides(residual)
    else:
        r_strides = (0, 0, 0)
    if border is not None:
        border = border.contiguous()
    block_c, block_p, num_warps = _tiles(n, c, height * width, x_strides[2] != 1)
    _instance_norm_fwd_kernel[(n, triton.cdiv(c, block_c))](
        x, weight.contiguous(), bias.contiguous(), border if border is not None else x,
        residual if residual is not None else x, out, mean, rstd,
        c, height, width, eps, _affine_stride(weight), *x_strides, *r_strides, *o_strides,
        HAS_BORDER=border is not None, HAS_RESIDUAL=residual is not None, RELU=relu,
        SLOPE=float(negative_slope), R=_radius(border), ACC=_accumulator(x),
        ONE_TILE=block_p >= height * width, BLOCK_C=block_c, BLOCK_P=block_p, num_warps=num_warps,
    )
    return out, mean, rstd


def _launch_backward(grad, x, weight, bias, border, mean, rstd, relu, negative_slope):
    n, c, height, width = x.shape
    dx = _like_input(x)
    partial_dweight = x.new_empty((n, c), dtype=_stats_dtype(x))
    partial_dbias = torch.empty_like(partial_dweight)
    x, x_strides = _plane_strides(x)
    grad, g_strides = _plane_strides(grad)
    _, d_strides = _plane_strides(dx)
    if border is not None:
        border = border.contiguous()
    block_c, block_p, num_warps = _tiles(n, c, height * width, x_strides[2] != 1)
    _instance_norm_bwd_kernel[(n, triton.cdiv(c, block_c))](
        grad, x, weight.contiguous(), bias.contiguous(), border if border is not None else x,
        mean, rstd, dx, partial_dweight, partial_dbias,
        c, height, width, _affine_stride(weight), *g_strides, *x_strides, *d_strides,
        HAS_BORDER=border is not None, RELU=relu, SLOPE=float(negative_slope), R=_radius(border),
        ACC=_accumulator(x), ONE_TILE=block_p >= height * width, BLOCK_C=block_c, BLOCK_P=block_p,
        num_warps=num_warps,
    )
    if weight.dim() == 1:  # shared over samples: sum the per-sample partials
        partial_dweight, partial_dbias = partial_dweight.sum(0), partial_dbias.sum(0)
    dweight = partial_dweight.to(weight.dtype)
    dbias = partial_dbias.to(bias.dtype)
    dborder = sum_border(dx, _radius(border)).to(border.dtype) if border is not None else None
    return dx, dweight, dbias, dborder


# ----------------------------------------------------------------------------- PyTorch reference


def _check_border(border: torch.Tensor, height: int, width: int) -> None:
    side = border.shape[-1]
    if min(height, width) < side:  # the row cases of the top and bottom borders would overlap
        raise ValueError(f"a {side}x{side} border table needs planes of at least {side}x{side}, "
                         f"not {height}x{width}")


def border_cases(size: int, radius: int, device: torch.device | None = None) -> torch.Tensor:
    """Row (or column) case of each pixel: 0..r-1 near the start, r inside, r+1..2r near the end."""
    cases = torch.full((size,), radius, dtype=torch.long, device=device)
    cases[:radius] = torch.arange(radius, device=device)
    cases[size - radius:] = torch.arange(radius + 1, 2 * radius + 1, device=device)
    return cases


def expand_border(border: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(N, C, 2r+1, 2r+1) table -> (N, C, H, W) border term (slices and concat: on CPU much
    faster than a gather)."""
    _check_border(border, height, width)
    radius = border.shape[-1] // 2

    def widen(table: torch.Tensor, dim: int, size: int) -> torch.Tensor:
        inside = table.narrow(dim, radius, 1).expand(
            *[size - 2 * radius if d == dim else s for d, s in enumerate(table.shape)])
        return torch.cat([table.narrow(dim, 0, radius), inside,
                          table.narrow(dim, radius + 1, radius)], dim)

    return widen(widen(border, 2, height), 3, width)


def sum_border(grad: torch.Tensor, radius: int) -> torch.Tensor:
    """The adjoint of expand_border: (N, C, H, W) -> (N, C, 2r+1, 2r+1) sums over each case."""
    height, width = grad.shape[-2:]
    side = 2 * radius + 1
    dtype = _stats_dtype(grad)
    rows = F.one_hot(border_cases(height, radius, grad.device), side).to(dtype)
    cols = F.one_hot(border_cases(width, radius, grad.device), side).to(dtype)
    return torch.einsum("nchw,hr,ws->ncrs", grad.to(dtype), rows, cols)


def _check_affine(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> None:
    """weight and bias are both (C,) or both (N, C) for an (N, C, H, W) x."""
    n, c = x.shape[:2]
    if tuple(weight.shape) not in ((c,), (n, c)) or bias.shape != weight.shape:
        raise ValueError(f"weight and bias must both be ({c},) or ({n}, {c}) for x of shape "
                         f"{tuple(x.shape)}, not {tuple(weight.shape)} and {tuple(bias.shape)}")


def instance_norm_reference(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, *, eps: float = 1e-5,
    relu: bool = False, negative_slope: float = 0.0, residual: torch.Tensor | None = None,
    border: torch.Tensor | None = None,
) -> torch.Tensor:
    """The same op in PyTorch: what the official layers compute (IN, (Leaky)ReLU, x + block(x))."""
    if border is not None:
        x = x + expand_border(border.to(x.dtype), *x.shape[-2:])
    if weight.dim() == 1:
        out = F.instance_norm(x, weight=weight, bias=bias, eps=eps)
    else:  # per sample: F.instance_norm takes only a (C,) affine
        out = F.instance_norm(x, eps=eps) * weight[:, :, None, None] + bias[:, :, None, None]
        out = out.to(x.dtype)  # the kernel's dtype contract, whatever the affine's dtype
    if relu and negative_slope == 0.0:
        out = torch.relu_(out)  # in place, as the official nn.ReLU(inplace=True)
    elif relu:
        out = F.leaky_relu(out, negative_slope)  # v2's nn.LeakyReLU(0.2) is not in place
    if residual is not None:
        out = residual + out
    return out


# ----------------------------------------------------------------------------- custom ops


@torch.library.custom_op("starbatch::instance_norm", mutates_args=())
def instance_norm_op(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, border: torch.Tensor | None,
    residual: torch.Tensor | None, eps: float, relu: bool, negative_slope: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Triton forward: (out, mean, rstd); mean is relative to each plane's first value."""
    return _launch_forward(x, weight, bias, border, residual, eps, relu, negative_slope)


@instance_norm_op.register_fake
def _instance_norm_fake(x, weight, bias, border, residual, eps, relu, negative_slope=0.0):
    stats = x.new_empty(x.shape[:2], dtype=_stats_dtype(x))
    return _like_input(x), stats, torch.empty_like(stats)


@torch.library.custom_op("starbatch::instance_norm_backward", mutates_args=())
def instance_norm_backward_op(
    grad: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
    border: torch.Tensor | None, mean: torch.Tensor, rstd: torch.Tensor, relu: bool,
    negative_slope: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Triton backward: (dx, dweight, dbias, dborder); dborder is empty without a border."""
    dx, dweight, dbias, dborder = _launch_backward(grad, x, weight, bias, border, mean, rstd, relu,
                                                   negative_slope)
    return dx, dweight, dbias, dborder if dborder is not None else x.new_empty(0)


@instance_norm_backward_op.register_fake
def _instance_norm_backward_fake(grad, x, weight, bias, border, mean, rstd, relu,
                                 negative_slope=0.0):
    dborder = torch.empty_like(border) if border is not None else x.new_empty(0)
    return _like_input(x), torch.empty_like(weight), torch.empty_like(bias), dborder


def _setup_context(ctx, inputs, output):
    x, weight, bias, border, residual, _eps, relu, negative_slope = inputs
    _out, mean, rstd = output
    ctx.save_for_backward(x, weight, bias, border, mean, rstd)
    ctx.relu = relu
    ctx.negative_slope = negative_slope
    ctx.has_residual = residual is not None


def _backward(ctx, grad_out, _grad_mean, _grad_rstd):
    # mean and rstd are saved statistics, not results: their gradients are not propagated
    x, weight, bias, border, mean, rstd = ctx.saved_tensors
    dx, dweight, dbias, dborder = instance_norm_backward_op(
        grad_out, x, weight, bias, border, mean, rstd, ctx.relu, ctx.negative_slope)
    dresidual = grad_out if ctx.has_residual else None
    return dx, dweight, dbias, dborder if border is not None else None, dresidual, None, None, None


instance_norm_op.register_autograd(_backward, setup_context=_setup_context)


# ----------------------------------------------------------------------------- dispatcher


def instance_norm(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, *, eps: float = 1e-5,
    relu: bool = False, negative_slope: float = 0.0, residual: torch.Tensor | None = None,
    border: torch.Tensor | None = None, backend: str = "auto",
) -> torch.Tensor:
    """act(IN(x + border) * weight + bias) + residual: Triton on CUDA, the reference elsewhere.

    weight and bias: (C,), or (N, C) for a per-sample affine; act: ReLU if relu, leaky below zero
    with negative_slope (0.2: StarGAN v2's LeakyReLU).
    """
    _check_affine(x, weight, bias)
    if use_triton(x, backend):
        return instance_norm_op(x, weight, bias, border, residual, eps, relu, negative_slope)[0]
    return instance_norm_reference(x, weight, bias, eps=eps, relu=relu,
                                   negative_slope=negative_slope, residual=residual, border=border)
