"""Bootstrap replicas of θ for Bradley-Terry / Plackett-Luce, solved together as one batched problem.

A replica redraws each aggregated (pair, outcome) cell's vote count from Poisson(count) (the Poisson
bootstrap: the multinomial's large-sample twin, but independent per cell so it needs no row data;
drawn by table inversion, ``sampling.py``),
and each untied K-wise vote's multiplicity from Poisson(1). All replicas start at θ̂ and iterate
the chord method θ ← θ + H(θ̂)⁻¹ g_r(θ): one factorisation of the full-data Hessian serves every
replica, each iteration is a gather, a sorted reduction and one dense product over an (M, R) block, and it
converges linearly with a small rate because replicas sit within sampling noise of θ̂. The rare
replica that does not converge (a model with a handful of votes losing all of them) is finished by
its own damped Newton solve. Replicas are drawn in chunks, each with its own child seed, so the
result depends only on ``seed`` and runs on all cores (numpy releases the GIL in these loops).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from ratings.engine import pl
from ratings.engine.bt import Objective, maximize
from ratings.engine.cells import Clusters, PairCells, Rankings
from ratings.engine.errors import RatingDataError
from ratings.engine.kernels import Scatter
from ratings.engine.sampling import PoissonSampler

_CHORD_TOL = 1e-8  # in θ: 2e-6 rating points
_CHORD_MAX = 40
_BLOCK = 2_000_000  # cells × replicas per chunk: ~16 MB arrays, reused by malloc rather than re-faulted


def replicas(
    obj: Objective,
    cells: PairCells,
    rankings: Rankings,
    theta_hat: np.ndarray,
    *,
    rounds: int,
    seed: int,
    progress: bool = False,
    clusters: Clusters | None = None,
) -> np.ndarray:
    """(rounds, D) bootstrap draws of the parameters. With ``clusters`` each replica redraws whole
    clusters (a voter's votes together), each with a Poisson(1) multiplicity."""
    if rounds < 1:
        raise RatingDataError("bootstrap rounds must be at least 1")
    m = obj.m
    p_cells = len(cells.i)
    groups = list(rankings.groups.values())
    batched = [pl.BatchedPL(items, m) for items, _ in groups]
    _, h0 = obj.grad_hess(theta_hat)
    h0_inv = np.linalg.inv(h0)
    if clusters is None:
        flat_n = cells.n.ravel()
        nz = np.flatnonzero(flat_n > 0)
        lam = flat_n[nz]
        coef = (cells.w.ravel()[nz] / lam)[:, None]
        to_flat = Scatter(nz, p_cells * 3)
        sampler = PoissonSampler(lam)
        group_counts = [rankings.count(k) for k in rankings.groups]
        per = max(len(nz), 1) + sum(items.size for items, _ in groups)
    else:
        r = clusters.cell_index(cells)
        flat = r * 3 + clusters.outcome
        to_flat = Scatter(flat, p_cells * 3)
        coef = clusters.w[:, None]
        n_cl = clusters.n_clusters
        if clusters.partial:  # the other votes are redrawn per cell, as without clusters
            lw, ln, _ = clusters.light(cells)
            lnz = np.flatnonzero(ln.ravel() > 0)
            light_coef = (lw.ravel()[lnz] / ln.ravel()[lnz])[:, None]
            light_to_flat = Scatter(lnz, p_cells * 3)
            light_sampler = PoissonSampler(ln.ravel()[lnz])
        rank_cl = [clusters.rank_cluster[k] for k in rankings.groups]
        per = max(len(flat), 1) + sum(items.size for items, _ in groups) + n_cl // 4
    size = int(max(8, min(rounds, _BLOCK // per)))
    sizes = [min(size, rounds - k) for k in range(0, rounds, size)]
    seeds = np.random.SeedSequence(seed).spawn(len(sizes))

    def run(k: int) -> np.ndarray:
        rng = np.random.default_rng(seeds[k])
        r_ = sizes[k]
        if clusters is None:
            w3 = to_flat(sampler.draw(rng, r_) * coef).reshape(p_cells, 3, r_)
            gw = [(w / c)[:, None] * rng.poisson(c[:, None], size=(len(w), r_)) for (_, w), c in zip(groups, group_counts)]
        else:
            mult = rng.poisson(1.0, size=(n_cl, r_)).astype(np.float64)
            w3 = to_flat(mult[clusters.cluster] * coef).reshape(p_cells, 3, r_)
            if clusters.partial:
                w3 += light_to_flat(light_sampler.draw(rng, r_) * light_coef).reshape(p_cells, 3, r_)
            gw = [w[:, None] * mult[c] for (_, w), c in zip(groups, rank_cl)]
        theta = _chord(obj, h0_inv, theta_hat, w3, gw, batched)
        return theta.T

    workers = max(1, min(len(sizes), os.cpu_count() or 1))
    bar = _progress(rounds, progress)
    out = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for k, block in enumerate(pool.map(run, range(len(sizes)))):
            out.append(block)
            bar.update(sizes[k])
    bar.close()
    return np.vstack(out)


# A replica the chord method cannot finish is usually separated (a model with a handful of votes won
# or lost all of them in it): its MLE is infinite. It is solved with a tiny virtual tie per model
# (weight 0.01), which keeps it finite and lets Newton converge in a few steps instead of crawling to
# its iteration limit; such a replica only decides the far end of a percentile interval.
_REPLICA_PRIOR = 0.01


def _chord(obj: Objective, h0_inv: np.ndarray, theta_hat: np.ndarray, w3: np.ndarray,
           gw: list[np.ndarray], batched: list[pl.BatchedPL]) -> np.ndarray:
    r = w3.shape[2]
    theta = np.repeat(theta_hat[:, None], r, axis=1)
    step_size = np.full(r, np.inf)
    for _ in range(_CHORD_MAX):
        step = h0_inv @ obj.grad_batch(theta, w3, gw, batched)
        theta += step
        step_size = np.abs(step).max(axis=0)
        if np.all(step_size < _CHORD_TOL):
            return theta
    bad = np.flatnonzero(~(step_size < _CHORD_TOL))  # includes NaN: diverged
    if len(bad) and not gw and len(obj.i) * obj.dim * obj.dim <= 2_000_000:
        theta[:, bad] = _newton_batch(obj, theta_hat, w3[:, :, bad])
        return theta
    for col in bad:
        single = obj.with_weights(w3[:, :, col], [w[:, col] for w in gw], _REPLICA_PRIOR)
        theta[:, col] = maximize(single, theta_hat)
    return theta


def _newton_batch(obj: Objective, theta_hat: np.ndarray, w3: np.ndarray, max_iter: int = 100) -> np.ndarray:
    """Newton for many small replicas at once (pairwise cells only), each with the tiny prior: a
    12-vote file's bootstrap where most replicas are separated then costs about what its sandwich does.
    Steps are capped at 1 in θ (a trust region), so a separated replica walks out to its finite,
    prior-held optimum in a few steps and then converges quadratically."""
    from ratings.engine import pairlik
    from ratings.engine.kernels import sigmoid

    m, dim = obj.m, obj.dim
    r = w3.shape[2]
    x = np.zeros((len(obj.i), dim))
    x[np.arange(len(obj.i)), obj.i] += 1.0
    x[np.arange(len(obj.i)), obj.j] -= 1.0
    if obj.beta is not None:
        x[:, obj.beta] = obj.pos
    prior = max(obj.prior, _REPLICA_PRIOR)
    fixed = np.zeros((dim, dim))
    if obj.by_part is not None:
        fixed[:m, :m] += obj.kappa * (obj.parts[:, None] == obj.parts[None, :])
    fixed[np.arange(m, dim), np.arange(m, dim)] += obj.PARAM_PRIOR
    fixed[np.diag_indices(dim)] += obj.ridge
    theta = np.repeat(theta_hat[:, None], r, axis=1)
    active = np.arange(r)
    for _ in range(max_iter):
        th = theta[:, active]
        w = w3[:, :, active]
        lam = th[obj.lam] if obj.lam is not None else 0.0
        t = pairlik.terms(obj.ties, obj.logit(th), lam, w[:, 0], w[:, 1], w[:, 2])
        g = obj.grad_batch(th, w, [], [])
        q = sigmoid(th[:m])
        g[:m] += (prior - obj.prior) * (0.5 - q)
        h = np.einsum("pd,pr,pe->rde", x, t.hdd, x) + fixed[None]
        if obj.lam is not None:
            c = np.einsum("pd,pr->rd", x, t.hdl)
            h[:, :, obj.lam] += c
            h[:, obj.lam, :] += c
            h[:, obj.lam, obj.lam] += t.hll.sum(axis=0)
        idx = np.arange(m)
        h[:, idx, idx] += (prior * q * (1.0 - q)).T
        step = np.linalg.solve(h, g.T[:, :, None])[:, :, 0].T
        big = np.abs(step).max(axis=0)
        step *= np.minimum(1.0, 1.0 / np.maximum(big, 1e-300))
        theta[:, active] = th + step
        active = active[big >= _CHORD_TOL]
        if not len(active):
            break
    return theta


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    # delay=1: nothing is printed for a bootstrap that finishes within a second.
    return tqdm(total=total, desc="bootstrap", unit="round", delay=1.0, leave=False, disable=None)
