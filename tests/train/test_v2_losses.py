"""StarGAN v2's loss terms against their formulas, in float64."""

import math

import torch
from torch import nn

from starbatch.train.stargan_v2 import losses


def test_r1_is_half_the_batch_mean_of_each_images_squared_gradient_sum():
    torch.manual_seed(0)
    x = torch.randn(3, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 4, 4, dtype=torch.float64)
    out = (x * w).flatten(1).sum(1) + (x**2).flatten(1).sum(1)  # d out_i / d x_i = w + 2 x_i
    expected = 0.5 * ((w + 2 * x.detach()) ** 2).flatten(1).sum(1).mean()
    assert torch.allclose(losses.r1_penalty(out, x), expected, rtol=1e-12)


def test_r1_has_a_gradient_for_d_to_descend():
    x = torch.ones(2, 1, 2, 2, dtype=torch.float64, requires_grad=True)
    scale = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    penalty = losses.r1_penalty((scale * x).flatten(1).sum(1), x)  # 0.5 * 4 * scale^2
    (grad,) = torch.autograd.grad(penalty, scale)
    assert math.isclose(penalty.item(), 18.0) and math.isclose(grad.item(), 12.0)


def test_adversarial_is_bce_on_logits_against_all_real_or_all_fake():
    logits = torch.tensor([-1.0, 0.5, 2.0], dtype=torch.float64)
    real = -torch.log(torch.sigmoid(logits)).mean()
    fake = -torch.log(1 - torch.sigmoid(logits)).mean()
    assert torch.allclose(losses.adversarial(logits, real=True), real)
    assert torch.allclose(losses.adversarial(logits, real=False), fake)


def test_lambda_ds_falls_linearly_to_zero_over_ds_iter_and_stays_there():
    weights = [losses.diversity_weight(2.0, step, 4) for step in range(7)]
    assert weights == [2.0, 1.5, 1.0, 0.5, 0.0, 0.0, 0.0]
    assert losses.diversity_weight(1.0, 0, 0) == 0.0


def test_ema_keeps_0999_of_the_average_and_0001_of_the_network():
    torch.manual_seed(0)
    model, average = nn.Linear(3, 2).double(), nn.Linear(3, 2).double()
    before = [p.clone() for p in average.parameters()]
    losses.moving_average(model, average, 0.999)
    for new, old, param in zip(average.parameters(), before, model.parameters(), strict=True):
        assert torch.allclose(new, 0.999 * old + 0.001 * param, rtol=0, atol=1e-15)


def test_he_init_draws_weights_with_the_relu_gain_and_zero_biases():
    layer = nn.Linear(400, 300)
    torch.manual_seed(0)
    losses.he_init(layer)
    assert abs(layer.weight.std().item() / math.sqrt(2 / 400) - 1) < 0.02  # 120k draws: ~0.2% std error
    assert torch.count_nonzero(layer.bias) == 0
