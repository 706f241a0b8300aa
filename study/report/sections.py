"""The report's sections as markdown: each prints the numbers of :mod:`study.report.tables`,
:mod:`study.report.compare`, :mod:`study.report.embedding` and :mod:`study.report.search`,
writes their CSVs and the figures of :mod:`study.report.figures`, and says what is missing.
"""

from __future__ import annotations

import json

import pandas as pd

from study.report import figures, methods, sections_va, tables
from study.report.compare import Comparison, paired_comparison
from study.report.embedding import MAX_TSNE_FRAMES, centroid_points, frame_points
from study.report.evaluator import Evaluator, unusable
from study.report.files import (
    SECTION_NAMES,
    SECTIONS,
    ReportFolder,
    Section,
    format_lam,
    markdown_table,
)
from study.report.records import OPTIMISTIC, ROLE_NAMES, Study
from study.report.reference import PAPER_TABLE_III, PAPER_TABLE_IV
from study.report.search import (
    describe_params,
    finished_configurations,
    importances,
    lam_series,
    objectives_frame,
    search_frame,
)
from study.rounds import rounds_shown
from trainables.config import METHODS, SOURCE, TARGET

CONFIRM_CSV = "confirm.csv"
NO_RESULT = "no trial has reported a result yet"
(FLOOR, TABLE_II, VALENCE_AROUSAL, METHOD_TABLE, TABLES_III_IV, TABLE_V, TABLE_VII, TSNE,
 SEARCH, ROUNDS) = range(len(SECTIONS))


def gap(out: ReportFolder, index: int, reason: str) -> Section:
    """A section that only says what it lacks (and lists it among the missing items)."""
    return Section(SECTIONS[index], [out.gap(SECTION_NAMES[index], reason)])


def floor_section(study: Study, out: ReportFolder) -> Section:
    """NetB's own-split and held-out accuracy and the linear probe's, beside NetA's best
    (a valence-arousal study: NetB's CCC, :func:`sections_va.floor_section`)."""
    if study.is_va:
        return sections_va.floor_section(study, out)
    frame = tables.floor_frame(study)
    if frame is None:
        return gap(out, FLOOR, "NetB's summary.json is missing")
    lines = [f"{study.level.capitalize()}-level accuracy of NetB (trained on the target part, "
             f"centroids Z from it), of a linear probe (logistic regression on the frozen CNN's "
             f"features, fitted on the same part) and of NetA's best configuration (at its "
             f"selected epoch; target: its best epoch). A network that does not reach, on the "
             f"split it was trained on, what the probe reaches on held-out videos has not "
             f"learned it (the probe itself fits its own split perfectly: it has more feature "
             f"dimensions than there are frames).", "", markdown_table(frame), "",
             out.csv("floor.csv", frame)]
    if not (study.netb or {}).get("probe"):
        lines += ["", "No linear probe in NetB's summary (a study on frames, or one run "
                      "before the probe existed)."]
    return Section(SECTIONS[FLOOR], lines)


