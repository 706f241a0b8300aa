"""The report's markdown for valence-arousal studies (issue #14): the *Valence and arousal*
section, the floor as CCC, and the one-line notes of the sections made for emotion classes.

The numbers are :mod:`study.report.va`'s and the figures :mod:`study.report.figures_va`'s;
this module prints them, writes their CSVs and PNGs, and says what is missing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from study.report import figures_va, va
from study.report.evaluator import Evaluator, unusable
from study.report.files import SECTION_NAMES, SECTIONS, ReportFolder, Section, markdown_table
from study.report.records import ROLE_NAMES, Study
from trainables.config import SOURCE, VA_LEARNED_CCC
from trainables.va import TOP_CELLS

VA_NAME = "Valence and arousal"
VALENCE_AROUSAL = SECTION_NAMES.index(VA_NAME)
FLOOR = 0
NO_RESULT = "no trial has reported a result yet"
SEE = f"see *{VA_NAME}*"
#: The sections made for emotion classes, and why each does not apply to valence-arousal.
NOT_APPLICABLE = {
    "Table II": "Accuracy per λ on emotion classes, and the paper's published figures beside "
                "it, do not apply to a valence-arousal study: its Table II, the CCC of each "
                f"configuration on each split, is in *{VA_NAME}*.",
    "Tables III/IV": "Accuracy per emotion class does not apply: a valence-arousal study has "
                     "no emotion classes, its grid cells are scored together by CCC "
                     f"({SEE}).",
    "Table V": "A confusion matrix does not apply: a valence-arousal study has no emotion "
               f"classes; *{VA_NAME}* shows predicted against true valence and arousal "
               "instead.",
    "Table VII": "Distances per emotion class do not apply: "
                 f"*{VA_NAME}* summarises NetA's distance from Z per grid cell, and maps it.",
    "t-SNE (Figures 5-9)": "A t-SNE coloured by emotion class does not apply: a "
                           f"valence-arousal study has no emotion classes ({SEE}).",
}
RULES = {"expected": f"the `expected` rule (the score-weighted mean of the centres of the "
                     f"{TOP_CELLS} best cells)",
         "argmax": "the `argmax` rule (the centre of the best cell)"}


def not_applicable(index: int) -> Section:
    """Section ``index`` of a valence-arousal study: one line saying why it does not apply
    and where to look instead (not a missing item)."""
    return Section(SECTIONS[index], [NOT_APPLICABLE[SECTION_NAMES[index]]])


def gap(out: ReportFolder, index: int, reason: str) -> Section:
    return Section(SECTIONS[index], [out.gap(SECTION_NAMES[index], reason)])


def netb_grid(study: Study) -> str:
    """``140 of the 400 cells of its 20x20 grid`` from NetB's summary (or what is unknown)."""
    summary = study.netb or {}
    size = int(summary.get("va_grid") or study.settings.va_grid)
    dropped = summary.get(va.DROPPED)
    count = "an unknown number (NetB's summary is missing)" if dropped is None else \
        f"{int(dropped)}"
    return f"{count} of the {size**2} cells of its {size}x{size} grid"


def floor_section(study: Study, out: ReportFolder) -> Section:
    """NetB's CCC on each split (trained on the target) beside NetA's best and chance."""
    frame = va.floor_frame(study)
    if frame is None:
        return gap(out, FLOOR, "NetB's summary.json is missing")
    lines = [f"{study.level.capitalize()}-level CCC (the mean of valence's and arousal's) of "
             f"NetB (trained on the target part; Z are its cell means) and of NetA's best "
             f"configuration (at its selected epoch; target: its best epoch), against chance "
             f"(CCC 0). A network whose CCC on the split it was trained on stays below "
             f"{VA_LEARNED_CCC:g} has not learned it. NetB's Z dropped {netb_grid(study)} "
             f"(no target frame in them: no centroid, left out of V and f). No linear probe: "
             f"it classifies emotion categories, which a valence-arousal study has not "
             f"({SEE}).", "", markdown_table(frame), "", out.csv("floor.csv", frame)]
    return Section(SECTIONS[FLOOR], lines)


def va_section(study: Study, evaluator: Evaluator, out: ReportFolder) -> Section:
    """CCC per configuration (the Table II analogue), predicted against true on the
    evaluation split, and Table VII per cell summarised."""
    if not study.is_va:
        return Section(SECTIONS[VALENCE_AROUSAL],
                       ["Applies to valence-arousal studies (`--task va`); this study "
                        "predicts emotion classes."])
    frame = va.ccc_frame(study)
    if frame.empty:
        return gap(out, VALENCE_AROUSAL, NO_RESULT)
    shown, top = va.ccc_shown(study, frame)
    lines = [*intro(study), "", markdown_table(shown, top=top), "",
             out.csv("va_ccc.csv", frame), "", *histogram_lines(study, evaluator, out), "",
             *distance_lines(study, evaluator, out)]
    return Section(SECTIONS[VALENCE_AROUSAL], lines)


