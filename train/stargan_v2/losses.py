"""StarGAN v2's objectives (Choi et al. 2020, section 3.2), as the official core/solver.py computes them.

D minimises  L_adv(D(x, y_org), real) + L_adv(D(G(x, s), y_trg), fake) + lambda_reg R1
G minimises  L_adv(D(G(x, s), y_trg), real) + lambda_sty E|s - E(G(x, s), y_trg)|
             - lambda_ds E|G(x, s1) - G(x, s2)| + lambda_cyc E|x - G(G(x, s), E(x, y_org))|

with the non-saturating loss L_adv (BCE on logits) and R1, the zero-centred gradient penalty on real
images (Mescheder et al. 2018).
"""

import torch
import torch.nn.functional as F
from torch import nn


def adversarial(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """BCE of D's logits against all-real (1) or all-fake (0) targets, averaged over the batch."""
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, 1.0 if real else 0.0))


def r1_penalty(d_out: torch.Tensor, x_real: torch.Tensor) -> torch.Tensor:
    """0.5 * batch mean of sum |d D(x) / d x|^2 over each image (x_real must require grad).

    Differentiates the batch sum of D's outputs: image i's output depends on image i only.
    """
    grad = torch.autograd.grad(outputs=d_out.sum(), inputs=x_real, create_graph=True, retain_graph=True)[0]
    return 0.5 * grad.pow(2).flatten(1).sum(dim=1).mean()


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """mean |a - b|: the style reconstruction, diversity and cycle terms are all this."""
    return (a - b).abs().mean()


def diversity_weight(initial: float, step: int, ds_iter: int) -> float:
    """lambda_ds at 0-based iteration `step`: linear from `initial` to 0 over ds_iter iterations, then 0.

    The official loop subtracts initial / ds_iter after every iteration; the same line, computed
    from the step so a resumed run needs no saved value.
    """
    if ds_iter <= 0:
        return 0.0
    return initial * max(0.0, 1.0 - step / ds_iter)


@torch.no_grad()
def moving_average(model: nn.Module, average: nn.Module, beta: float = 0.999) -> None:
    """average <- beta * average + (1 - beta) * model, parameter by parameter (official moving_average)."""
    for param, kept in zip(model.parameters(), average.parameters(), strict=True):
        kept.copy_(torch.lerp(param, kept, beta))


def he_init(module: nn.Module) -> None:
    """Kaiming-normal (fan_in, ReLU gain) weights and zero biases for convs and linears (official he_init)."""
    if isinstance(module, nn.Conv2d | nn.Linear):
        nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
        if module.bias is not None:
            nn.init.constant_(module.bias, 0)
