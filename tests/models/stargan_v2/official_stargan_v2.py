"""The official StarGAN v2 networks restated as plain functions over flat state_dicts, for tests.

Written from clovaai/stargan-v2 (core/model.py, core/wing.py) apart from starbatch's modules: the
structure comes from the official construction rules (block counts from img_size and w_hpf, learned
shortcuts where channels change, the decoder built back to front), weights are looked up by their
official names, and the norms and activations are spelled out (instance norm, eval BatchNorm, leaky
ReLU), so a wrong name, order or formula in starbatch shows up as a mismatch. `official_shapes` and
`fan_shapes` list every state_dict entry the official modules register, with its shape.
"""

import math

import torch
import torch.nn.functional as F

HPF = [[-1.0, -1.0, -1.0], [-1.0, 8.0, -1.0], [-1.0, -1.0, -1.0]]


# ---------------------------------------------------------------- key names and shapes

def _resblk_shapes(name, dim_in, dim_out, normalize):
    shapes = {f"{name}.conv1.weight": (dim_in, dim_in, 3, 3), f"{name}.conv1.bias": (dim_in,),
              f"{name}.conv2.weight": (dim_out, dim_in, 3, 3), f"{name}.conv2.bias": (dim_out,)}
    if normalize:
        for norm in ("norm1", "norm2"):
            shapes[f"{name}.{norm}.weight"] = (dim_in,)
            shapes[f"{name}.{norm}.bias"] = (dim_in,)
    if dim_in != dim_out:
        shapes[f"{name}.conv1x1.weight"] = (dim_out, dim_in, 1, 1)
    return shapes


def _adain_resblk_shapes(name, dim_in, dim_out, style_dim):
    shapes = {f"{name}.conv1.weight": (dim_out, dim_in, 3, 3), f"{name}.conv1.bias": (dim_out,),
              f"{name}.conv2.weight": (dim_out, dim_out, 3, 3), f"{name}.conv2.bias": (dim_out,),
              f"{name}.norm1.fc.weight": (2 * dim_in, style_dim), f"{name}.norm1.fc.bias": (2 * dim_in,),
              f"{name}.norm2.fc.weight": (2 * dim_out, style_dim), f"{name}.norm2.fc.bias": (2 * dim_out,)}
    if dim_in != dim_out:
        shapes[f"{name}.conv1x1.weight"] = (dim_out, dim_in, 1, 1)
    return shapes


def generator_shapes(img_size, style_dim, w_hpf, max_conv_dim=512, dim_in=None):
    dim_in = dim_in or 2**14 // img_size
    shapes = {"from_rgb.weight": (dim_in, 3, 3, 3), "from_rgb.bias": (dim_in,),
              "to_rgb.0.weight": (dim_in,), "to_rgb.0.bias": (dim_in,),
              "to_rgb.2.weight": (3, dim_in, 1, 1), "to_rgb.2.bias": (3,)}
    repeat_num = int(math.log2(img_size)) - 4 + (1 if w_hpf > 0 else 0)
    decode = []  # official: decode.insert(0, ...), so decode.0 is the innermost block
    for i in range(repeat_num):
        dim_out = min(dim_in * 2, max_conv_dim)
        shapes.update(_resblk_shapes(f"encode.{i}", dim_in, dim_out, True))
        decode.insert(0, (dim_out, dim_in))
        dim_in = dim_out
    for i in range(2):
        shapes.update(_resblk_shapes(f"encode.{repeat_num + i}", dim_out, dim_out, True))
        decode.insert(0, (dim_out, dim_out))
    for i, (a, b) in enumerate(decode):
        shapes.update(_adain_resblk_shapes(f"decode.{i}", a, b, style_dim))
    if w_hpf > 0:
        shapes["hpf.filter"] = (3, 3)
    return shapes


def mapping_shapes(latent_dim, style_dim, num_domains, hidden=512):
    shapes = {"shared.0.weight": (hidden, latent_dim), "shared.0.bias": (hidden,)}
    for i in (2, 4, 6):
        shapes[f"shared.{i}.weight"] = (hidden, hidden)
        shapes[f"shared.{i}.bias"] = (hidden,)
    for d in range(num_domains):
        for i in (0, 2, 4):
            shapes[f"unshared.{d}.{i}.weight"] = (hidden, hidden)
            shapes[f"unshared.{d}.{i}.bias"] = (hidden,)
        shapes[f"unshared.{d}.6.weight"] = (style_dim, hidden)
        shapes[f"unshared.{d}.6.bias"] = (style_dim,)
    return shapes


