"""``python -m study.bench``: what the feature cache and Ray Tune cost and save, side by side.

One run measures, on the same device:

(a) frames/s of a NetA training epoch from decoded frames through the frozen VGG-16;
(b) frames/s of the same epoch from cached VGG-16 features (plus the one-off extraction);
(c) Ray Tune's overhead per trial: N trivial trials against the same work in a plain loop;
(d) the wall time of the embedded default study (``python -m study.run``), unless --quick;
(e) bf16 autocast against fp32: speed and accuracy of the same short training, unless --quick.

``--paper-scale`` adds the paper's sizes (45,000 source and 19,000 target frames, VGG-16,
FC 4096, two GRU layers of 128, L = 80): feature extraction for all 64,000 frames and one
NetA epoch. It is meant for a GPU.

``--learning`` runs instead a learning benchmark (none of (a)-(e)): on the embedded data set
and on a harder generated one (``trainables.synthetic.HARD``), both through the ``small``
frozen CNN's cached features, side by side: NetB (trained on the target split, stopping on a
plateau within ``--netb-epochs``), NetA at lam = 1 (trained on the source split for
``--neta-epochs``) and the linear probe (trainables/probe.py) fitted on the same splits'
features, with the majority-class chance. For each network: the epochs and optimisation
steps it needs to *fit* its own split, i.e. the first epoch whose own-split video accuracy
reaches 0.9 x the best own-split video accuracy it reaches in the run (that best is printed
too), its accuracy on its own split at the end (NetB: its kept best epoch; NetA: its last
epoch), and its held-out video accuracy. A network whose own-split accuracy is below the
probe's held-out accuracy has not learned (trainables.probe.learning_floor). It takes
about 16 minutes on 2 shared CPU cores (mostly NetB and NetA epochs; ``--netb-epochs``
and ``--neta-epochs`` shorten it).

``--methods`` runs instead a methods benchmark (none of (a)-(e)): NetA trained with every
method of ``trainables.config.METHODS`` (the centroid loss at lam = 0.5, f linear; E_a alone;
Deep CORAL, MMD and DANN at their published weights: no search) on one data set
(``--methods-data``: the embedded one, or a generated ``trainables.synthetic.DIFFICULTIES``
set) for ``--seeds`` seeds, each seed's NetB (trained on the target labels, the in-domain
upper bound) giving the Z that every method of that seed uses. Every run has the same
network, ``--neta-epochs`` and seed, and its epoch is selected by the target video accuracy;
the table gives per method the held-out video accuracy at that epoch (mean and Student's t
95% interval over seeds), the target and source accuracies, the difference to
``source_only`` and seconds per run. On 2 shared CPU cores one NetA run of 8 epochs on the
embedded set took about 4 minutes, so the default 3 seeds take over an hour.

Speed is measured here, never asserted in tests: the ratios come from one run on one device.
The last line printed is a single JSON object.

Modules: ``speed`` ((a)-(e) and ``--paper-scale``), ``learning`` (``--learning``),
``methods`` (``--methods``), ``device``
(the device's name, timing work on it) and ``cli`` (the flags, ``main``).
"""
