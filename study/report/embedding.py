"""The t-SNE of Figures 5-9, as numbers: 2-D points of centroids and of representations X.

NetB's Z and NetA's class centroids (k-means of X on the source, as the trainable clusters
them for Table VII), and a sample of the best trial's frame representations, embedded
together so that their positions compare. :mod:`study.report.figures` draws them.
"""

from __future__ import annotations

import numpy as np
from sklearn.manifold import TSNE

from study.report.compare import Comparison
from study.report.evaluator import Evaluator
from study.report.records import Study, TrialRecord
from trainables.centroids import compute_centroids
from trainables.config import SOURCE, TARGET

#: Frames of each split in the t-SNE of representations (t-SNE's cost grows with N^2).
MAX_TSNE_FRAMES = 500
#: Up to this many points exact t-SNE is faster than Barnes-Hut (whose per-iteration
#: thread start-up dominates on a few dozen centroids).
EXACT_TSNE_POINTS = 300
#: The splits of the frame t-SNE, in the order they are embedded and drawn.
FRAME_ROLES = (TARGET, SOURCE)


def tsne(points: np.ndarray, seed: int) -> np.ndarray:
    """2-D t-SNE; perplexity kept below the point count, which scikit-learn requires.
    Identical points (a collapsed network) all land on the origin."""
    points = np.asarray(points, dtype=np.float64)
    if len(points) < 2 or not np.ptp(points, axis=0).any():
        return np.zeros((len(points), 2))
    perplexity = float(max(1, min(30, (len(points) - 1) // 3)))
    method = "exact" if len(points) <= EXACT_TSNE_POINTS else "barnes_hut"
    return TSNE(n_components=2, perplexity=perplexity, init="pca", method=method,
                random_state=seed).fit_transform(points)


def neta_centroids(study: Study, evaluator: Evaluator, trial: TrialRecord) -> np.ndarray:
    """NetA's class centroids on the source, clustered as the trainable does for Table VII."""
    arrays = evaluator.arrays(SOURCE)
    representations = evaluator.evaluate(trial, SOURCE).representations
    return compute_centroids(representations, arrays.frame_labels, len(study.settings.classes),
                             seed=trial.config.get("seed", study.settings.seed),
                             n_init=3).centroids


def centroid_points(study: Study, evaluator: Evaluator, pair: Comparison
                    ) -> list[tuple[str, np.ndarray]]:
    """(name, 2-D point of each class) for Z and each compared network's centroids, embedded
    in one t-SNE; rows in class order."""
    groups = [("Z (NetB)", evaluator.z)]
    groups += [(trial.label, neta_centroids(study, evaluator, trial)) for trial in pair.trials]
    embedded = tsne(np.concatenate([points for _, points in groups]), study.settings.seed)
    count = len(study.settings.classes)
    return [(name, embedded[index * count:(index + 1) * count])
            for index, (name, _) in enumerate(groups)]


def frame_sample(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(count, size=min(count, MAX_TSNE_FRAMES), replace=False))


def frame_points(study: Study, evaluator: Evaluator, trial: TrialRecord
                 ) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(role, 2-D points, class labels) of a sample of the trial's frame representations X
    on each of :data:`FRAME_ROLES`, embedded in one t-SNE."""
    chunks = []
    for role in FRAME_ROLES:
        representations = evaluator.evaluate(trial, role).representations
        keep = frame_sample(len(representations), study.settings.seed)
        chunks.append((representations[keep], evaluator.arrays(role).frame_labels[keep]))
    embedded = tsne(np.concatenate([points for points, _ in chunks]), study.settings.seed)
    found, start = [], 0
    for role, (_, labels) in zip(FRAME_ROLES, chunks, strict=True):
        found.append((role, embedded[start:start + len(labels)], labels))
        start += len(labels)
    return found