def _trunk_shapes(prefix, img_size, max_conv_dim, dim_in):
    dim_in = dim_in or 2**14 // img_size
    shapes = {f"{prefix}.0.weight": (dim_in, 3, 3, 3), f"{prefix}.0.bias": (dim_in,)}
    n = int(math.log2(img_size)) - 2
    for i in range(1, n + 1):
        dim_out = min(dim_in * 2, max_conv_dim)
        shapes.update(_resblk_shapes(f"{prefix}.{i}", dim_in, dim_out, False))
        dim_in = dim_out
    shapes[f"{prefix}.{n + 2}.weight"] = (dim_out, dim_out, 4, 4)  # after the LeakyReLU at n + 1
    shapes[f"{prefix}.{n + 2}.bias"] = (dim_out,)
    return shapes, n, dim_out


def style_encoder_shapes(img_size, style_dim, num_domains, max_conv_dim=512, dim_in=None):
    shapes, _, dim_out = _trunk_shapes("shared", img_size, max_conv_dim, dim_in)
    for d in range(num_domains):
        shapes[f"unshared.{d}.weight"] = (style_dim, dim_out)
        shapes[f"unshared.{d}.bias"] = (style_dim,)
    return shapes


def discriminator_shapes(img_size, num_domains, max_conv_dim=512, dim_in=None):
    shapes, n, dim_out = _trunk_shapes("main", img_size, max_conv_dim, dim_in)
    shapes[f"main.{n + 4}.weight"] = (num_domains, dim_out, 1, 1)
    shapes[f"main.{n + 4}.bias"] = (num_domains,)
    return shapes


def _bn_shapes(name, channels):
    return {f"{name}.weight": (channels,), f"{name}.bias": (channels,), f"{name}.running_mean": (channels,),
            f"{name}.running_var": (channels,), f"{name}.num_batches_tracked": ()}


def _conv_block_shapes(name, planes_in, planes_out):
    half, quarter = planes_out // 2, planes_out // 4
    shapes = {**_bn_shapes(f"{name}.bn1", planes_in), f"{name}.conv1.weight": (half, planes_in, 3, 3),
              **_bn_shapes(f"{name}.bn2", half), f"{name}.conv2.weight": (quarter, half, 3, 3),
              **_bn_shapes(f"{name}.bn3", quarter), f"{name}.conv3.weight": (quarter, quarter, 3, 3)}
    if planes_in != planes_out:
        shapes.update(_bn_shapes(f"{name}.downsample.0", planes_in))
        shapes[f"{name}.downsample.2.weight"] = (planes_out, planes_in, 1, 1)
    return shapes


def fan_shapes():
    """FAN(num_modules=1, num_landmarks=98) of core/wing.py."""
    shapes = {"conv1.conv.weight": (64, 6, 7, 7), "conv1.conv.bias": (64,), **_bn_shapes("bn1", 64),
              **_conv_block_shapes("conv2", 64, 128), **_conv_block_shapes("conv3", 128, 128),
              **_conv_block_shapes("conv4", 128, 256),
              "m0.coordconv.conv.weight": (256, 259, 1, 1), "m0.coordconv.conv.bias": (256,)}
    for level in range(4, 0, -1):
        for block in ("b1", "b2", "b3"):
            shapes.update(_conv_block_shapes(f"m0.{block}_{level}", 256, 256))
    shapes.update(_conv_block_shapes("m0.b2_plus_1", 256, 256))
    shapes.update(_conv_block_shapes("top_m_0", 256, 256))
    shapes.update({"conv_last0.weight": (256, 256, 1, 1), "conv_last0.bias": (256,), **_bn_shapes("bn_end0", 256),
                   "l0.weight": (99, 256, 1, 1), "l0.bias": (99,)})
    return shapes


def random_state(shapes, generator, w_hpf=1.0):
    """Random weights of the given shapes, scaled so activations stay near unit size through deep stacks."""
    state = {}
    for key, shape in shapes.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(1000, dtype=torch.long)
        elif key.endswith("hpf.filter"):
            state[key] = torch.tensor(HPF) / w_hpf
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=generator) + 0.5
        elif key.endswith("running_mean") or key.endswith("bias"):
            state[key] = 0.1 * torch.randn(shape, generator=generator)
        elif len(shape) == 1:  # norm scales
            state[key] = 1 + 0.1 * torch.randn(shape, generator=generator)
        else:
            fan_in = math.prod(shape[1:])
            state[key] = torch.randn(shape, generator=generator) / math.sqrt(fan_in)
    return state