def table_ii(study: Study, evaluator: Evaluator, out: ReportFolder) -> Section:
    """Table II: accuracy on each split for each lam (each configuration's selected epoch);
    a valence-arousal study's is in its own section (the ``--confirm-top`` runs stay here)."""
    if study.is_va:
        return Section(SECTIONS[TABLE_II], [*sections_va.not_applicable(TABLE_II).lines,
                                            *confirmation_lines(study, out)])
    frame = tables.table_ii_frame(study)
    if frame.empty:
        return gap(out, TABLE_II, NO_RESULT)
    seeds = (" Each row is a configuration: the mean over its seeds with a 95% interval "
             "(Student's t below 10 seeds, bootstrap from 10)." if study.repeated else "")
    selecting = ROLE_NAMES[study.selection_role]
    lines = [f"{study.level.capitalize()}-level accuracy at each trial's selected epoch: the "
             f"first epoch with its best `{study.metric}` (so the {selecting} figure is its "
             f"best over epochs; the others are read at that epoch, never maximised)." + seeds
             + (f" **No held-out videos: target accuracy was {OPTIMISTIC}.**"
                if study.optimistic else "")]
    if study.settings.space == "table2":
        layout, top = tables.paper_layout(study)
        lines += ["", markdown_table(layout, top=top)]
        absent = tables.absent_grid_points(frame)
        if absent:
            lines += ["", out.gap(SECTION_NAMES[TABLE_II], "no result yet for λ = " +
                                  ", ".join(format_lam(lam) for lam in absent))]
        lines += ["", *paired_lines(study, evaluator, out)]
    else:
        shown, top = tables.table_ii_shown(study, frame)
        lines += ["", markdown_table(shown, top=top), "",
                  "The paper's published figures (Table II):", "",
                  markdown_table(tables.reference_table_ii())]
    lines += ["", out.csv("table_ii.csv", frame), *confirmation_lines(study, out)]
    return Section(SECTIONS[TABLE_II], lines)


def methods_section(study: Study, out: ReportFolder) -> Section:
    """Each method's best configuration by the selection rule, its evaluation accuracy with
    a 95% interval over seeds, against source_only's and NetB's (the upper bound)."""
    frame = methods.methods_frame(study)
    if frame.empty:
        return gap(out, METHOD_TABLE, NO_RESULT)
    role, selecting = study.eval_role, ROLE_NAMES[study.selection_role]
    measure = study.measure_name
    where = f"{ROLE_NAMES[role]} videos ({study.split_name(role)})"
    lines = [f"Each method's best configuration, chosen as everywhere in this report: "
             f"the highest mean `{study.metric}` over its seeds ({selecting} {measure} at each "
             f"seed's selected epoch), the same rule for every method"
             + ("" if role == study.selection_role else
                f"; the {ROLE_NAMES[role]} {measure} never chooses")
             + f". Its {study.level}-level {measure} on "
             f"the {where} at each seed's selected epoch: mean and 95% interval over seeds "
             f"(Student's t below 10 seeds, bootstrap from 10; none from one seed). "
             f"`source_only` (E_a alone) is what adaptation must beat; the mean differences "
             f"beside it are only as sure as the intervals are narrow."]
    if study.optimistic:
        lines += ["", f"**No held-out videos: every {measure} here was {OPTIMISTIC}**, and "
                      f"NetB was trained on these very videos, so its figure is a training "
                      f"{measure} and there is no upper bound."]
    elif methods.NETB_ROW in set(frame["method"]):
        lines += ["", f"NetB, trained on the target's own labels, gives the in-domain upper "
                      f"bound (one run: no interval); the gap is NetB's {measure} minus the "
                      f"method's mean."]
    else:
        lines += ["", "No upper bound: NetB's summary has no "
                      f"`{study.accuracy_key(role)}`" + ("" if study.netb else
                                                        " (its summary.json is missing)")
                      + "."]
    shown, top = methods.methods_shown(study, frame)
    lines += ["", markdown_table(shown, top=top)]
    notes = methods_notes(study, frame, out)
    lines += ["", *notes] if notes else []
    lines += ["", out.png("methods.png", figures.methods_figure(study, frame)), "",
              out.csv("methods.csv", frame)]
    return Section(SECTIONS[METHOD_TABLE], lines)


