"""Query strategies: which pool texts to label next. Each is `fn(pool, n, rng) -> (idx, scores)` over sentence vectors,
the idx in preference order (best first), found by name in `lowdata.active.STRATEGIES`.

    pool = Pool(X)                                       # (N, H) L2-normalised vectors; nothing labeled yet
    idx, score = STRATEGIES.factory("typiclust")(pool, 40, np.random.default_rng(0))
    pool = Pool(X, X_l=X[idx], y_l=y, probs=P)           # with labels and a model's (N, C) probabilities
    idx, score = STRATEGIES.factory("margin")(pool, 40, rng)

Cold start (no model): random, kmeans, typiclust, probcover (needs the class count); uncertainty (need probs):
least_confidence, margin, entropy, committee (fits its own bootstrap committee on the labeled vectors), mc_dropout
(needs `samples`, T stochastic passes of a model); diversity: coreset, badge and wkmeans (need probs). Every
strategy streams the pool in row chunks, so a memory-mapped (N, H) array of 1M rows is read, never copied whole
(typiclust and probcover work on a seeded sample of a large pool or cluster).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHUNK = 65536  # rows per block when streaming the pool


@dataclass
class Pool:
    X: np.ndarray                            # (N, H) pool vectors, L2-normalised (a memmap is fine)
    X_l: np.ndarray | None = None            # (L, H) labeled vectors
    y_l: np.ndarray | None = None            # (L,) their class ids 0..C-1
    probs: np.ndarray | None = None          # (N, C) the current model's class probabilities on the pool
    samples: np.ndarray | None = None        # (T, N, C) MC-dropout passes (mc_dropout only)
    classes: int | None = None               # number of classes, where known (probcover's ball radius)

    def labeled(self) -> int:
        return 0 if self.X_l is None else len(self.X_l)


def _blocks(n: int):
    for s in range(0, n, CHUNK):
        yield s, min(n, s + CHUNK)


def _need_probs(pool: Pool, name: str) -> np.ndarray:
    if pool.probs is None:
        from ..errors import LowdataError

        raise LowdataError(f"strategy {name!r} needs a model's class probabilities (give --labeled or --model); "
                           f"cold-start strategies without one: random, kmeans, typiclust, probcover")
    return pool.probs


def _top(score: np.ndarray, n: int, rng) -> np.ndarray:
    """The n highest scores, best first; ties broken by a seeded random order (so equal scores are not taken in
    file order)."""
    perm = rng.permutation(len(score))
    order = perm[np.argsort(-score[perm], kind="stable")]
    return order[:n]


def random(pool: Pool, n: int, rng):
    """Uniform random sample of the pool: the control every strategy is compared with."""
    idx = rng.permutation(len(pool.X))[:n]
    return idx, np.zeros(len(idx))


def least_confidence(pool: Pool, n: int, rng):
    """1 - max_c p(c|x) (Lewis & Gale 1994; Settles 2009, "Active Learning Literature Survey" sec. 3.1)."""
    p = _need_probs(pool, "least_confidence")
    s = 1.0 - p.max(1)
    idx = _top(s, n, rng)
    return idx, s[idx]


def margin(pool: Pool, n: int, rng):
    """Smallest gap between the two most probable classes (Scheffer et al. 2001); score = -(p1 - p2)."""
    p = _need_probs(pool, "margin")
    two = np.sort(p, axis=1)[:, -2:]
    s = -(two[:, 1] - two[:, 0])
    idx = _top(s, n, rng)
    return idx, s[idx]


def _entropy(p: np.ndarray) -> np.ndarray:
    return -(p * np.log(np.clip(p, 1e-12, None))).sum(-1)


def entropy(pool: Pool, n: int, rng):
    """Predictive entropy -sum_c p log p (Shannon; Settles 2009 sec. 3.1)."""
    s = _entropy(_need_probs(pool, "entropy"))
    idx = _top(s, n, rng)
    return idx, s[idx]


def committee(pool: Pool, n: int, rng, members: int = 5):
    """Query by bagging (Abe & Mamitsuka 1998): `members` logistic regressions on bootstrap resamples of the labeled
    vectors; score = vote entropy (Dagan & Engelson 1995), ties broken by the entropy of the members' mean
    probability. Needs labels, not a model."""
    from sklearn.linear_model import LogisticRegression

    if pool.labeled() < 2 or len(np.unique(pool.y_l)) < 2:
        from ..errors import LowdataError

        raise LowdataError("strategy 'committee' needs labeled examples of at least two classes (give --labeled)")
    C = int(pool.y_l.max()) + 1
    clfs = []
    for _ in range(members):
        b = rng.integers(0, pool.labeled(), pool.labeled())
        while len(np.unique(pool.y_l[b])) < 2:  # a resample of one class cannot be fitted
            b = rng.integers(0, pool.labeled(), pool.labeled())
        clfs.append(LogisticRegression(max_iter=1000, C=10.0).fit(pool.X_l[b], pool.y_l[b]))
    s = np.zeros(len(pool.X))
    for a, z in _blocks(len(pool.X)):
        x = np.asarray(pool.X[a:z])
        votes, mean = np.zeros((z - a, C)), np.zeros((z - a, C))
        for clf in clfs:
            pr = clf.predict_proba(x)
            votes[np.arange(z - a), clf.classes_[pr.argmax(1)]] += 1
            mean[:, clf.classes_] += pr / members
        s[a:z] = _entropy(votes / members) + 1e-3 * _entropy(mean)  # the tie-break term stays below one vote's step
    idx = _top(s, n, rng)
    return idx, s[idx]


def mc_dropout(pool: Pool, n: int, rng):
    """BALD with MC dropout (Houlsby et al. 2011; Gal, Islam & Ghahramani 2017): mutual information between the
    label and the weights, H(mean_t p_t) - mean_t H(p_t), over T stochastic forward passes (`pool.samples`)."""
    if pool.samples is None:
        from ..errors import LowdataError

        raise LowdataError("strategy 'mc_dropout' needs a trained model (give --model): it runs the model with "
                           "dropout on, several times")
    S = pool.samples  # (T, N, C)
    s = _entropy(S.mean(0)) - _entropy(S).mean(0)
    idx = _top(s, n, rng)
    return idx, s[idx]


def _sq_dist_to(X, c: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (N,) of every row of X to the vector c (H,), streamed."""
    out = np.empty(len(X), dtype=np.float32)
    cc = float(c @ c)
    for a, z in _blocks(len(X)):
        x = np.asarray(X[a:z], dtype=np.float32)
        out[a:z] = np.maximum((x * x).sum(1) - 2 * x @ c + cc, 0)
    return out


