"""The paper's published AFEW figures (EmotiW 2017: source = Train, target = Val).

Kollias & Zafeiriou (IJCNN 2018), printed beside the study's own numbers as a reference.
"""

from __future__ import annotations

#: Table II: lam -> (accuracy on the validation set, accuracy on the training set).
PAPER_TABLE_II = {0.0: (0.446, 0.69), 0.25: (0.426, 0.67), 0.5: (0.422, 0.622),
                  0.75: (0.398, 0.611), 1.0: (0.384, 0.606)}
#: Table III: per-category accuracy on the validation set, classes in DEFAULT_CLASSES order,
#: then the total; lam = 0 and lam = 1.
PAPER_TABLE_III = {0.0: (0.492, 0.578, 0.075, 0.217, 0.667, 0.623, 0.217, 0.446),
                   1.0: (0.466, 0.56, 0.0, 0.046, 0.635, 0.431, 0.111, 0.384)}
#: Table IV: the same on the training set.
PAPER_TABLE_IV = {0.0: (0.842, 0.854, 0.08, 0.273, 0.923, 0.928, 0.444, 0.69),
                  1.0: (0.833, 0.802, 0.007, 0.014, 0.901, 0.707, 0.164, 0.606)}
#: Table VII: mean distance of each training-set cluster centre from the validation one (Z).
PAPER_TABLE_VII = {0.0: (0.015, 0.015, 0.052, 0.055, 0.012, 0.025, 0.055),
                   1.0: (0.067, 0.061, 0.058, 0.065, 0.077, 0.065, 0.067)}
#: How the paper's rows and columns are labelled.
REFERENCE = "paper, AFEW (reference)"
