"""The Python API: a Project opened from a run config. The CLI is a thin shell over it.

    project = Project.open("configs/sample.yaml")
    summary = project.run()
    project.evaluate("sample_data/truth.csv").f1

(README.md holds the same example, and tests/test_readme.py runs it.)
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from linkage.config import RunConfig, SourceConfig, load_config
from linkage.errors import (ConfigError, LinkageError, OutOfMemoryError, SourceError,
                            ran_out_of_memory)
from linkage.crosswalk import (ChangeGuard, CrosswalkCounts, assign_enterprise_ids, changes,
                               history, resolve_enterprise_id, resolve_enterprise_ids, runs)
from linkage.charts import Chart
from linkage.cluster_studio import (active_enterprise_ids, least_dense_clusters,
                                    write_cluster_studio)
from linkage.evaluation import (SWEEP_THRESHOLDS, Metrics, accuracy_chart, estimated_sweep,
                                evaluate,
                                threshold_sweep)
from linkage.explain import (ClusterExplanation, PairExplanation, explain_cluster,
                             explain_pair)
from linkage.export import crosswalk_relation, export_crosswalk
from linkage.link import (Estimate, LinkCounts, active_persons, card_path, link, link_incremental,
                          linking_in_force, load_calibration, load_model, model_fingerprint, population_model,
                          train)
from linkage.link.cluster_quality import flagged_params, flagged_sql
from linkage.link.inspect import blocking_chart, blocking_counts, m_u_chart, match_weights_chart
from linkage.link.labels import REVIEWER_LABELS, load_labels
from linkage.link.train import calibrate_model, training_sample, write_card
from linkage.link.model_file import prediction_rules, read_model
from linkage.link.wide_blocking import rules_in_force, with_rules
from linkage.sources import (LandingCount, apply_deletions, changed_records, check_sources,
                             land_sources, record_warnings)
from linkage.progress import Report, Stages
from linkage.review import (Decision, Recorded, decisions_in_force, export_review,
                            import_review, record_decisions, revoke_decision)
from linkage.search import Searcher
from linkage.standardize import standardize, value_warnings, write_standardized
from linkage.standardize.dates import day_first_formats
from linkage.store import Step, Store, migrate, open_store
from linkage.store.resources import EngineLimits
from linkage.synth import SOURCE_PATHS, generate_population

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    run_id: int
    sources: list[LandingCount]
    persons: int
    link: LinkCounts
    crosswalk: CrosswalkCounts
    seconds: dict[str, float] = field(default_factory=dict)
    # full, or delivery (an incremental run of delivered and deleted records).
    kind: str = "full"
    # A dry run computed everything and committed nothing.
    dry_run: bool = False
    # Deletions delivered with the run: keys listed, records marked deleted, keys matching
    # no record of the store.
    deletions: dict[str, int] | None = None
    # What the guard checked (linkage.crosswalk.guard), and any mass change let through.
    guard: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# Fault injection for the crash tests: a run pauses before the named stage (or "commit")
# so a test can kill it there. Unset in normal use.
PAUSE_BEFORE = "LINKAGE_PAUSE_BEFORE_STAGE"

RUN_STAGES = ("land", "standardize", "link", "crosswalk")


def _maybe_pause(name: str) -> None:
    if os.environ.get(PAUSE_BEFORE) == name:
        print(f"paused before {name}", file=sys.stderr, flush=True)
        time.sleep(3600)


class StageClock(Stages):
    """A job's stages, timed and reported (names, counts and timings only: no PII). A stage
    that runs out of memory raises OutOfMemoryError naming it and the store's `limits`."""

    limits: EngineLimits | None = None

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        _maybe_pause(name)
        try:
            with super().stage(name):
                yield
        except Exception as error:
            if not ran_out_of_memory(error):
                raise
            limits = self.limits
            raise OutOfMemoryError.during(
                name, limits.memory_limit if limits else None,
                str(limits.temp_root) if limits else None) from error


