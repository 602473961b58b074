import math

import torch

from starbatch.train.stargan_v1 import losses
from starbatch.train.stargan_v1.solver import learning_rate


def test_adversarial_terms_are_wgan_means():
    out = torch.tensor([[[[1.0, 2.0]]], [[[3.0, -2.0]]]])
    assert losses.adversarial_real(out).item() == -1.0
    assert losses.adversarial_fake(out).item() == 1.0


def test_gradient_penalty_of_a_linear_critic():
    # D(x) = sum(w * x): the gradient is w for every image, so the penalty is (||w|| - 1)^2.
    w = torch.tensor([3.0, 0.0, 4.0, 0.0]).view(1, 1, 2, 2)
    x_hat = torch.randn(3, 1, 2, 2, requires_grad=True)
    out = (x_hat * w).sum(dim=(1, 2, 3)).view(3, 1, 1, 1)
    assert math.isclose(losses.gradient_penalty(out, x_hat).item(), (5.0 - 1.0) ** 2)


def test_gradient_penalty_is_differentiable_and_averages_images():
    x_hat = torch.tensor([[1.0], [2.0]], requires_grad=True)
    scale = torch.tensor(1.5, requires_grad=True)
    out = scale * x_hat**2  # d/dx = 2 * scale * x -> norms 3 and 6
    gp = losses.gradient_penalty(out, x_hat)
    assert math.isclose(gp.item(), ((3 - 1) ** 2 + (6 - 1) ** 2) / 2)
    gp.backward()  # d gp / d scale = mean(2 (|2 s x| - 1) 2 x)
    assert math.isclose(scale.grad.item(), (2 * 2 * 2 + 2 * 5 * 4) / 2)


def test_interpolation_mixes_real_and_fake_per_image():
    real, fake = torch.ones(2, 1, 1, 1), torch.zeros(2, 1, 1, 1)
    alpha = torch.tensor([0.25, 0.75]).view(2, 1, 1, 1)
    x_hat = losses.interpolate(real, fake, alpha)
    assert x_hat.requires_grad and x_hat.flatten().tolist() == [0.25, 0.75]


def test_binary_classification_sums_attributes_and_averages_images():
    logits = torch.tensor([[0.0, 2.0], [1.0, -1.0]])
    target = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    sig = torch.sigmoid
    expected = -(torch.log(sig(torch.tensor(0.0))) + torch.log(1 - sig(torch.tensor(2.0)))
                 + torch.log(sig(torch.tensor(1.0))) + torch.log(sig(torch.tensor(-1.0)))) / 2
    assert torch.allclose(losses.classification(logits, target, "binary"), expected)


def test_onehot_classification_is_cross_entropy():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    target = torch.tensor([0, 2])
    expected = -(torch.log_softmax(logits, 1)[0, 0] + torch.log_softmax(logits, 1)[1, 2]) / 2
    assert torch.allclose(losses.classification(logits, target, "onehot"), expected)


def test_reconstruction_is_mean_absolute_error():
    assert losses.reconstruction(torch.zeros(2, 3), torch.full((2, 3), -0.5)).item() == 0.5


def test_learning_rate_decays_linearly_to_zero_over_the_last_steps():
    assert learning_rate(1e-4, 0, 100, 40) == 1e-4
    assert learning_rate(1e-4, 60, 100, 40) == 1e-4
    assert math.isclose(learning_rate(1e-4, 80, 100, 40), 0.5e-4)
    assert math.isclose(learning_rate(1e-4, 99, 100, 40), 1e-4 / 40)
