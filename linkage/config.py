"""The run config: YAML, validated strictly, paths relative to the config file.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "run.yaml").write_text(
...     "store: out/store.duckdb\\nmodel: model.json\\n"
...     "sources:\\n  - {name: hmis, kind: hmis, path: data/hmis}\\n")
>>> config = load_config(folder / "run.yaml")
>>> config.sources[0].path == folder / "data" / "hmis"
True
>>> config.linking.match_threshold
'auto'
"""

from __future__ import annotations

import hashlib
import re
from enum import Enum
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, ValidationError,
                      field_validator, model_validator)

from linkage.errors import ConfigError
from linkage.store.resources import SIZE_PATTERN, size_bytes
from linkage.store.schema import PERSON_FIELDS


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceKind(str, Enum):
    calsaws = "calsaws"
    hmis = "hmis"
    ehr_csv = "ehr_csv"
    ehr_fhir = "ehr_fhir"
    person = "person"


def _a_path(value: object) -> object:
    """An empty path would name the config's own folder: refused before it becomes one."""
    if isinstance(value, str) and not value.strip():
        raise ValueError("expected a file path, got an empty string")
    return value


class SourceConfig(Strict):
    """One source system: its name (the `source_system` value), kind and files."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    kind: SourceKind
    path: Annotated[Path, BeforeValidator(_a_path)]
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="file column name -> shape column name, for flat files whose headers "
                    "differ; for kind person, file column -> person field",
    )
    # kind person: the file columns whose values make the record key (one: the value as it
    # is; several: joined like CalSAWS keys), and fixed values for fields the file lacks.
    key: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)] | None = None
    constants: dict[str, str] = Field(default_factory=dict)
    encoding: Literal["utf-8", "latin-1", "utf-16"] = "utf-8"
    # True when the source keeps one record per person (an MPI-cleaned extract): two of
    # its records are then never clustered together.
    deduplicated: bool = False
    # How this source writes dates, as strftime (%d%m%Y, %d/%m/%Y): a date in this format's
    # shape is read by it alone; one in another shape (an ISO date) by the usual shapes.
    date_format: str | None = None
    # full: each run's files are the whole source, and a record missing from them is removed.
    # delta: the files add and update records; only a deletions file removes any.
    snapshot: Literal["full", "delta"] = "full"

    @model_validator(mode="after")
    def _person_settings(self) -> SourceConfig:
        """`key` and `constants` belong to kind person, which needs a key; its columns and
        constants name person fields, listed when one is not."""
        if self.kind != SourceKind.person:
            for setting in ("key", "constants"):
                if getattr(self, setting):
                    raise ValueError(f"'{setting}' is a setting of kind person, not "
                                     f"{self.kind.value}")
            return self
        if not self.key:
            raise ValueError("a person source needs 'key': the file column(s) that identify "
                             "a record, e.g. key: [ParticipantID]")
        if len(set(self.key)) < len(self.key):
            raise ValueError("'key' names a column twice")
        unknown = sorted({field for field in [*self.columns.values(), *self.constants]
                          if field not in PERSON_FIELDS})
        if unknown:
            raise ValueError(f"not a person field: {', '.join(unknown)}; the fields are "
                             f"{', '.join(PERSON_FIELDS)}")
        both = sorted(set(self.columns.values()) & set(self.constants))
        if both:
            raise ValueError(f"field given both by a column and by a constant: {', '.join(both)}")
        return self

    @field_validator("date_format")
    @classmethod
    def _date_format_is_a_date(cls, value: str | None) -> str | None:
        """Only %Y or %y, %m, %b or %B, %d (each field once) and the separators - / . , and
        space: so the format is a date, and nothing else can reach the SQL it is bound to."""
        if value is None:
            return value
        tokens = re.findall(r"%.|.", value, flags=re.S)
        fields = {"%Y": "year", "%y": "year", "%m": "month", "%b": "month", "%B": "month",
                  "%d": "day"}
        found = [fields[token] for token in tokens if token in fields]
        if len(value) > 32 or any(token not in fields and token not in " -/.," for token in tokens) \
                or sorted(found) != ["day", "month", "year"]:
            raise ValueError("expected a strftime date format with one each of %Y or %y, %m, %b "
                             "or %B, and %d, separated by - / . , or spaces (e.g. '%d%m%Y')")
        return value


def _probability_or_auto(value: object) -> float | str:
    if value == "auto":
        return "auto"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ValueError("expected a probability between 0 and 1 (exclusive), or auto")
    return float(value)


class LinkingConfig(Strict):
    """Thresholds for scoring and clustering; the defaults work on sample_data."""

    predict_threshold: Annotated[float, Field(gt=0, lt=1)] = 0.5
    # A probability, or `auto`: each full run clusters at the threshold whose clusters the
    # model expects to be most accurate (linkage/link/estimate.py) and records it.
    match_threshold: Annotated[float | Literal["auto"], PlainValidator(_probability_or_auto)] = "auto"
    # Pairs with review_low <= probability < review_high go to reviewers.
    review_low: Annotated[float, Field(gt=0, lt=1)] = 0.5
    review_high: Annotated[float, Field(gt=0, le=1)] = 0.99
    # A cluster larger than this, or with fewer than this share of its record pairs matched,
    # is re-formed at stricter thresholds and, if still so, flagged for review.
    max_cluster_size: Annotated[int, Field(ge=2)] = 12
    min_cluster_density: Annotated[float, Field(ge=0, le=1)] = 0.4

    @model_validator(mode="after")
    def _thresholds_agree(self) -> LinkingConfig:
        """Only pairs at or above predict_threshold are kept, so a lower match threshold or
        review band would silently act as predict_threshold; an empty band reviews nothing."""
        if self.review_low >= self.review_high:
            raise ValueError("review_low must be less than review_high")
        if isinstance(self.match_threshold, float) \
                and self.match_threshold < self.predict_threshold:
            raise ValueError("match_threshold must be at least predict_threshold (pairs below "
                             "predict_threshold are never kept)")
        if self.review_low < self.predict_threshold:
            raise ValueError("review_low must be at least predict_threshold (pairs below "
                             "predict_threshold are never kept)")
        return self


class CrosswalkConfig(Strict):
    """Guards on what one run may change in the crosswalk."""

    # A run that would remove or move more than this share of the active records, or that
    # lands a full snapshot of a source with under half the records it held, is refused
    # unless run with --allow-mass-change.
    max_change_share: Annotated[float, Field(gt=0, le=1)] = 0.05


class TrainingConfig(Strict):
    seed: int = 42
    max_pairs_u: Annotated[int, Field(gt=0)] = 2_000_000
    em_max_iterations: Annotated[int, Field(gt=0)] = 25
    # Above this many landed records, training standardizes and reads a sample of this size,
    # the same for the same records and seed (linkage.link.train.training_sample). None (the
    # default) reads them all: a 200,000-record sample of 1M trains faster but its model
    # scored 0.001 to 0.002 F1 lower (benchmarks/RESULTS.md, training at 1M).
    max_records: Annotated[int, Field(gt=0)] | None = None
    # A synthetic population the model never saw, linked end to end after training; its
    # accuracy goes into the model card. 0 skips it.
    holdout_people: Annotated[int, Field(ge=0)] = 3000
    holdout_seed: int = 7


class SparkConfig(Strict):
    """The SparkSession a `backend: spark` run builds. Under spark-submit or on Databricks
    the session already exists and is used as it is; these settings are then ignored."""

    master: str = "local[*]"
    driver_memory: Annotated[str, Field(pattern=r"^[0-9]+[kmgt]$")] = "4g"
    shuffle_partitions: Annotated[int, Field(ge=1)] = 8
    conf: dict[str, str] = Field(default_factory=dict, description="other spark.* settings")


class ConsumerConfig(Strict):
    """Who may ask `linkage serve` (and receive a segmented export), and what they see.

    The token is never in the config: `token_env` names the environment variable holding
    it. `sources` lists the source systems whose records this consumer may see (default:
    all); an EID none of whose records it may see does not exist for it."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]
    token_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")]
    sources: Annotated[list[str], Field(min_length=1)] | None = None