def coreset(pool: Pool, n: int, rng):
    """Greedy k-center (Sener & Savarese 2018, "Active Learning for CNNs: A Core-Set Approach", Alg. 1): each pick
    is the pool point farthest from every labeled or already picked point. With nothing labeled the first pick is a
    seeded random point. Score = that distance."""
    N = len(pool.X)
    d = np.full(N, np.inf, dtype=np.float32)
    if pool.labeled():
        for a, z in _blocks(len(pool.X_l)):  # min over labeled points, a block of centres at a time
            L = np.asarray(pool.X_l[a:z], dtype=np.float32)
            ll = (L * L).sum(1)
            for b, e in _blocks(N):
                x = np.asarray(pool.X[b:e], dtype=np.float32)
                for s in range(0, len(L), 256):
                    D = (x * x).sum(1)[:, None] - 2 * x @ L[s:s + 256].T + ll[None, s:s + 256]
                    d[b:e] = np.minimum(d[b:e], np.maximum(D, 0).min(1))
    idx, score = [], []
    for _ in range(min(n, N)):
        i = int(rng.integers(N)) if not np.isfinite(d).any() else int(np.argmax(d))
        idx.append(i)
        score.append(float(np.sqrt(d[i])) if np.isfinite(d[i]) else 0.0)
        d = np.minimum(d, _sq_dist_to(pool.X, np.asarray(pool.X[i], dtype=np.float32)))
        d[i] = -1.0  # never picked twice
    return np.array(idx, dtype=int), np.array(score)