def methods_notes(study: Study, frame: pd.DataFrame, out: ReportFolder) -> list[str]:
    """Absent methods (missing where the study set out to compare them) and budgets."""
    absent = methods.absent_methods(study)
    present = frame[frame["method"] != methods.NETB_ROW]
    if len(present) == 1 and not methods.expects_every_method(study):
        return [f"Only `{present['method'].iloc[0]}` ran in this study (space "
                f"`{study.settings.space}`): `--space {methods.BASELINES_SPACE}` runs "
                + ", ".join(f"`{m}`" for m in METHODS)
                + " with their weights searched, the same number of configurations each."]
    lines = []
    if absent:
        lines += [out.gap(SECTION_NAMES[METHOD_TABLE], "no configuration with a result for "
                          + ", ".join(absent)), ""]
    counts = dict(zip(present["method"], present["configurations"], strict=True))
    if len(set(counts.values())) > 1:
        lines += ["Methods ran different numbers of configurations ("
                  + ", ".join(f"{m}: {n}" for m, n in counts.items())
                  + "): one with more had more tries at a high selection score.", ""]
    return lines[:-1] if lines else []


def paired_lines(study: Study, evaluator: Evaluator, out: ReportFolder) -> list[str]:
    result = paired_comparison(study, evaluator)
    name = f"Paired comparison λ=0 − λ=1 ({study.split_phrase(study.eval_role)}, video acc, " \
           f"selected epoch)"
    if isinstance(result, str):
        return [f"**{name}**: none, {result}."]
    frame = pd.DataFrame([{key: result[key] for key in ("difference", "low", "high",
                                                        "p_value", "n", "unit", "role",
                                                        "low_configuration",
                                                        "high_configuration")}])
    return [f"**{name}**: difference {result['difference']:+.3f} (95% CI "
            f"[{result['low']:+.3f}, {result['high']:+.3f}]), p = {result['p_value']:.3g} "
            f"(two-sided paired permutation test) over {result['unit']}.", "",
            out.csv("paired_lam.csv", frame)]


def confirmation_lines(study: Study, out: ReportFolder) -> list[str]:
    """The ``--confirm-top`` runs (``confirm.csv``), when the study has them."""
    path = study.layout.root / CONFIRM_CSV
    if not path.exists():
        if study.settings.confirm_top > 0:
            return ["", out.gap(SECTION_NAMES[TABLE_II],
                                f"the --confirm-top {study.settings.confirm_top} runs have "
                                f"not finished ({CONFIRM_CSV} is missing)")]
        return []
    table = pd.read_csv(path, dtype={"configuration": str})
    return ["", "**Confirmation on fresh seeds** (`--confirm-top`): the best configurations of "
                "the search re-run with seeds the search never used; these numbers were not "
                "used to choose, so they are the ones to cite.", "",
            markdown_table(tables.confirmation_frame(study, table)), "",
            out.csv("confirmation.csv", table)]


def tables_iii_iv(study: Study, pair: Comparison, out: ReportFolder) -> Section:
    """Tables III and IV: per-class accuracy on the evaluation split and on the source."""
    if study.is_va:
        return sections_va.not_applicable(TABLES_III_IV)
    if not pair.configurations:
        return gap(out, TABLES_III_IV, NO_RESULT)
    seeds = " Means over each configuration's seeds." if study.repeated else ""
    lines = [pair.note + seeds, ""]
    for number, role, paper in (("III", study.eval_role, PAPER_TABLE_III),
                                ("IV", SOURCE, PAPER_TABLE_IV)):
        frame = tables.per_class_frame(study, pair, role, paper)
        name = f"table_{number.lower()}.csv"
        lines += [f"**Table {number}**: {study.level}-level accuracy per class on the "
                  f"{study.split_phrase(role)}, at the selected epoch.", "",
                  markdown_table(frame.drop(columns=["configuration", "lam"])), "",
                  out.csv(name, frame), ""]
    return Section(SECTIONS[TABLES_III_IV], lines)


def table_vii(study: Study, pair: Comparison, out: ReportFolder) -> Section:
    """Table VII: distance of NetA's class centroids (k-means on X, source) from NetB's Z."""
    if study.is_va:
        return sections_va.not_applicable(TABLE_VII)
    if not pair.configurations:
        return gap(out, TABLE_VII, NO_RESULT)
    frame = tables.table_vii_frame(study, pair)
    seeds = " (mean over seeds)" if study.repeated else ""
    lines = [pair.note + " Euclidean distance between each class centroid of NetA's "
             "representations X on the source and NetB's Z, at the selected epoch" + seeds +
             ". The paper's distances are on its own scale: compare the λ ordering, not "
             "magnitudes.", "", markdown_table(frame), "", out.csv("table_vii.csv", frame)]
    return Section(SECTIONS[TABLE_VII], lines)