class Project:
    """One run config and its store."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config

    @classmethod
    def open(cls, config_path: str | Path, store: str | Path | None = None,
             backend: str | None = None) -> Project:
        return cls(load_config(config_path, store=store, backend=backend))

    def store(self, *, create: bool = False, read_only: bool = False) -> Store:
        return open_store(self.config.store, create=create, read_only=read_only,
                          engine=self.config.engine)

    def _run_store(self, *, create: bool = False) -> Store:
        """The store a run (or a reviewer's decision) writes, on the configured engine."""
        if self.config.backend == "spark":
            from linkage.store.spark import SparkStore

            return SparkStore.open(self.config.store, self.config.spark, create=create)
        return self.store(create=create)

    def run(self, report: Report | None = None,
            deliveries: dict[str, Path] | None = None,
            deleted: Path | None = None, *, dry_run: bool = False,
            allow_mass_change: bool = False) -> RunSummary:
        """Land, standardize, link and assign EIDs: all of it commits, or none of it does.

        With `deliveries` (source name -> delta files) and/or `deleted` (a CSV of
        source_system, source_record_id), only those records are landed, standardized
        and scored, and only the clusters they touch are rebuilt.

        A run that would change more of the crosswalk than `crosswalk.max_change_share`
        allows, or lands a full snapshot far smaller than its source, is refused
        (MassChangeError) unless `allow_mass_change`. With `dry_run`, everything is
        computed and nothing committed: the summary is what the run would do.
        """
        clock = StageClock(report, RUN_STAGES)
        incremental = bool(deliveries) or deleted is not None
        # Everything a user can get wrong is checked before the store is touched.
        checked = check_sources(self._delta_sources(deliveries) if incremental
                                else self.config.sources)
        model = load_model(self.config.model)
        calibration = load_calibration(self.config.model)
        store_exists = Path(self.config.store).exists()
        if incremental and not store_exists:
            raise LinkageError(f"{self.config.store}: an incremental delivery needs an existing "
                               "store; run the full sources first")
        guard = ChangeGuard(self.config.crosswalk.max_change_share, allow_mass_change, dry_run)
        deletions = None
        started_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with self._dry_run_store(store_exists) if dry_run else self._run_store(create=True) \
                as store, store.transaction(commit=not dry_run):
            clock.limits = getattr(store, "limits", None)  # DuckDB's (Spark has its own)
            run_id = store.scalar("run", "next_run_id",
                                  "SELECT coalesce(max(run_id), 0) + 1 FROM run")
            with clock.stage("land"):
                # An incremental run's records to standardize and score again.
                changed = changed_records(store) if incremental else None
                landed = land_sources(store, checked, run_id, changed)
                guard.check_landing(landed)
                if deleted is not None:
                    deletions = apply_deletions(store, deleted, run_id, changed)
            with clock.stage("standardize"):
                formats, day_first = self._read_date_formats(store)
                persons = standardize(store, changed, date_formats=formats)
                warnings = value_warnings(
                    store, [count.delivery_id for count in landed if not count.unchanged])
                for count in landed:
                    if count.source_system in day_first and not count.unchanged:
                        warnings.setdefault(count.delivery_id, {}).setdefault("dob", {})[
                            "read_day_first"] = count.rows_landed
                record_warnings(store, landed, warnings)
            with clock.stage("link"):
                if incremental:
                    # A delivery is scored and clustered as the last full run was.
                    linked = link_incremental(
                        store, changed, population_model(store, model),
                        linking_in_force(store, self.config.linking), run_id,
                        self.config.deduplicated_sources, calibration)
                else:
                    linked = link(store, model, self.config.linking, run_id,
                                  self.config.deduplicated_sources, calibration)
            with clock.stage("crosswalk"):
                crosswalk_counts = assign_enterprise_ids(store, linked.clustering, run_id)
                guard.check_crosswalk(crosswalk_counts)
            summary = RunSummary(run_id, landed, persons, linked.counts, crosswalk_counts,
                                 clock.seconds, kind="delivery" if incremental else "full",
                                 dry_run=dry_run, deletions=deletions,
                                 guard=guard.as_dict())
            store.run_step("run", Step("record_run", """
INSERT INTO run VALUES ($run_id, $started_at, $finished_at, $config, $model_file, $model_fp,
    $summary)""", {
                "run_id": run_id, "started_at": started_at,
                "finished_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
                "config": self.config.fingerprint, "model_file": self.config.model.name,
                "model_fp": model_fingerprint(self.config.model),
                "summary": json.dumps(summary.as_dict()),
            }))
            _maybe_pause("commit")
        return summary

    def _dry_run_store(self, store_exists: bool) -> Store:
        """The store a dry run works in: the real one (rolled back at the end), or, before
        the first run, a scratch one, so a dry run never creates the store."""
        if store_exists:
            return self._run_store()
        if self.config.backend == "spark":
            raise LinkageError(f"{self.config.store}: no store yet; a dry run on Spark needs "
                               "one (the first run changes nothing it could compare)")
        return open_store(":memory:", create=True, engine=self.config.engine)

    def _read_date_formats(self, store: Store) -> tuple[dict[str, str], set[str]]:
        """The date format each source is read with, by source_system: its configured one,
        else a day-first one where its dates say so (linkage.standardize.dates); and the
        sources read day first so."""
        configured = {source.name: source.date_format for source in self.config.sources
                      if source.date_format}
        day_first = day_first_formats(store, sorted(
            source.name for source in self.config.sources if not source.date_format))
        if day_first:
            log.info("dates of birth read day first (no date_format configured, and their "
                     "values say so): %s", ", ".join(sorted(day_first)))
        return {**day_first, **configured}, set(day_first)

    def _delta_sources(self, deliveries: dict[str, Path] | None) -> list[SourceConfig]:
        by_name = {source.name: source for source in self.config.sources}
        unknown = sorted(set(deliveries or {}) - set(by_name))
        if unknown:
            raise ConfigError(f"{self.config.config_path}: no source named '{unknown[0]}' "
                              f"(configured: {', '.join(by_name)})")
        return [by_name[name].model_copy(update={"path": Path(path)})
                for name, path in (deliveries or {}).items()]

    def delivery_folder(self, folder: Path) -> tuple[dict[str, Path], Path | None]:
        """Map a delivery folder laid out like the configured sources' folder (as
        `linkage synth --deliveries` writes them) to delta paths per source, plus its
        deleted.csv when present."""
        paths = [source.path.resolve() for source in self.config.sources]
        base = Path(os.path.commonpath(paths)) if len(paths) > 1 else paths[0].parent
        deliveries = {}
        for source in self.config.sources:
            candidate = folder / source.path.resolve().relative_to(base)
            if candidate.exists():
                deliveries[source.name] = candidate
        deleted = folder / "deleted.csv"
        if not deliveries and not deleted.exists():
            raise SourceError(f"{folder}: holds none of the configured sources' files")
        return deliveries, deleted if deleted.exists() else None

    def train(self, out: Path, report: Report | None = None,
              labels: str | Path | None = None) -> dict[str, Any]:
        """Train a model on the configured sources (landed in a scratch store) and write it;
        with `labels` (a labels CSV, or "reviewer" for the store's decisions), calibrate its
        probabilities on them too."""
        stages = ["land", "standardize", "train"]
        if labels is not None:
            stages.append("calibrate")
        if self.config.training.holdout_people:
            stages.append("held-back evaluation")
        clock = StageClock(report, stages)
        deliveries = check_sources(self.config.sources)
        if labels is not None and str(labels) == REVIEWER_LABELS:
            with self.store(read_only=True) as store:
                load_labels(store, labels)
                decided = store.run_arrow("train", Step("decided", "SELECT * FROM label_pair"))
        with open_store(":memory:", create=True, engine=self.config.engine) as scratch:
            clock.limits = getattr(scratch, "limits", None)
            with clock.stage("land"):
                landed = land_sources(scratch, deliveries, run_id=0)
            with clock.stage("standardize"):
                sample = training_sample(scratch, self.config.training.max_records,
                                         self.config.training.seed)
                standardize(scratch, sample, date_formats=self._read_date_formats(scratch)[0])
            persons = active_persons(scratch, "train")
            with clock.stage("train"):
                card = train(persons, self.config.training, out, trained_on={
                    "config": self.config.config_path.name,
                    "sources": {count.source_system: count.rows_landed for count in landed},
                })
            if labels is not None:
                with clock.stage("calibrate"):
                    if str(labels) == REVIEWER_LABELS:
                        with scratch.registered("decided", decided):
                            scratch.run_step("train", Step(
                                "label_pair", "CREATE TEMP TABLE label_pair AS SELECT * FROM decided"))
                    else:
                        load_labels(scratch, labels)
                    card["calibration"] = calibrate_model(scratch, out, out)
                    card["model_fingerprint"] = model_fingerprint(out)
        if self.config.training.holdout_people:
            with clock.stage("held-back evaluation"):
                card["held_back_accuracy"] = self._held_back_accuracy(out)
            write_card(out, card)
        return card

    def calibrate(self, labels: str | Path, out: str | Path) -> dict[str, Any]:
        """Calibrate the config's model on labelled pairs of the store's records (a labels
        CSV, or "reviewer" for the decisions in force) and write it, calibrated, to `out`."""
        with self.store(read_only=True) as store:
            load_labels(store, labels)
            return calibrate_model(store, self.config.model, Path(out))

    def _held_back_accuracy(self, model: Path) -> dict[str, Any]:
        """Link a fresh synthetic population with `model` and measure it against truth."""
        people, seed = self.config.training.holdout_people, self.config.training.holdout_seed
        with tempfile.TemporaryDirectory(prefix="linkage-holdout-") as folder:
            root = Path(folder)
            generate_population(people, seed, root / "data")
            config = root / "holdout.yaml"
            config.write_text(yaml.safe_dump({
                "store": "store.duckdb", "model": str(model.resolve()),
                "sources": [{"name": name, "kind": name, "path": f"data/{path}"}
                            for name, path in SOURCE_PATHS.items()],
                "linking": self.config.linking.model_dump(),
            }), encoding="utf-8")
            holdout = Project.open(config)
            summary = holdout.run()
            metrics = holdout.evaluate(root / "data" / "truth.csv")
        return {"people": people, "seed": seed, "match_threshold":
                summary.link.match_threshold, **metrics.as_dict()}

    def rejects(self, delivery_id: int | None = None, *,
                show_values: bool = False) -> list[dict[str, Any]]:
        """Rejected rows (ids, files, rows and reasons; raw values only when asked)."""
        columns = "delivery_id, source_system, source_file, source_row, reason"
        if show_values:
            columns += ", raw"
        with self.store(read_only=True) as store:
            return store.run_records("rejects", Step(
                "rejects", f"SELECT {columns} FROM source_reject WHERE $delivery IS NULL OR "
                "delivery_id = $delivery ORDER BY delivery_id, source_system, source_file, "
                "source_row", {"delivery": delivery_id}))

    def standardize(self, out: Path, report: Report | None = None) -> int:
        """Land and standardize the configured sources in a scratch store (the run's store
        is not touched) and write the canonical person table to `out` (.csv/.parquet)."""
        clock = StageClock(report, ["land", "standardize", "write"])
        deliveries = check_sources(self.config.sources)
        with open_store(":memory:", create=True, engine=self.config.engine) as scratch:
            with clock.stage("land"):
                land_sources(scratch, deliveries, run_id=0)
            with clock.stage("standardize"):
                standardize(scratch, date_formats=self._read_date_formats(scratch)[0])
            with clock.stage("write"):
                return write_standardized(scratch, out)

    def export_crosswalk(self, out: str | Path, as_of: int | None = None,
                         consumer: str | None = None) -> int:
        """Write the crosswalk to `out`; with `consumer` (a name from the config's
        `consumers`), only the rows of the sources it may see."""
        sources = (None if consumer is None
                   else self.config.visible_sources(self.config.consumer(consumer)))
        with self.store(read_only=True) as store:
            return export_crosswalk(store, Path(out), as_of, sources)

    def crosswalk(self, as_of: int | None = None) -> pd.DataFrame:
        """The crosswalk as a frame: the active one, or as it stood right after run `as_of`
        (enterprise_id, source_system, source_record_id, valid_from_run)."""
        with self.store(read_only=True) as store:
            sql, params = crosswalk_relation(store, as_of)
            return store.run_frame("crosswalk", Step("crosswalk", sql, params))

    def resolve(self, enterprise_id: str) -> tuple[str, bool] | None:
        """The active EID any EID ever issued ended up in (None if never issued)."""
        with self.store(read_only=True) as store:
            return resolve_enterprise_id(store, enterprise_id)

    def resolve_many(self, enterprise_ids: Sequence[str]) -> pd.DataFrame:
        """Each EID as given (in order): enterprise_id, resolved_enterprise_id, active and
        status (active | merged | deactivated | unknown), in one query however many."""
        with self.store(read_only=True) as store:
            return resolve_enterprise_ids(store, list(enterprise_ids))

    def history(self, enterprise_id: str) -> dict[str, Any] | None:
        """An EID's creation, retirement and events, each with its run's time and the EID
        it came from or went to (None if the EID was never issued)."""
        with self.store(read_only=True) as store:
            return history(store, enterprise_id)

    def changes(self, since: int = 0) -> pd.DataFrame:
        """The change feed: every crosswalk event of the runs after run `since` (0: every
        run), with the active EID each event's EID resolves to now (`successor`):

            feed = project.changes(since=last_pulled_run)
        """
        with self.store(read_only=True) as store:
            return changes(store, since)

    def runs(self) -> pd.DataFrame:
        """The runs, oldest first: times, kind and the counts from each run's summary."""
        with self.store(read_only=True) as store:
            return runs(store)

    def decide(self, record_a: str, record_b: str, decision: str, reason: str,
               reviewer: str) -> Recorded:
        """Record a must-link or cannot-link decision; it holds from the next run on. The
        decision already in force on the pair is not recorded again."""
        with self._run_store() as store:
            return record_decisions(store, [Decision(record_a, record_b, decision, reviewer,
                                                     reason)])

    def revoke(self, record_a: str, record_b: str, reason: str, reviewer: str) -> int:
        """End the decision in force on a pair from the next run on (the row stays, for the
        audit trail); the id of the revoking row."""
        with self._run_store() as store:
            return revoke_decision(store, record_a, record_b, reviewer, reason)

    def decisions(self) -> pd.DataFrame:
        """The reviewer decisions in force: record_a, record_b, decision, reviewer, reason,
        decided_at, applied_run (the run that first obeyed it), decision_id."""
        with self.store(read_only=True) as store:
            return pd.DataFrame(decisions_in_force(store),
                                columns=["record_a", "record_b", "decision", "reviewer",
                                         "reason", "decided_at", "applied_run", "decision_id"])

    def export_review(self, out: str | Path, include_decided: bool = False) -> int:
        """Write the pairs to review (the review band, then the pairs inside flagged
        clusters) to a .csv to fill in and import, or an .html to read. Pairs with a
        decision in force are left out unless `include_decided` (then shown with it)."""
        with self.store(read_only=True) as store:
            return export_review(store, Path(out), linking_in_force(store, self.config.linking),
                                 include_decided)

    def flagged_clusters(self) -> pd.DataFrame:
        """Active EIDs still too large or too loosely held together after the last run
        re-formed them: enterprise_id, records, density (matched pairs / possible pairs at
        the match threshold) and reason (oversized or low_density)."""
        with self.store(read_only=True) as store:
            return store.run_frame("review", Step(
                "flagged_clusters", flagged_sql() + " ORDER BY records DESC, density, enterprise_id",
                flagged_params(linking_in_force(store, self.config.linking))))

    def import_review(self, path: Path, reviewer: str) -> Recorded:
        with self._run_store() as store:
            return import_review(store, path, reviewer)

    def migrate(self) -> list[int]:
        with open_store(self.config.store, migrating=True, engine=self.config.engine) as store:
            return migrate(store)

    def evaluate(self, truth: str | Path) -> Metrics:
        """Accuracy of the active crosswalk against a truth file."""
        with self.store(read_only=True) as store:
            return evaluate(store, Path(truth))

    def estimate(self, thresholds: Sequence[float] = SWEEP_THRESHOLDS
                 ) -> tuple[Estimate, pd.DataFrame]:
        """Without a truth file: the accuracy the model expects of the crosswalk, and of the
        stored pair scores clustered at each threshold (one row per threshold)."""
        with self.store(read_only=True) as store:
            rules = prediction_rules(with_rules(read_model(self.config.model),
                                                rules_in_force(store)))
            current, results = estimated_sweep(
                store, linking_in_force(store, self.config.linking),
                self.config.deduplicated_sources, thresholds, rules)
        return current, pd.DataFrame([{"match_threshold": threshold, **found.as_dict(),
                                       "clusters_split": shape.split,
                                       "clusters_flagged": shape.flagged}
                                      for threshold, found, shape in results])

    def match_threshold(self) -> float:
        """The match threshold in force: the configured one, or the one `auto` last chose."""
        with self.store(read_only=True) as store:
            return linking_in_force(store, self.config.linking).match_threshold

    def threshold_sweep(self, truth: str | Path,
                        thresholds: Sequence[float] = SWEEP_THRESHOLDS) -> pd.DataFrame:
        """Accuracy and cluster counts if the stored pair scores were clustered at each
        match threshold, one row per threshold; the store is not changed."""
        with self.store(read_only=True) as store:
            results = threshold_sweep(store, Path(truth),
                                      linking_in_force(store, self.config.linking),
                                      self.config.deduplicated_sources, thresholds)
        return pd.DataFrame([{"match_threshold": threshold, **metrics.as_dict(),
                              "clusters_split": shape.split,
                              "clusters_flagged": shape.flagged}
                             for threshold, metrics, shape in results])

    def explain_pair(self, record_a: str, record_b: str, html: str | Path | None = None, *,
                     show_values: bool = False) -> PairExplanation:
        """Each comparison's level and weight for two records (source_system:source_record_id),
        scored with the config's model; with `html`, Splink's waterfall chart, offline."""
        with self.store(read_only=True) as store:
            return explain_pair(store, self.config.model, record_a, record_b,
                                linking_in_force(store, self.config.linking).match_threshold,
                                html=Path(html) if html else None, show_values=show_values)

    def explain_cluster(self, enterprise_id: str, *,
                        show_values: bool = False) -> ClusterExplanation:
        """An EID's records and the pairs at or above the match threshold that join them."""
        with self.store(read_only=True) as store:
            return explain_cluster(store, enterprise_id,
                                   linking_in_force(store, self.config.linking).match_threshold,
                                   show_values=show_values)

    def accuracy_chart(self, truth: str | Path | None = None,
                       kind: str = "threshold_selection", labels: str | None = None) -> Chart:
        """Splink's accuracy analysis of the model's pair scores over the active records
        (pairs before clustering; `threshold_sweep` gives the clusters'), against a truth file
        or, with `labels="reviewer"`, the reviewers' decisions in force. `kind`:
        threshold_selection, precision_recall, accuracy or roc."""
        with self.store(read_only=True) as store:
            return accuracy_chart(store, load_model(self.config.model), kind,
                                  truth=None if truth is None else Path(truth), labels=labels)

    def match_weights_chart(self) -> Chart:
        """Splink's chart of the model's match weight for each comparison level."""
        return match_weights_chart(load_model(self.config.model))

    def m_u_chart(self) -> Chart:
        """Splink's chart of the model's m and u probabilities for each comparison level."""
        return m_u_chart(load_model(self.config.model))

    def blocking_counts(self) -> pd.DataFrame:
        """The pairs each of the run's prediction blocking rules (the model's, then the
        wider ones the population afforded) adds over the active records (rule,
        pairs_added, cumulative_pairs), in rule order; exact counts."""
        with self.store(read_only=True) as store:
            persons = active_persons(store, "inspect")
            model = with_rules(load_model(self.config.model), rules_in_force(store))
        return blocking_counts(persons, model)

    def blocking_chart(self) -> Chart:
        """Splink's chart of the pairs each of the run's prediction blocking rules adds,
        cumulatively."""
        with self.store(read_only=True) as store:
            persons = active_persons(store, "inspect")
            model = with_rules(load_model(self.config.model), rules_in_force(store))
        return blocking_chart(persons, model)

    def least_dense_clusters(self, limit: int = 10) -> pd.DataFrame:
        """Active EIDs of two or more records, least densely held together first (matched
        pairs at the match threshold / possible pairs), then largest."""
        with self.store(read_only=True) as store:
            return least_dense_clusters(
                store, linking_in_force(store, self.config.linking).match_threshold, limit)

    def cluster_studio(self, out: str | Path, enterprise_ids: Sequence[str] | None = None, *,
                       limit: int = 10) -> Path:
        """Write Splink's cluster studio dashboard for these EIDs (retired ones followed to
        the EID they became), by default the flagged clusters or, when none is flagged, the
        least dense; at most `limit` of them. It shows personal data: written owner-only."""
        if enterprise_ids is None:
            chosen = self.flagged_clusters()
            if chosen.empty:
                chosen = self.least_dense_clusters(limit)
            enterprise_ids = list(chosen["enterprise_id"])[:limit]
        with self.store(read_only=True) as store:
            return write_cluster_studio(store, self.config.model,
                                        active_enterprise_ids(store, enterprise_ids), Path(out))

    def searcher(self, *, preload: bool = True) -> Searcher:
        """The store opened read-only for many searches; close it (or use `with`) when done,
        since a run cannot write the store meanwhile:

            with project.searcher() as searcher:
                searcher.search(first_name="Bob", last_name="Smith", dob="1980-03-15")
        """
        return Searcher.open(self.config.store, self.config.model, preload=preload)

    def search(self, *, dob: str | dt.date | None = None, first_name: str | None = None,
               last_name: str | None = None, ssn_last4: str | None = None,
               zip5: str | None = None, limit: int = 10, **identifiers: str | None) -> pd.DataFrame:
        """The current EIDs most likely to be this person, best first, with each comparison's
        level for the EID's best-matching record (linkage.search; `identifiers`: ssn, cin,
        mrn, phone, email, sources). Opens and closes the store: for many searches, use
        `searcher()`."""
        with self.searcher(preload=False) as searcher:
            return searcher.search(dob=dob, first_name=first_name, last_name=last_name,
                                   ssn_last4=ssn_last4, zip5=zip5, limit=limit, **identifiers)

    @property
    def model_card(self) -> Path:
        return card_path(self.config.model)