def _memory_limit(value: object) -> str:
    """A size (16GB), or a share of this machine's memory (40%)."""
    if isinstance(value, str):
        text = value.strip()
        share = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)\s*%", text)
        if share and 0 < float(share.group(1)) <= 100:
            return text
        if re.fullmatch(SIZE_PATTERN, text, flags=re.IGNORECASE) and size_bytes(text) > 0:
            return text
    raise ValueError("expected a size such as 16GB or 512MiB, or a share of this machine's "
                     "memory such as 40%")


class EngineConfig(Strict):
    """What the DuckDB engine may take of this machine (`backend: duckdb`; Spark has
    `spark:`). The defaults fit any machine; set them when a run shares it.

    Beyond its memory limit DuckDB spills to the temp directory; a run that fits in
    neither stops with an out-of-memory error (exit 6) and commits nothing."""

    # What DuckDB may hold for a run, all its databases together (the store's, and while
    # pairs are scored Splink's, which the store lends most of it). The default leaves
    # the rest of memory to Python, Arrow and the system.
    memory_limit: Annotated[str, PlainValidator(_memory_limit)] = "60%"
    # Where spill files go: by default a folder beside the store (STORE.tmp), removed when
    # the store closes. Give a disk with room for the largest run.
    temp_directory: Annotated[Path, BeforeValidator(_a_path)] | None = None
    # The most spill files may take (default DuckDB's: 90% of the disk's free space).
    max_temp_directory_size: Annotated[str, Field(pattern=SIZE_PATTERN)] | None = None
    # Threads per database (default: one per core).
    threads: Annotated[int, Field(ge=1)] | None = None


Backend = Literal["duckdb", "spark"]