def table_v(study: Study, evaluator: Evaluator, out: ReportFolder) -> Section:
    """Table V: the best configuration's confusion matrix on the evaluation split, from the
    kept checkpoints of its seeds (counts summed over seeds)."""
    if study.is_va:
        return sections_va.not_applicable(TABLE_V)
    best = study.best_configuration()
    if best is None:
        return gap(out, TABLE_V, NO_RESULT)
    problem = unusable(evaluator, best.trials)
    if problem:
        return gap(out, TABLE_V, problem)
    role = study.eval_role
    if not evaluator.has(role):
        return gap(out, TABLE_V, f"the study's data has no {ROLE_NAMES[role]} split to "
                                 f"re-evaluate on")
    frame = tables.confusion_frame(study, evaluator, best, role)
    counts = frame.to_numpy()
    accuracy = float(counts.trace() / counts.sum())
    reported = best.mean(study.accuracy_key(role))
    pooled = f", summed over its {best.seeds} seeds" if best.seeds > 1 else ""
    where = study.split_phrase(role)
    whose = "each seed's checkpoint" if best.seeds > 1 else "its checkpoint"
    figure = figures.confusion_figure(
        counts, list(frame.columns),
        f"Table V: {where}, {study.level} level, selected epoch\n{best.label}")
    lines = [f"Best configuration {best.label}, {whose} of the selected epoch"
             f"{pooled}, re-evaluated on the {where}: {counts.sum()} {study.level}s, rows = "
             f"true class, columns = predicted; rates per true class below, counts in the CSV. "
             f"Accuracy recomputed {accuracy:.3f}, reported at the selected epoch "
             f"{reported:.3f}.", "",
             markdown_table(tables.confusion_rates(frame).reset_index()), "",
             out.csv("table_v.csv", frame, index=True), "", out.png("table_v.png", figure)]
    return Section(SECTIONS[TABLE_V], lines)


def tsne_section(study: Study, evaluator: Evaluator, pair: Comparison,
                 out: ReportFolder) -> Section:
    """Figures 5-9 (centroids) and a t-SNE of frame representations coloured by class."""
    if study.is_va:
        return sections_va.not_applicable(TSNE)
    best = study.best_trial()
    problem = unusable(evaluator, [*pair.trials, best])
    if problem:
        return gap(out, TSNE, problem)
    seeds = " (each configuration's first seed)" if study.repeated else ""
    centroids = figures.centroid_figure(study, centroid_points(study, evaluator, pair))
    frames = figures.frames_figure(study, best, frame_points(study, evaluator, best))
    lines = [pair.note + " Dots: NetB's Z; stars: " + pair.trials[0].label +
             ("; crosses: " + pair.trials[1].label if len(pair.trials) > 1 else "") +
             seeds + ". Colour = class; checkpoints of the selected epoch.", "",
             out.png("tsne_centroids.png", centroids), "",
             f"Frame representations X of the best configuration's first seed, {best.label} "
             f"(circles: target, triangles: source; at most {MAX_TSNE_FRAMES} frames of "
             f"each).", "", out.png("tsne_frames.png", frames)]
    return Section(SECTIONS[TSNE], lines)