def badge(pool: Pool, n: int, rng):
    """BADGE (Ash et al. 2020, "Deep Batch Active Learning by Diverse, Uncertain Gradient Lower Bounds"): k-means++
    seeding over the last layer's gradient embeddings g_x = (p - onehot(argmax p)) (x) h for the head's input h (here
    the sentence vector). The (N, C*H) embeddings are never built: ||g_i - g_j||^2 = |a_i|^2|h_i|^2 + |a_j|^2|h_j|^2
    - 2 (a_i.a_j)(h_i.h_j) with a = p - onehot. First centre: the largest gradient norm (as in the paper's code);
    then D^2 sampling. Score = D^2 at the pick."""
    P = _need_probs(pool, "badge")
    N = len(pool.X)
    A = P.copy()
    A[np.arange(N), P.argmax(1)] -= 1.0                              # (N, C)
    aa = (A * A).sum(1)
    hh = np.empty(N, dtype=np.float64)
    for a, z in _blocks(N):
        x = np.asarray(pool.X[a:z], dtype=np.float64)
        hh[a:z] = (x * x).sum(1)
    g2 = aa * hh                                                     # ||g_i||^2
    D = np.full(N, np.inf)
    idx, score = [], []
    i = int(np.argmax(g2))
    for _ in range(min(n, N)):
        idx.append(i)
        score.append(float(D[i]) if np.isfinite(D[i]) else float(g2[i]))
        c_h = np.asarray(pool.X[i], dtype=np.float64)
        d = np.empty(N)
        for a, z in _blocks(N):
            x = np.asarray(pool.X[a:z], dtype=np.float64)
            d[a:z] = g2[a:z] + g2[i] - 2 * (A[a:z] @ A[i]) * (x @ c_h)
        D = np.minimum(D, np.maximum(d, 0))
        D[idx] = 0.0
        tot = D.sum()
        if len(idx) >= min(n, N):
            break
        # D^2 sampling; when every remaining gradient embedding coincides with a centre, fall back to random
        i = int(rng.choice(N, p=D / tot)) if tot > 0 else int(rng.choice(np.setdiff1d(np.arange(N), idx)))
    return np.array(idx, dtype=int), np.array(score)