# ---------------------------------------------------------------- building blocks, spelled out

def leaky_relu(x):
    return torch.where(x >= 0, x, 0.2 * x)


def relu(x):
    return torch.where(x > 0, x, torch.zeros_like(x))


def instance_norm(x, weight=None, bias=None, eps=1e-5):
    mean = x.mean(dim=(2, 3), keepdim=True)
    var = ((x - mean) ** 2).mean(dim=(2, 3), keepdim=True)
    out = (x - mean) / torch.sqrt(var + eps)
    if weight is not None:
        out = out * weight.view(1, -1, 1, 1) + bias.view(1, -1, 1, 1)
    return out


def batch_norm(p, name, x, eps=1e-5):
    """nn.BatchNorm2d in eval mode (the official FAN is built with .eval())."""
    shape = (1, -1, 1, 1)
    scale = p[f"{name}.weight"].view(shape) / torch.sqrt(p[f"{name}.running_var"].view(shape) + eps)
    return (x - p[f"{name}.running_mean"].view(shape)) * scale + p[f"{name}.bias"].view(shape)


def conv(p, name, x, stride=1, padding=0):
    return F.conv2d(x, p[f"{name}.weight"], p.get(f"{name}.bias"), stride=stride, padding=padding)


def linear(p, name, x):
    return x @ p[f"{name}.weight"].t() + p[f"{name}.bias"]


def avg_pool(x):
    n, c, h, w = x.shape
    return x.view(n, c, h // 2, 2, w // 2, 2).mean(dim=(3, 5))


def upsample_nearest(x):
    return x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)


# ---------------------------------------------------------------- core/model.py

def resblk(p, name, x, normalize, downsample):
    dim_out, dim_in = p[f"{name}.conv2.weight"].shape[:2]
    shortcut = x
    if dim_in != dim_out:
        shortcut = conv(p, f"{name}.conv1x1", shortcut)
    if downsample:
        shortcut = avg_pool(shortcut)
    h = x
    if normalize:
        h = instance_norm(h, p[f"{name}.norm1.weight"], p[f"{name}.norm1.bias"])
    h = conv(p, f"{name}.conv1", leaky_relu(h), padding=1)
    if downsample:
        h = avg_pool(h)
    if normalize:
        h = instance_norm(h, p[f"{name}.norm2.weight"], p[f"{name}.norm2.bias"])
    h = conv(p, f"{name}.conv2", leaky_relu(h), padding=1)
    return (shortcut + h) / math.sqrt(2)


def adain(p, name, x, s):
    h = linear(p, f"{name}.fc", s)
    channels = x.size(1)
    gamma = h[:, :channels].view(-1, channels, 1, 1)
    beta = h[:, channels:].view(-1, channels, 1, 1)
    return (1 + gamma) * instance_norm(x) + beta


def adain_resblk(p, name, x, s, w_hpf, upsample):
    dim_out, dim_in = p[f"{name}.conv1.weight"].shape[:2]
    h = leaky_relu(adain(p, f"{name}.norm1", x, s))
    if upsample:
        h = upsample_nearest(h)
    h = conv(p, f"{name}.conv1", h, padding=1)
    h = conv(p, f"{name}.conv2", leaky_relu(adain(p, f"{name}.norm2", h, s)), padding=1)
    if w_hpf != 0:
        return h
    shortcut = upsample_nearest(x) if upsample else x
    if dim_in != dim_out:
        shortcut = conv(p, f"{name}.conv1x1", shortcut)
    return (h + shortcut) / math.sqrt(2)


def high_pass(p, x):
    channels = x.size(1)
    weight = p["hpf.filter"].unsqueeze(0).unsqueeze(1).repeat(channels, 1, 1, 1)
    return F.conv2d(x, weight, padding=1, groups=channels)


