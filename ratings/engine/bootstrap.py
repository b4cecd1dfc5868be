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
from ratings.engine.cells import PairCells, Rankings
from ratings.engine.errors import RatingDataError
from ratings.engine.kernels import Scatter
from ratings.engine.sampling import PoissonSampler

_OUTCOME_SHARE = np.array([1.0, 0.0, 0.5])
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
) -> np.ndarray:
    """(rounds, M) bootstrap draws of θ."""
    if rounds < 1:
        raise RatingDataError("bootstrap rounds must be at least 1")
    m = obj.m
    flat_n = cells.n.ravel()
    nz = np.flatnonzero(flat_n > 0)
    lam = flat_n[nz]
    mean_w = cells.w.ravel()[nz] / lam
    # Redrawn cell counts -> each pair's (score, total); nz is sorted by pair, so this is one reduction.
    to_pair = Scatter(nz // 3, len(cells.i))
    s_coef = (mean_w * _OUTCOME_SHARE[nz % 3])[:, None]
    n_coef = mean_w[:, None]
    groups = list(rankings.groups.values())
    group_counts = [rankings.count(k) for k in rankings.groups]
    batched = [pl.BatchedPL(items, m) for items, _ in groups]
    _, h0 = obj.grad_hess(theta_hat)
    h0_inv = np.linalg.inv(h0)
    sampler = PoissonSampler(lam)

    per = max(len(nz), 1) + sum(items.size for items, _ in groups)
    size = int(max(8, min(rounds, _BLOCK // per)))
    sizes = [min(size, rounds - k) for k in range(0, rounds, size)]
    seeds = np.random.SeedSequence(seed).spawn(len(sizes))

    def run(k: int) -> np.ndarray:
        rng = np.random.default_rng(seeds[k])
        r = sizes[k]
        counts = sampler.draw(rng, r)
        s, n = to_pair(counts * s_coef), to_pair(counts * n_coef)
        gw = [(w / c)[:, None] * rng.poisson(c[:, None], size=(len(w), r)) for (_, w), c in zip(groups, group_counts)]
        theta = _chord(obj, h0_inv, theta_hat, s, n, gw, batched)
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


def _chord(obj: Objective, h0_inv: np.ndarray, theta_hat: np.ndarray, s: np.ndarray, n: np.ndarray,
           gw: list[np.ndarray], batched: list[pl.BatchedPL]) -> np.ndarray:
    r = s.shape[1]
    theta = np.repeat(theta_hat[:, None], r, axis=1)
    step_size = np.full(r, np.inf)
    for _ in range(_CHORD_MAX):
        step = h0_inv @ obj.grad_batch(theta, s, n, gw, batched)
        theta += step
        step_size = np.abs(step).max(axis=0)
        if np.all(step_size < _CHORD_TOL):
            return theta
    for col in np.flatnonzero(~(step_size < _CHORD_TOL)):  # includes NaN: diverged
        single = Objective(obj.m, obj.i, obj.j, s[:, col], n[:, col],
                           [(items, w[:, col]) for (items, _), w in zip(obj.groups, gw)], obj.prior > 0, obj.parts)
        theta[:, col] = maximize(single, theta_hat)
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