def intro(study: Study) -> list[str]:
    """What the CCC is, what selects, the grid and rule, and the cells NetB dropped."""
    selecting = ROLE_NAMES[study.selection_role]
    sizes, rules = va.grids(study)
    column = (" (each configuration's in the table)" if len(sizes) > 1 or len(rules) > 1
              else "")
    cells = (f"the {sizes[0]**2} cells of a {sizes[0]}x{sizes[0]} grid" if len(sizes) == 1
             else "the cells of a " + " or a ".join(f"{g}x{g}" for g in sizes) + " grid")
    grid = (f"Classes are {cells} over [-1, 1]²; a trial's (valence, arousal) is the point of "
            + " or ".join(RULES[rule] for rule in rules) + column + ".")
    seeds = (" Each row is a configuration: the mean over its seeds with a 95% interval "
             "(Student's t below 10 seeds, bootstrap from 10), clipped to [-1, 1]."
             if study.repeated else "")
    return [f"Scores are Lin's concordance correlation coefficient (CCC; Lin 1989), the AVEC "
            f"and Aff-Wild metric, between predicted and annotated valence and arousal over "
            f"the annotated frames (1: perfect agreement, 0: chance); a split's CCC is the "
            f"mean of valence's and arousal's. The objective `{study.settings.objective}` is "
            f"the mean {study.level} CCC of the selection split, {selecting} "
            f"({study.split_name(study.selection_role)}), at each trial's best epoch; every "
            f"other split is read at that selected epoch. {grid} NetB's Z dropped "
            f"{netb_grid(study)} (no target frame in them)." + seeds,
            "", "Pearson's correlation and RMSE per dimension and the cell accuracy of every "
                "split are in the CSV."]


def histogram_lines(study: Study, evaluator: Evaluator, out: ReportFolder) -> list[str]:
    """The best configuration's first seed re-evaluated on the evaluation split: a 2D
    histogram of predicted against true valence and of arousal."""
    best = study.best_configuration()
    trial = best.first if best is not None else None
    role = study.eval_role
    name = f"**Predicted against true** ({study.split_phrase(role)}, frame level, selected " \
           f"epoch)"
    problem = unusable(evaluator, [trial])
    if problem is None and not evaluator.has(role):
        problem = f"the study's data has no {ROLE_NAMES[role]} split to re-evaluate on"
    if problem is not None or trial is None:
        return [f"{name}: " + out.gap(VA_NAME, f"predicted against true: {problem}")]
    found = va.predictions(evaluator, trial, role)
    if not len(found.truth):
        return [f"{name}: " + out.gap(VA_NAME, f"no annotated frame on the "
                                               f"{ROLE_NAMES[role]} split")]
    counts = va.histograms(found)
    reported = [trial.value(f"{role}_frame_ccc_{d}") for d in va.DIMENSIONS]
    figure = figures_va.histogram_figure(study, trial, found, counts)
    return [f"{name}: the best configuration's first seed, {trial.label}, its checkpoint of "
            f"the selected epoch re-evaluated on every annotated frame ({len(found.truth)}), "
            f"in the bins of its grid. CCC recomputed: valence {found.ccc(0):.3f}, arousal "
            f"{found.ccc(1):.3f}; reported at the selected epoch: valence {reported[0]:.3f}, "
            f"arousal {reported[1]:.3f}.", "", out.png("va_histogram.png", figure)]


def distance_lines(study: Study, evaluator: Evaluator, out: ReportFolder) -> list[str]:
    """Table VII per cell: the trials' summaries per configuration, then the best trial's
    distance per cell as a heat map."""
    frame = va.distance_frame(study)
    seeds = " (means over seeds)" if study.repeated else ""
    shown = pd.DataFrame({"configuration": frame["row"], "grid": frame["va_grid"].map(
        lambda g: f"{g}x{g}"), "mean distance": frame["centroid_distance_mean"],
        "median distance": frame["centroid_distance_median"],
        "largest distance": frame["centroid_distance_max"],
        "cells compared": frame["centroid_cells"], "cells dropped by Z": frame[va.DROPPED]})
    lines = [f"**Table VII per cell, summarised**: the Euclidean distance, in each cell, "
             f"between the mean of NetA's representations X of the source frames "
             f"({study.split_name(SOURCE)}) in it and that cell's row of NetB's Z, at the "
             f"selected epoch{seeds}: its mean, median and largest over the cells both have. "
             f"The paper's per-class distances have no counterpart here.", "",
             markdown_table(shown), "", out.csv("va_distances.csv", frame)]
    trial = study.best_trial()
    problem = unusable(evaluator, [trial])
    if problem is not None or trial is None:
        return [*lines, "", out.gap(VA_NAME, f"distance per cell: {problem}")]
    distances = va.cell_distances(evaluator, trial)
    compared = np.isfinite(distances)
    names = [f"{b:02d}" for b in range(len(distances))]
    table = pd.DataFrame(distances, index=pd.Index([f"v{n}" for n in names], name="valence"),
                         columns=[f"a{n}" for n in names])
    recomputed = float(distances[compared].mean()) if compared.any() else float("nan")
    return [*lines, "", f"Per cell for the best configuration's first seed, {trial.label} "
            f"(its kept checkpoint re-evaluated on the source): mean {recomputed:.3f} over "
            f"{int(compared.sum())} cells (reported at the selected epoch "
            f"{trial.value('centroid_distance_mean'):.3f}); rows of the CSV are valence bins, "
            f"columns arousal bins.", "",
            out.png("va_distances.png", figures_va.distance_figure(study, trial, distances)),
            "", out.csv("va_cell_distances.csv", table, index=True)]