def _kmeans(X, k: int, seed: int, fit_rows: int = 100_000):
    """k-means centres and the label of every row: KMeans on small pools, MiniBatchKMeans on a seeded sample of
    `fit_rows` rows of a large one (labels then assigned to all rows, streamed)."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    N = len(X)
    if N <= 20_000:
        km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(np.asarray(X))
        return km.cluster_centers_, km.labels_
    rows = np.sort(np.random.default_rng(seed).permutation(N)[:fit_rows])
    km = MiniBatchKMeans(n_clusters=k, n_init=3, random_state=seed, batch_size=4096).fit(np.asarray(X[rows]))
    lab = np.empty(N, dtype=np.int64)
    for a, z in _blocks(N):
        lab[a:z] = km.predict(np.asarray(X[a:z], dtype=km.cluster_centers_.dtype))
    return km.cluster_centers_, lab


def kmeans(pool: Pool, n: int, rng):
    """k-means with n clusters over the pool; from each cluster the point nearest its centre (a medoid proxy), the
    largest clusters first (the cold-start baseline of e.g. Zhdanov 2019; Chang et al. 2021). Score = cluster size."""
    n = min(n, len(pool.X))
    cent, lab = _kmeans(pool.X, n, int(rng.integers(2**31)))
    best = np.full(n, -1)
    bd = np.full(n, np.inf)
    for a, z in _blocks(len(pool.X)):
        x = np.asarray(pool.X[a:z], dtype=np.float64)
        d = ((x - cent[lab[a:z]]) ** 2).sum(1)
        for j in np.unique(lab[a:z]):
            m = np.flatnonzero(lab[a:z] == j)
            k = m[np.argmin(d[m])]
            if d[k] < bd[j]:
                bd[j], best[j] = d[k], a + k
    size = np.bincount(lab, minlength=n)
    keep = best >= 0
    order = np.argsort(-size[keep], kind="stable")
    return best[keep][order], size[keep][order].astype(float)


WKMEANS_BETA = 10  # Zhdanov 2019's pre-filter: the beta x n most uncertain points are clustered (the paper: 10-50)


def wkmeans(pool: Pool, n: int, rng):
    """Diverse mini-batch active learning (Zhdanov 2019, arXiv:1901.05954, "WKMeans"): pre-filter the beta x n pool
    points of smallest margin (beta = 10), cluster them into n groups by k-means weighted by informativeness (1 - the
    margin p1 - p2), take from each group the point nearest its centre. Picks ordered by informativeness, the score.
    Margin's ranking alone fills a batch with near-duplicates of one confusion; the clustering spreads it."""
    p = _need_probs(pool, "wkmeans")
    from sklearn.cluster import KMeans

    N = len(pool.X)
    n = min(n, N)
    two = np.sort(p, axis=1)[:, -2:]
    info = 1.0 - (two[:, 1] - two[:, 0])
    cand = np.sort(_top(info, min(N, WKMEANS_BETA * n), rng))
    x = np.asarray(pool.X[cand], dtype=np.float64)
    w = np.maximum(info[cand], 1e-6)
    km = KMeans(n_clusters=n, n_init=3, random_state=int(rng.integers(2**31))).fit(x, sample_weight=w)
    d = ((x - km.cluster_centers_[km.labels_]) ** 2).sum(1)
    picks = [cand[m[np.argmin(d[m])]] for j in range(n) if len(m := np.flatnonzero(km.labels_ == j))]
    picks = np.array(picks, dtype=int)
    order = np.argsort(-info[picks], kind="stable")
    return picks[order], info[picks][order]


# TypiClust's constants (Hacohen, Dekel & Weinshall 2022, "Active Learning on a Budget", official code)
TYPICLUST_K = 20
TYPICLUST_MIN_CLUSTER = 5
TYPICLUST_MAX_CLUSTERS = 500
TYPICLUST_MAX_ROWS = 5_000  # deviation: in a cluster larger than this, typicality is computed on (and the pick made
# from) a seeded sample of 5,000 of its points: kNN distances in a uniform sample rank density the same way, and the
# pairwise cost stays (5k)^2 per cluster