def generator(p, x, s, img_size, w_hpf, masks=None):
    repeat_num = int(math.log2(img_size)) - 4 + (1 if w_hpf > 0 else 0)
    x = conv(p, "from_rgb", x, padding=1)
    cache = {}
    for i in range(repeat_num + 2):
        if masks is not None and x.size(2) in (32, 64, 128):
            cache[x.size(2)] = x
        x = resblk(p, f"encode.{i}", x, normalize=True, downsample=i < repeat_num)
    for i in range(repeat_num + 2):
        x = adain_resblk(p, f"decode.{i}", x, s, w_hpf, upsample=i >= 2)  # decode.0-1: the bottleneck
        if masks is not None and x.size(2) in (32, 64, 128):
            mask = masks[0] if x.size(2) == 32 else masks[1]
            mask = F.interpolate(mask, size=x.size(2), mode="bilinear")
            x = x + high_pass(p, mask * cache[x.size(2)])
    x = leaky_relu(instance_norm(x, p["to_rgb.0.weight"], p["to_rgb.0.bias"]))
    return conv(p, "to_rgb.2", x)


def _select(outs, y):
    out = torch.stack(outs, dim=1)
    return out[torch.LongTensor(range(y.size(0))), y]


def mapping_network(p, z, y, num_domains):
    h = z
    for i in (0, 2, 4, 6):
        h = relu(linear(p, f"shared.{i}", h))
    outs = []
    for d in range(num_domains):
        o = h
        for i in (0, 2, 4):
            o = relu(linear(p, f"unshared.{d}.{i}", o))
        outs.append(linear(p, f"unshared.{d}.6", o))
    return _select(outs, y)


def _trunk(p, prefix, x, img_size):
    n = int(math.log2(img_size)) - 2
    x = conv(p, f"{prefix}.0", x, padding=1)
    for i in range(1, n + 1):
        x = resblk(p, f"{prefix}.{i}", x, normalize=False, downsample=True)
    return leaky_relu(conv(p, f"{prefix}.{n + 2}", leaky_relu(x))), n


def style_encoder(p, x, y, img_size, num_domains):
    h, _ = _trunk(p, "shared", x, img_size)
    h = h.view(h.size(0), -1)
    return _select([linear(p, f"unshared.{d}", h) for d in range(num_domains)], y)


def discriminator(p, x, y, img_size):
    h, n = _trunk(p, "main", x, img_size)
    out = conv(p, f"main.{n + 4}", h).view(h.size(0), -1)
    return out[torch.LongTensor(range(y.size(0))), y]


# ---------------------------------------------------------------- core/wing.py

def coords(height, width):
    """AddCoordsTh(with_r=True) planes, computed in float32 as the official code does."""
    x_coords = torch.arange(height).unsqueeze(1).expand(height, width).float()
    y_coords = torch.arange(width).unsqueeze(0).expand(height, width).float()
    x_coords = (x_coords / (height - 1)) * 2 - 1
    y_coords = (y_coords / (width - 1)) * 2 - 1
    rr = torch.sqrt(x_coords**2 + y_coords**2)
    rr = (rr / torch.max(rr)).unsqueeze(0)
    return torch.cat([torch.stack([x_coords, y_coords], dim=0), rr], dim=0).unsqueeze(0)


def coord_conv(p, name, x, stride=1, padding=0):
    planes = coords(x.size(2), x.size(3)).to(x.dtype).repeat(x.size(0), 1, 1, 1)
    return conv(p, f"{name}.conv", torch.cat([x, planes], dim=1), stride=stride, padding=padding)


def conv_block(p, name, x):
    out1 = conv(p, f"{name}.conv1", relu(batch_norm(p, f"{name}.bn1", x)), padding=1)
    out2 = conv(p, f"{name}.conv2", relu(batch_norm(p, f"{name}.bn2", out1)), padding=1)
    out3 = conv(p, f"{name}.conv3", relu(batch_norm(p, f"{name}.bn3", out2)), padding=1)
    out = torch.cat((out1, out2, out3), 1)
    residual = x
    if x.size(1) != out.size(1):
        residual = conv(p, f"{name}.downsample.2", relu(batch_norm(p, f"{name}.downsample.0", x)))
    return out + residual


def hourglass_level(p, level, inp):
    up1 = conv_block(p, f"m0.b1_{level}", inp)
    low1 = conv_block(p, f"m0.b2_{level}", avg_pool(inp))
    if level > 1:
        low2 = hourglass_level(p, level - 1, low1)
    else:
        low2 = conv_block(p, f"m0.b2_plus_{level}", low1)
    low3 = conv_block(p, f"m0.b3_{level}", low2)
    return up1 + upsample_nearest(low3)