def search_section(study: Study, out: ReportFolder) -> Section:
    """What the search learned: importances, accuracy against lam, the Pareto front."""
    if not study.configurations:
        return gap(out, SEARCH, NO_RESULT)
    frame = search_frame(study)
    scores = importances(study)
    if isinstance(scores, str):
        lines = [scores]
    else:
        table = pd.DataFrame({"parameter": list(scores), "importance": list(scores.values())})
        alone = " (the only searched parameter, so 1 by definition)" if len(scores) == 1 else ""
        lines = [f"Optuna's importance of each searched parameter for "
                 f"`{study.settings.objective}` ({len(finished_configurations(study))} "
                 f"finished configurations){alone}.", "",
                 markdown_table(table), "", out.csv("importances.csv", table), "",
                 out.png("importances.png", figures.importance_figure(study, scores))]
    front = frame[frame["pareto"]].sort_values("lam")
    failed = frame[frame["did_not_learn_seeds"] > 0]
    lines += ["", out.png("accuracy_vs_lam.png",
                          figures.lam_figure(study, frame, lam_series(study, frame))), "",
              "Dotted lines join only configurations that differ in λ alone; the others "
              "stand as markers.", ""]
    if not failed.empty:
        lines += [f"Red crosses: configurations with a seed that did not learn "
                  f"({study.learning_rule}): "
                  + ", ".join(failed["configuration"]) + ".", ""]
    lines += [f"Pareto front of {study.describe(SOURCE)} against {study.describe(TARGET)} "
              f"({len(front)} of {len(frame)} configurations): "
              + ", ".join(f"{row['configuration']} ({describe_params(study, row)})"
                          for _, row in front.iterrows())
              + ".", "", out.png("pareto.png", figures.pareto_figure(study, frame)), "",
              out.csv("search.csv", frame)]
    return Section(SECTIONS[SEARCH], lines + objectives_lines(study, out))


def objectives_lines(study: Study, out: ReportFolder) -> list[str]:
    """A ``--objectives`` search: the Pareto front it found, over the values Optuna saw."""
    frame = objectives_frame(study)
    if frame is None:
        return []
    metrics = study.settings.optuna_metrics
    front = frame[frame["pareto"]]
    return ["", f"The multi-objective search maximised {', '.join(f'`{m}`' for m in metrics)}. "
            f"Its Pareto front holds {len(front)} of {len(frame)} trials (marked `pareto` in "
            f"trials.csv):", "", markdown_table(front.drop(columns=["pareto"])), "",
            out.png("objectives_pareto.png", figures.objectives_figure(frame, metrics)), "",
            out.csv("objectives.csv", frame)]


def rounds_section(study: Study, out: ReportFolder) -> Section:
    """Accuracy (held-out too) and Table VII's distances per block-component round."""
    rounds = study.settings.rounds
    if rounds <= 1:
        return Section(SECTIONS[ROUNDS], ["One round, as in the paper; `--rounds K` alternates "
                                          "NetB and NetA for K rounds (block-component "
                                          "training)."])
    path = study.layout.rounds_csv
    if not path.exists():
        return gap(out, ROUNDS, f"{path.name} is missing: the rounds have not finished")
    table = pd.read_csv(path)
    chosen = study.layout.rounds_dir / "chosen.json"
    which = (f" configuration {json.loads(chosen.read_text())['configuration']}"
             if chosen.exists() else " configuration")
    lines = [f"Round 1 is the paper: NetB, its Z, the NetA search. Each later round trains NetB "
             f"again (from its previous weights) towards the centroids of NetA's source "
             f"representations, then NetA again (from its previous weights) towards NetB's new "
             f"Z. The rounds carry the search's best centroid-method{which}; NetA figures are "
             f"its seeds at their selected epoch (mean [95% CI] over seeds), Table VII's "
             f"distance is from that round's Z; 'Z moved' is the Frobenius distance of "
             f"NetB's centroids from the previous round's.", "",
             markdown_table(rounds_shown(table)), "",
             out.csv("rounds.csv", table)]
    if len(table) < rounds:
        lines += ["", out.gap(SECTION_NAMES[ROUNDS], f"only {len(table)} of {rounds} rounds "
                                                     f"have finished")]
    return Section(SECTIONS[ROUNDS], lines)
