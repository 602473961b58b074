"""StarGAN's losses (Choi et al. 2018, eqs. 1-4 with WGAN-GP as in section 4), as the official solver.

D minimises  -E[D_src(x)] + E[D_src(G(x, c))] + lambda_gp L_gp + lambda_cls L_cls^r
G minimises  -E[D_src(G(x, c))] + lambda_cls L_cls^f + lambda_rec E|x - G(G(x, c), c')|

The weights (lambda_gp 10, lambda_cls 1, lambda_rec 10) are settings (settings.py).
"""

import torch
import torch.nn.functional as F


def adversarial_real(out_src: torch.Tensor) -> torch.Tensor:
    """D's WGAN term on real images: -mean D_src(x)."""
    return -out_src.mean()


def adversarial_fake(out_src: torch.Tensor) -> torch.Tensor:
    """D's WGAN term on fakes: +mean D_src(G(x, c)); G minimises its negative."""
    return out_src.mean()


def gradient_penalty(out_src: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """mean over the batch of (||d D_src(x_hat) / d x_hat||_2 - 1)^2 (Gulrajani et al. 2017).

    Summing the PatchGAN map before differentiating, as the official code's ones-weighted grad.
    """
    grad = torch.autograd.grad(outputs=out_src, inputs=x_hat,
                               grad_outputs=torch.ones_like(out_src),
                               retain_graph=True, create_graph=True)[0]
    norm = grad.flatten(1).pow(2).sum(dim=1).sqrt()
    return (norm - 1).pow(2).mean()


def interpolate(real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """x_hat = alpha x + (1 - alpha) G(x, c), detached, with per-image alpha ~ U(0, 1)."""
    return (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)


def classification(logits: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Domain classification: BCE summed over attributes, averaged over images (CelebA, the
    official `size_average=False / N`), or cross entropy over classes (RaFD)."""
    if kind == "binary":
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="sum")
        return bce / logits.size(0)
    return F.cross_entropy(logits, target)


def reconstruction(real: torch.Tensor, reconstructed: torch.Tensor) -> torch.Tensor:
    """Cycle loss: mean |x - G(G(x, c), c')| (L1)."""
    return (real - reconstructed).abs().mean()
