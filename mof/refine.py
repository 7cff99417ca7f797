"""Phase 2 of the assembly fit: a joint continuous refinement of a placement.

Rounds of a one-to-one assignment of connection points (``mof.fit.assign``: Hungarian, images
kept) alternate with a minimisation (L-BFGS, float64) of the assigned pairs' costs plus a clash
penalty over block rotations, block translations and a bounded symmetric strain of the cell. With
``FitParams.torsions`` the units that move are rigid fragments of the blocks, cut at their
rotatable bonds and held together by soft joints (``mof.fragments``), so that torsions can change
where the connection points ask for it. The loss and its gradient are written out in numpy (no
autograd): these problems are small (tens of blocks, hundreds of pairs), and a graph per
evaluation cost more than the arithmetic.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from mof.bonds import neighbour_pairs
from mof.fit import FitParams, Placement, assign, cp_arrays
from mof.fragments import Fragments, merge, split

# the six parameters of a symmetric strain: diagonal, then (0, 1), (0, 2), (1, 2)
_SYM_I = np.array([0, 1, 2, 0, 0, 1])
_SYM_J = np.array([0, 1, 2, 1, 2, 2])


def skew(v: np.ndarray) -> np.ndarray:
    """(..., 3) vectors -> (..., 3, 3) cross-product matrices: ``skew(v) @ y == cross(v, y)``."""
    v = np.asarray(v)
    out = np.zeros(v.shape[:-1] + (3, 3), dtype=v.dtype)
    out[..., 0, 1], out[..., 0, 2] = -v[..., 2], v[..., 1]
    out[..., 1, 0], out[..., 1, 2] = v[..., 2], -v[..., 0]
    out[..., 2, 0], out[..., 2, 1] = -v[..., 1], v[..., 0]
    return out


def _coefficients(w: np.ndarray):
    """(K, 3) rotation vectors -> (K, 1, 1) each of sin(t)/t, (1 - cos t)/t^2, (t - sin t)/t^3
    (t = |w|), by their Taylor series near zero."""
    t2 = (w**2).sum(-1)[:, None, None]
    t = np.sqrt(t2)
    small = t2 < 1e-6
    ts = np.where(small, 1.0, t)  # keeps the divisions finite where the series is used
    sin = np.sin(ts)
    a, b, c = sin / ts, (1 - np.cos(ts)) / ts**2, (ts - sin) / ts**3
    if small.any():
        a = np.where(small, 1 - t2 / 6 + t2**2 / 120, a)
        b = np.where(small, 0.5 - t2 / 24 + t2**2 / 720, b)
        c = np.where(small, 1 / 6 - t2 / 120 + t2**2 / 5040, c)
    return a, b, c


def rotation_matrices(w: np.ndarray) -> np.ndarray:
    """(K, 3) rotation vectors -> (K, 3, 3) rotation matrices (Rodrigues, exact at zero)."""
    return _rodrigues(w, jacobian=False)[0]


def rotation_jacobian(w: np.ndarray) -> np.ndarray:
    """(K, 3) rotation vectors -> (K, 3, 3) left Jacobians J: ``R(w + d) = R(J d) R(w)`` to first
    order in d. The gradient of f(R(w)) is ``J.T @ tau`` with tau the torque of dF/dR."""
    return _rodrigues(w, jacobian=True)[1]


def _rodrigues(w: np.ndarray, jacobian: bool):
    """(K, 3) rotation vectors -> rotation matrices (K, 3, 3) and, with ``jacobian``, their left
    Jacobians (K, 3, 3) (else None): one evaluation of the coefficients for both."""
    a, b, c = _coefficients(w)
    k = skew(w)
    kk = k @ k
    eye = np.eye(3)
    return eye + a * k + b * kk, (eye + b * k + c * kk) if jacobian else None


def _strain(e_raw: np.ndarray, max_strain: float) -> np.ndarray:
    """(6,) unbounded parameters -> (3, 3) symmetric strain with entries in (-max, max)."""
    s = np.zeros((3, 3))
    e = max_strain * np.tanh(e_raw)
    s[_SYM_I, _SYM_J] = e
    s[_SYM_J, _SYM_I] = e
    return s


def _clash_pairs(place: Placement, cutoff: float, atom_owner: np.ndarray):
    """Atom pairs of different blocks (or of a block and its own periodic image) closer than
    ``cutoff``: (i (P,), j (P,), shift (P, 3)) with ``vec = atom_j + shift @ L - atom_i`` between
    the unwrapped atoms of ``place``."""
    atoms = np.concatenate(
        [place.centres[i] + blk.local @ place.rots[i].T for i, blk in enumerate(place.blocks)]
    )
    frac = atoms @ np.linalg.inv(place.lattice)
    ii, jj, sh, _ = neighbour_pairs(frac, place.lattice, cutoff)
    # neighbour_pairs wraps fractional coordinates: fold each atom's wrapping into the shift
    wrapped = np.floor(frac).astype(np.int64)
    sh = sh - wrapped[jj] + wrapped[ii]
    keep = (atom_owner[ii] != atom_owner[jj]) | np.any(sh != 0, axis=1)
    return ii[keep], jj[keep], sh[keep]


class _Fit:
    """The continuous degrees of freedom of a placement and its loss with gradient: rotation
    vectors ``w`` (K, 3) applied on top of the start rotations, translations ``t`` (K, 3) and a
    bounded symmetric strain of the cell (6 parameters), flattened into one vector. Block centres
    keep their fractional positions in the strained cell, plus their translation. With
    ``frags`` (``mof.fragments.split``; ``place`` is then ``frags.place``) the units are the
    fragments, and the joints between fragments of one block join the loss."""

    def __init__(
        self,
        place: Placement,
        p: FitParams,
        lattice_ref: np.ndarray | None = None,
        frags: Fragments | None = None,
    ):
        self.p, self.blocks, self.frags = p, place.blocks, frags
        k = len(place.blocks)
        self.k = k
        c = cp_arrays(place.blocks)
        self.cp_owner = c["owner"]
        self.cp = c["cp"]
        self.bond = c["atom"] - c["cp"]  # half-bond of each CP in the block frame
        self.atom_owner = np.concatenate([np.full(len(b.z), i) for i, b in enumerate(place.blocks)])
        self.local = np.concatenate([np.asarray(b.local, dtype=float) for b in place.blocks])
        # clashes count between atoms of different blocks (not fragments of one block), and a
        # block cut into fragments is pulled to its place as hard as a whole one
        self.atom_group = self.atom_owner
        self.pull = np.ones(k)
        if frags is not None:
            self.atom_group = frags.parent[self.atom_owner]
            n_block = np.array([len(b.z) for b in frags.blocks], dtype=float)
            self.pull = np.array([len(b.z) for b in place.blocks]) / n_block[frags.parent]
        # per-block sums by matrix products: (K, N) indicator of each CP's owner
        self.cp_onehot = (self.cp_owner[None, :] == np.arange(k)[:, None]).astype(float)
        # the strain is measured from lattice_ref (the sampled cell), so that the bound holds
        # for the whole assembly however many fits run one after the other
        ref = place.lattice if lattice_ref is None else np.asarray(lattice_ref, dtype=float)
        self.lat0 = ref
        self.frac0 = place.centres @ np.linalg.inv(place.lattice)
        self.r0 = np.array(place.rots, dtype=float)
        e0 = np.linalg.solve(ref, place.lattice) - np.eye(3)
        e0 = 0.5 * (e0 + e0.T)[_SYM_I, _SYM_J]
        bound = max(p.max_strain, 1e-12)
        e_raw = np.arctanh(np.clip(e0 / bound, -0.999, 0.999))
        self.free_cell = p.max_strain > 0  # a fixed cell has no strain parameters to move
        self.theta = np.concatenate([np.zeros(6 * k), e_raw if self.free_cell else []])
        self.e_fixed = e_raw

    def _split(self, theta):
        k = self.k
        w, t = theta[: 3 * k].reshape(k, 3), theta[3 * k : 6 * k].reshape(k, 3)
        e_raw = theta[6 * k :] if self.free_cell else self.e_fixed
        return w, t, e_raw

    def state(self, theta=None, r_w=None):
        """(lattice (3, 3), centres (K, 3), rotations (K, 3, 3)) at ``theta`` (default: now);
        ``r_w``: the rotation matrices of its rotation vectors, when already computed."""
        w, t, e_raw = self._split(self.theta if theta is None else theta)
        lat = self.lat0
        if self.p.max_strain > 0:
            lat = lat @ (np.eye(3) + _strain(e_raw, self.p.max_strain))
        return lat, self.frac0 @ lat + t, (rotation_matrices(w) if r_w is None else r_w) @ self.r0

    def placement(self) -> Placement:
        lat, centres, rot = self.state()
        return Placement(lat, centres, rot, self.blocks)

    def loss_grad(self, theta, pairs, clashes, scale: float):
        """The loss at ``theta`` and its gradient: assigned pairs' costs (robust with ``scale``
        > 0) + clash penalty + a weak pull of the translations to zero. ``pairs``: (a, b,
        shift), a one-to-one pairing as ``assign`` makes it (no CP in two pairs); ``clashes``:
        ``clash_terms``'s atom pairs and the atoms they involve."""
        p = self.p
        w, t, e_raw = self._split(theta)
        r_w, jac = _rodrigues(w, jacobian=True)
        lat, centres, rot = self.state(theta, r_w)
        ro = rot[self.cp_owner]
        x = centres[self.cp_owner] + np.einsum("nxy,ny->nx", ro, self.cp)
        u = np.einsum("nxy,ny->nx", ro, self.bond)
        a, b, shift = pairs
        r1 = x[b] + shift @ lat - x[a]
        r2 = u[a] + u[b]
        e = (r1**2).sum(-1) + p.bond_weight * (r2**2).sum(-1)
        if scale > 0:
            loss = float((scale**2 * np.log1p(e / scale**2)).sum())
            de = 1.0 / (1.0 + e / scale**2)
        else:
            loss, de = float(e.sum()), np.ones_like(e)
        loss += p.translation_weight * float((self.pull[:, None] * t**2).sum())
        g1 = 2 * de[:, None] * r1
        g2 = 2 * p.bond_weight * de[:, None] * r2
        # a one-to-one pairing: a (node side) and b (linker side) are disjoint and hold each CP
        # at most once, so each CP's gradient is one pair's term
        gx, gu = np.zeros_like(x), np.zeros_like(u)
        gx[b], gx[a] = g1, -g1
        gu[a], gu[b] = g2, g2
        g_lat = shift.T @ g1
        g_c = self.cp_onehot @ gx
        outer = gx[:, :, None] * self.cp[:, None, :] + gu[:, :, None] * self.bond[:, None, :]
        g_rot = (self.cp_onehot @ outer.reshape(-1, 9)).reshape(-1, 3, 3)
        ii, jj, sh, own, loc = clashes
        if len(ii):
            at = centres[own] + np.einsum("nxy,ny->nx", rot[own], loc)
            v = at[jj] + sh @ lat - at[ii]
            d = np.sqrt((v**2).sum(-1))
            over = np.clip(p.clash_distance - d, 0.0, None)
            loss += p.clash_weight * float((over**2).sum())
            gv = (-2 * p.clash_weight * over / np.maximum(d, 1e-12))[:, None] * v
            # per atom, its pairs' terms summed in pair order (as np.add.at, faster)
            idx, val = np.concatenate([jj, ii]), np.concatenate([gv, -gv])
            ga = np.stack([np.bincount(idx, val[:, x], len(at)) for x in range(3)], 1)
            g_lat += sh.T @ gv
            np.add.at(g_c, own, ga)
            np.add.at(g_rot, own, ga[:, :, None] * loc[:, None, :])
        if self.frags is not None and len(self.frags.fa):
            loss += self._joint_terms(centres, rot, g_c, g_rot)
        # centres = frac0 @ lat + t
        g_t = g_c + 2 * p.translation_weight * self.pull[:, None] * t
        g_lat += self.frac0.T @ g_c
        # rot = R(w) @ r0: the torque of dL/drot, mapped through the left Jacobian of R
        m = g_rot @ np.swapaxes(rot, 1, 2)
        tau = np.stack(
            [m[:, 2, 1] - m[:, 1, 2], m[:, 0, 2] - m[:, 2, 0], m[:, 1, 0] - m[:, 0, 1]], 1
        )
        g_w = np.einsum("kyx,ky->kx", jac, tau)
        grad = [g_w.ravel(), g_t.ravel()]
        if self.free_cell:
            # lat = lat0 @ (I + S(e)), e = max_strain * tanh(e_raw), S symmetric
            g_s = self.lat0.T @ g_lat
            g_e = g_s[_SYM_I, _SYM_J] + np.where(_SYM_I != _SYM_J, g_s[_SYM_J, _SYM_I], 0.0)
            grad.append(g_e * p.max_strain * (1 - np.tanh(e_raw) ** 2))
        return loss, np.concatenate(grad)

    def _joint_terms(self, centres, rot, g_c, g_rot) -> float:
        """The joints between fragments of a block (``Fragments``): the cut bond's midpoint and
        half-bonds seen from both sides kept together (``joint_weight``, as a pair of connection
        points) and the vector across the bond kept together (``torsion_weight``: a torsion
        costs about ``torsion_weight`` * angle^2). Adds the gradient into ``g_c`` (K, 3) and
        ``g_rot`` (K, 3, 3); returns the loss."""
        fr, p = self.frags, self.p
        ra, rb = rot[fr.fa], rot[fr.fb]
        app = lambda r, v: np.einsum("jxy,jy->jx", r, v)  # noqa: E731
        r1 = centres[fr.fb] + app(rb, fr.mb) - centres[fr.fa] - app(ra, fr.ma)
        r2 = app(ra, fr.ua) + app(rb, fr.ub)
        r3 = app(ra, fr.d) - app(rb, fr.d)
        wj, wt = p.joint_weight, p.torsion_weight
        loss = wj * float((r1**2).sum() + (r2**2).sum()) + wt * float((r3**2).sum())
        g1, g2, g3 = 2 * wj * r1, 2 * wj * r2, 2 * wt * r3
        np.add.at(g_c, fr.fb, g1)
        np.add.at(g_c, fr.fa, -g1)
        outer = lambda a, b: a[:, :, None] * b[:, None, :]  # noqa: E731
        np.add.at(g_rot, fr.fb, outer(g1, fr.mb) + outer(g2, fr.ub) - outer(g3, fr.d))
        np.add.at(g_rot, fr.fa, -outer(g1, fr.ma) + outer(g2, fr.ua) + outer(g3, fr.d))
        return loss

    def clash_terms(self, place: Placement):
        """The clash pairs of ``place`` (``_clash_pairs`` within ``clash_distance`` + 1 A) for
        ``loss_grad``, gathered once per minimisation: (i (P,), j (P,), shift (P, 3)) indexing
        the atoms involved, and those atoms' owner blocks (S,) and local coordinates (S, 3)."""
        ii, jj, sh = _clash_pairs(place, self.p.clash_distance + 1.0, self.atom_group)
        sel, inv = np.unique(np.concatenate([ii, jj]), return_inverse=True)
        i_sel, j_sel = inv[: len(ii)], inv[len(ii) :]
        return i_sel, j_sel, sh.astype(float), self.atom_owner[sel], self.local[sel]

    def minimise(self, pairs, clashes, scale: float) -> float:
        """L-BFGS from the current parameters (at most ``steps`` iterations and 1.25x as many
        evaluations, the budget torch's L-BFGS had until session 17); returns the final loss."""
        res = minimize(
            self.loss_grad,
            self.theta,
            args=(pairs, clashes, scale),
            jac=True,
            method="L-BFGS-B",
            options={
                "maxiter": max(1, self.p.steps),
                "maxfun": max(2, int(1.25 * self.p.steps)),
                "maxcor": 20,
                "ftol": 1e-12,
                "gtol": 1e-7,
            },
        )
        self.theta = res.x
        return float(res.fun)


