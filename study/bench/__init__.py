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

Speed is measured here, never asserted in tests: the ratios come from one run on one device.
The last line printed is a single JSON object.

Modules: ``speed`` ((a)-(e) and ``--paper-scale``), ``learning`` (``--learning``), ``device``
(the device's name, timing work on it) and ``cli`` (the flags, ``main``).
"""