class RunConfig(Strict):
    store: Annotated[Path, BeforeValidator(_a_path)]
    model: Annotated[Path, BeforeValidator(_a_path)]
    sources: Annotated[list[SourceConfig], Field(min_length=1)]
    linking: LinkingConfig = LinkingConfig()
    crosswalk: CrosswalkConfig = CrosswalkConfig()
    training: TrainingConfig = TrainingConfig()
    # duckdb: one store file, on this machine. spark: a folder of Parquet, and every run
    # stage on Spark (pip install 'linkage[spark]', Java 17).
    backend: Backend = "duckdb"
    spark: SparkConfig = SparkConfig()
    engine: EngineConfig = EngineConfig()
    consumers: list[ConsumerConfig] = Field(default_factory=list)
    config_path: Path = Field(exclude=True)
    fingerprint: str = Field(exclude=True)

    @field_validator("sources")
    @classmethod
    def _unique_source_names(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        names = [source.name for source in sources]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"source names must be unique; repeated: {', '.join(duplicates)}")
        return sources

    @model_validator(mode="after")
    def _consumers_name_sources(self) -> RunConfig:
        names = [consumer.name for consumer in self.consumers]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"consumer names must be unique; repeated: {', '.join(repeated)}")
        known = {source.name for source in self.sources}
        for consumer in self.consumers:
            unknown = sorted(set(consumer.sources or ()) - known)
            if unknown:
                raise ValueError(f"consumer {consumer.name}: unknown sources "
                                 f"{', '.join(unknown)} (the config's sources: "
                                 f"{', '.join(sorted(known))})")
        return self

    def consumer(self, name: str) -> ConsumerConfig:
        """The consumer called `name`; a ConfigError naming the ones there are otherwise."""
        for consumer in self.consumers:
            if consumer.name == name:
                return consumer
        listed = ", ".join(consumer.name for consumer in self.consumers) or "none"
        raise ConfigError(f"{self.config_path}: no consumer named {name!r} (consumers: {listed})")

    def visible_sources(self, consumer: ConsumerConfig) -> tuple[str, ...]:
        """The source systems whose records `consumer` may see."""
        return tuple(consumer.sources) if consumer.sources is not None else tuple(
            source.name for source in self.sources)

    @property
    def deduplicated_sources(self) -> tuple[str, ...]:
        return tuple(source.name for source in self.sources if source.deduplicated)


def load_config(path: str | Path, store: str | Path | None = None,
                backend: Backend | None = None) -> RunConfig:
    """Read and validate a run config; `store` and `backend` override the config's.

    A Spark store is a folder, so with `backend: spark` a store path ending in `.duckdb` is
    used with `.parquet` in its place: one config serves both engines.
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; the config is a YAML file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read config ({error.__class__.__name__})") from None
    try:
        document = load_yaml(text)
    except DuplicateKeyError as error:
        raise ConfigError(f"{path}: {error}") from None
    except (yaml.YAMLError, RecursionError) as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")

    base = path.resolve().parent
    document = _resolve_paths(document, base)
    if store is not None:
        document["store"] = Path(store).resolve()
    if backend is not None:
        document["backend"] = backend
    if document.get("backend") == "spark" and isinstance(document.get("store"), Path) \
            and document["store"].suffix == ".duckdb":
        document["store"] = document["store"].with_suffix(".parquet")
    document["config_path"] = path.resolve()
    document["fingerprint"] = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    try:
        return RunConfig.model_validate(document)
    except ValidationError as error:
        raise ConfigError(f"{path}: {_describe(error)}") from None


class DuplicateKeyError(yaml.YAMLError):
    """A key given twice in one mapping: YAML keeps the last silently, a config must not."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a repeated key with its line."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict:
    seen = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # a `<<` merge's keys may be overridden: only literal repeats count
        key = loader.construct_object(key_node)
        try:
            repeated = key in seen
        except TypeError:
            continue  # an unhashable key: construct_mapping reports it
        if repeated:
            raise DuplicateKeyError(f"key '{str(key)[:80]}' given twice in one mapping, at line "
                                    f"{key_node.start_mark.line + 1}")
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                 _unique_mapping)


def load_yaml(text: str) -> object:
    """YAML as safe_load reads it, but a key repeated in a mapping is a DuplicateKeyError."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)


def _resolve_paths(document: dict, base: Path) -> dict:
    document = dict(document)
    for key in ("store", "model"):
        if isinstance(document.get(key), str) and document[key].strip():  # "" is refused
            document[key] = base / document[key]
    if isinstance(document.get("sources"), list):
        document["sources"] = [
            {**source, "path": base / source["path"]}
            if isinstance(source, dict) and isinstance(source.get("path"), str)
            and source["path"].strip()
            else source
            for source in document["sources"]
        ]
    engine = document.get("engine")
    if isinstance(engine, dict) and isinstance(engine.get("temp_directory"), str) \
            and engine["temp_directory"].strip():
        document["engine"] = {**engine, "temp_directory": base / engine["temp_directory"]}
    return document


def _describe(error: ValidationError) -> str:
    """The first problem, in words: which key, and what was expected."""
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or "top level"
    if first["type"] == "extra_forbidden":
        return f"unknown key '{location}'"
    if first["type"] == "missing":
        return f"missing required key '{location}'"
    more = f" (and {error.error_count() - 1} more problems)" if error.error_count() > 1 else ""
    return f"invalid value for '{location}': {first['msg']}{more}"