def joint_fit(
    place: Placement, p: FitParams, lattice_ref: np.ndarray | None = None
) -> tuple[Placement, float]:
    """Rounds of assignment + L-BFGS over rotations, translations and cell strain.

    In all rounds but the last the pair cost is robust (Cauchy, scale growing from
    ``robust_start`` A by 8x over the rounds), so that pairs that fit pull before those that do
    not; the last round is plain least squares. Returns the new placement and the final loss
    (of the last round's assignment and clash pairs). The cell strain is bounded relative to
    ``lattice_ref`` (default: the placement's own cell). With ``torsions`` the blocks come back
    as new conformers (``mof.fragments.merge``) where a rotatable bond turned."""
    frags = split(place, p.torsion_min_heavy) if p.torsions else None
    fit = _Fit(place if frags is None else frags.place, p, lattice_ref, frags)
    n = max(1, p.rounds)
    scales = [
        p.robust_start * 8.0 ** (r / max(1, n - 2)) if p.robust_start > 0 else 0.0
        for r in range(n - 1)
    ] + [0.0]
    loss = float("nan")
    for scale in scales:
        cur = fit.placement()
        a, b, shift, _, _ = assign(cur, p)
        loss = fit.minimise((a, b, shift.astype(float)), fit.clash_terms(cur), scale)
    return (fit.placement() if frags is None else merge(frags, fit.placement())), loss