def typiclust(pool: Pool, n: int, rng):
    """TypiClust (Hacohen et al. 2022): cluster labeled + pool into min(L + n, 500) k-means clusters; repeatedly take
    the cluster with the fewest labeled points (the largest first, clusters of <= 5 points skipped) and pick its most
    typical point, typicality = 1 / mean distance to its K=min(20, size/2) nearest neighbours in the cluster.
    Score = typicality. (The paper clusters self-supervised image features; here the encoder's sentence vectors.)"""
    N, L = len(pool.X), pool.labeled()
    k = max(1, min(L + n, TYPICLUST_MAX_CLUSTERS, N))
    X_all = pool.X if not L else np.vstack([np.asarray(pool.X_l), np.asarray(pool.X)])
    _, lab = _kmeans(X_all, k, int(rng.integers(2**31)))
    lab_l, lab = lab[:L], lab[L:]
    size = np.bincount(lab, minlength=k)
    covered = np.bincount(lab_l, minlength=k).astype(int)
    ok = size > TYPICLUST_MIN_CLUSTER
    if not ok.any():
        ok = size > 0
    left = size.copy()  # unpicked pool points per cluster
    typ = {}  # cluster -> (its pool rows, their typicality); a picked row's typicality becomes -inf
    idx, score = [], []
    for _ in range(min(n, N)):
        cand = np.flatnonzero(ok & (left > 0))
        if not len(cand):  # the clusters of > 5 points are used up: the small ones too, rather than a short batch
            cand = np.flatnonzero(left > 0)
        if not len(cand):
            break
        j = cand[np.lexsort((-size[cand], covered[cand]))[0]]  # fewest labeled, then largest
        if j not in typ:
            members = np.flatnonzero(lab == j)
            if len(members) > TYPICLUST_MAX_ROWS:
                members = np.sort(rng.permutation(members)[:TYPICLUST_MAX_ROWS])
                left[j] = len(members)
            typ[j] = (members, _typicality(np.asarray(pool.X[members], dtype=np.float32),
                                           min(TYPICLUST_K, max(1, len(members) // 2))))
        members, t = typ[j]
        b = int(np.argmax(t))
        idx.append(int(members[b]))
        score.append(float(t[b]))
        t[b] = -np.inf
        left[j] -= 1
        covered[j] += 1
    return np.array(idx, dtype=int), np.array(score)


def _typicality(x: np.ndarray, k: int) -> np.ndarray:
    """1 / (mean Euclidean distance to the k nearest other rows + 1e-5), rows of x, in blocks of rows."""
    if len(x) == 1:
        return np.ones(1)
    k = min(k, len(x) - 1)
    xx = (x * x).sum(1)
    out = np.empty(len(x))
    B = 256  # rows per block: a (B, M) float32 distance block, 20 MB for a 20k-row cluster
    for s in range(0, len(x), B):
        D = np.sqrt(_pair_sq(x[s:s + B], x, xx[s:s + B], xx))                # (B, M)
        D[np.arange(len(D)), np.arange(s, s + len(D))] = np.inf  # not its own neighbour
        near = np.partition(D, k - 1, axis=1)[:, :k]
        out[s:s + B] = 1.0 / (near.mean(1) + 1e-5)
    return out


# ProbCover (Yehuda, Dekel, Hacohen & Weinshall 2022, "Active Learning Through a Covering Lens", NeurIPS)
PROBCOVER_PURITY = 0.95     # alpha: the ball radius is the largest whose balls are this pure (the paper's value)
PROBCOVER_MAX_ROWS = 20_000  # deviation: on a larger pool the graph is built over a seeded sample of this many rows
# (the paper's pools are 50k-1.3M images with faiss range search; a (20k)^2 distance pass stays seconds on a CPU)


def probcover(pool: Pool, n: int, rng):
    """ProbCover: delta-balls around every point; delta is the largest radius at which >= 95% of balls are pure with
    respect to k-means with k = the number of classes (here in closed form: the 5th percentile of each point's
    distance to its nearest point of another cluster; the paper scans a grid of delta). Greedy max coverage: each
    pick is the pool point whose ball holds the most points not yet covered (points in a labeled point's ball start
    covered); once everything is covered, seeded random picks (as the paper). Score = points newly covered."""
    from ..errors import LowdataError

    if not pool.classes or pool.classes < 2:
        raise LowdataError(f"strategy 'probcover' needs the number of classes, at least 2 (its ball radius comes "
                           f"from k-means with k = classes; got {pool.classes}): give --labeled, or --classes N")
    N = len(pool.X)
    rows = np.arange(N) if N <= PROBCOVER_MAX_ROWS else np.sort(rng.permutation(N)[:PROBCOVER_MAX_ROWS])
    x = np.asarray(pool.X[rows], dtype=np.float32)
    L = 0 if not pool.labeled() else len(pool.X_l)
    X_all = x if not L else np.vstack([np.asarray(pool.X_l, dtype=np.float32), x])
    _, lab = _kmeans(X_all, min(pool.classes, len(X_all)), int(rng.integers(2**31)))
    sq = (X_all * X_all).sum(1)
    other = np.full(len(X_all), np.inf, dtype=np.float32)  # squared distance to the nearest point of another cluster
    for a in range(0, len(X_all), 512):
        D = _pair_sq(X_all[a:a + 512], X_all, sq[a:a + 512], sq)                    # (B, M)
        D[lab[a:a + 512, None] == lab[None]] = np.inf
        other[a:a + 512] = D.min(1)
    delta2 = float(np.quantile(other[np.isfinite(other)], 1 - PROBCOVER_PURITY)) if np.isfinite(other).any() else 0.0
    xs = sq[L:]
    covered = np.zeros(len(x), dtype=bool)
    for a in range(0, L, 512):  # points within delta of a labeled point are covered already
        covered |= (_pair_sq(X_all[a:min(L, a + 512)], x, sq[a:min(L, a + 512)], xs) < delta2).any(0)
    # balls are recomputed, never stored: a well-separated pool can have balls of N / classes points (edges ~N^2)
    deg = np.empty(len(x), dtype=np.int64)  # uncovered points in each pool point's ball, itself included
    for a in range(0, len(x), 512):
        deg[a:a + 512] = _balls(x, xs, np.arange(a, min(len(x), a + 512)), delta2)[:, ~covered].sum(1)
    picked = np.zeros(len(x), dtype=bool)
    idx, score = [], []
    for _ in range(min(n, len(x))):  # a sampled pool offers its sample only
        free = np.where(picked, -1, deg)
        i = int(_top(free.astype(float), 1, rng)[0]) if free.max() > 0 else int(rng.choice(np.flatnonzero(~picked)))
        new = np.flatnonzero(_balls(x, xs, np.array([i]), delta2)[0] & ~covered)
        idx.append(int(rows[i]))
        score.append(float(len(new)))  # the true gain (deg can be off by one where float rounding breaks symmetry)
        picked[i] = True
        covered[new] = True
        for a in range(0, len(new), 512):  # the ball relation is symmetric: each newly covered point leaves the
            deg -= _balls(x, xs, new[a:a + 512], delta2).sum(0)  # degree of every ball it lies in
    return np.array(idx, dtype=int), np.array(score)


def _balls(x: np.ndarray, xs: np.ndarray, rows: np.ndarray, delta2: float) -> np.ndarray:
    """(len(rows), N) bool: which points of x lie within the radius of each of x[rows], the row itself included."""
    inside = _pair_sq(x[rows], x, xs[rows], xs) < delta2
    inside[np.arange(len(rows)), rows] = True
    return inside


def _pair_sq(a: np.ndarray, b: np.ndarray, aa: np.ndarray, bb: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) squared Euclidean distances, float32, clipped at 0."""
    D = a @ b.T
    D *= -2
    D += aa[:, None]
    D += bb[None]
    return np.maximum(D, 0, out=D)


def balanced(pick, pool: Pool, n: int, rng, factor: int = 3):
    """Class-balance-aware selection: the strategy's candidates in preference order (the whole ranking of a scoring
    strategy; factor*n picks of a sequential one: kmeans, typiclust, probcover, coreset, badge), taken round-robin
    over the current model's predicted classes (each class's best remaining first), so a batch is not spent on the
    class the model already sees most. Needs probs."""
    P = _need_probs(pool, "balance")
    ranking = pick.__name__ in RANKING
    idx, score = pick(pool, len(pool.X) if ranking else min(len(pool.X), factor * n), rng)
    pred = P[idx].argmax(1)
    queues = {c: list(np.flatnonzero(pred == c)) for c in range(P.shape[1])}
    out = []
    while len(out) < min(n, len(idx)):
        for c in range(P.shape[1]):
            if queues[c] and len(out) < n:
                out.append(queues[c].pop(0))
    out = np.array(out, dtype=int)
    return idx[out], score[out]


NEEDS_PROBS = ("least_confidence", "margin", "entropy", "badge", "wkmeans")
NEEDS_LABELS = ("committee",)
NEEDS_MODEL = ("mc_dropout",)
COLD_START = ("random", "kmeans", "typiclust", "probcover", "coreset")
RANKING = ("random", "least_confidence", "margin", "entropy", "committee", "mc_dropout")  # a score per point
