import numpy as np
import torch

from model.geometry import (
    lattice_from_params,
    lattice_to_params,
    min_image_frac,
    spd_exp,
    spd_log,
    wrap,
)
from mof.periodic import lattice_from_parameters


def test_wrap_and_min_image():
    x = torch.tensor([[-1e-9, 1.0, 3.25], [-0.75, 0.5, -2.0]], dtype=torch.float64)
    w = wrap(x)
    assert torch.all((w >= 0) & (w < 1))
    d = min_image_frac(torch.tensor([0.7, -0.6, 0.2]))
    torch.testing.assert_close(d, torch.tensor([-0.3, 0.4, 0.2]))


def test_lattice_params_match_numpy_convention():
    p = torch.tensor([[9.8, 10.7, 13.9, 95.3, 110.5, 74.7]], dtype=torch.float64)
    lat = lattice_from_params(p)
    np.testing.assert_allclose(lat[0].numpy(), lattice_from_parameters(*p[0].tolist()), atol=1e-10)
    torch.testing.assert_close(lattice_to_params(lat), p)


def test_spd_log_exp_roundtrip_and_gradient():
    torch.manual_seed(0)
    a = torch.randn(5, 3, 3, dtype=torch.float64)
    m = a @ a.transpose(-1, -2) + 0.1 * torch.eye(3, dtype=torch.float64)
    torch.testing.assert_close(spd_exp(spd_log(m)), m)
    x = m.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda y: spd_log(0.5 * (y + y.transpose(-1, -2))), (x,))
    # repeated eigenvalues (floored Sigmas) keep a finite gradient
    d = torch.diag_embed(torch.tensor([[0.05, 0.05, 0.3]], dtype=torch.float64))
    d.requires_grad_(True)
    (spd_log(d) ** 2).sum().backward()
    assert torch.isfinite(d.grad).all()