def fan(p, x01):
    """FAN.forward of 256x256 images in [0, 1]: the (N, 99, 64, 64) heatmaps."""
    x = coord_conv(p, "conv1", x01, stride=2, padding=3)
    x = relu(batch_norm(p, "bn1", x))
    x = avg_pool(conv_block(p, "conv2", x))
    x = conv_block(p, "conv4", conv_block(p, "conv3", x))
    x = hourglass_level(p, 4, coord_conv(p, "m0.coordconv", x))
    x = conv_block(p, "top_m_0", x)
    x = relu(batch_norm(p, "bn_end0", conv(p, "conv_last0", x)))
    return conv(p, "l0", x)


INDEX_MAP = dict(chin=(0 + 8, 33 - 8), eyebrows=(33, 51), eyebrowsedges=(33, 46), nose=(51, 55),
                 nostrils=(55, 60), eyes=(60, 76), lipedges=(76, 82), lipupper=(77, 82),
                 liplower=(83, 88), lipinner=(88, 96))


def shift(x, n):
    """Official shift: a row permutation, up for n >= 0, down for n < 0."""
    up = n >= 0
    n = abs(n)
    h = x.size(2)
    if up:
        head, tail = torch.arange(h - n) + n, torch.arange(n)
    else:
        head, tail = torch.arange(n) + (h - n), torch.arange(h - n)
    return x[:, :, torch.cat([head, tail]), :]


def preprocess(x):
    n, c, h, w = x.size()
    x = torch.where(x < 0.1, torch.zeros_like(x), x)
    flat = x.contiguous().view(n * c, -1)
    high = torch.max(flat, dim=1, keepdim=True)[0]
    low = torch.min(flat, dim=1, keepdim=True)[0]
    x = ((flat - low) / (high - low + 1e-6)).view(n, c, h, w)
    sw = h // 256
    for part, (offset, power) in dict(chin=(0, 3), eyebrows=(-7 * sw, 2), nostrils=(8 * sw, 4),
                                      lipupper=(-8 * sw, 4), liplower=(8 * sw, 4), lipinner=(-2 * sw, 3)).items():
        start, end = INDEX_MAP[part]
        x[:, start:end] = shift(x[:, start:end], offset) ** power
    zero_out = torch.cat([torch.arange(0, INDEX_MAP["chin"][0]), torch.arange(INDEX_MAP["chin"][1], 33),
                          torch.LongTensor([INDEX_MAP["eyebrowsedges"][0], INDEX_MAP["eyebrowsedges"][1],
                                            INDEX_MAP["lipedges"][0], INDEX_MAP["lipedges"][1]])])
    x[:, zero_out] = 0
    start, end = INDEX_MAP["nose"]
    x[:, start + 1:end] = shift(x[:, start + 1:end], 4 * sw)
    x[:, start:end] = x[:, start:end] ** 1
    start, end = INDEX_MAP["eyes"]
    x[:, start:end] = x[:, start:end] ** 1
    x[:, start:end] = shift(x[:, start:end], -8) ** 3 + shift(x[:, start:end], -24)
    x2 = x.clone()
    x2[:, INDEX_MAP["chin"][0]:INDEX_MAP["chin"][1]] = 0
    x2[:, INDEX_MAP["lipedges"][0]:INDEX_MAP["lipinner"][1]] = 0
    x2[:, INDEX_MAP["eyebrows"][0]:INDEX_MAP["eyebrows"][1]] = 0
    x = torch.sum(x, dim=1, keepdim=True)
    x2 = torch.sum(x2, dim=1, keepdim=True)
    x[x != x] = 0
    x2[x != x] = 0
    return x.clamp_(0, 1), x2.clamp_(0, 1)


def get_heatmap(p, x, raw=None):
    """FAN.get_heatmap(x, b_preprocess=True) of images in [-1, 1]; FAN's own output is appended to `raw`."""
    x = F.interpolate(x, size=256, mode="bilinear")
    outputs = fan(p, x * 0.5 + 0.5)
    if raw is not None:
        raw.append(outputs)
    heatmaps = outputs[:, :-1, :, :]
    heatmaps = F.interpolate(heatmaps, scale_factor=x.size(2) // heatmaps.size(2), mode="bilinear",
                             align_corners=True)
    return preprocess(heatmaps)
