"""Seeded synthetic populations with ground truth, in the three source shapes linkage reads.

`generate_population(people, seed, out_dir)` writes::

    out_dir/
      calsaws/persons.csv     county eligibility extract, one row per person per case;
                              key county_code-case_number-person_number (19-1234567-01);
                              dob YYYY-MM-DD, sex M/F, names upper case
      hmis/Export.csv         HUD HMIS CSV FY2024 (CSVVersion "2024 v1.3")
      hmis/Client.csv         key PersonalID (32 hex); DOB YYYY-MM-DD; data-quality codes
                              1 full, 2 partial (SSN like xxxxx1234, DOB imputed as Jan 1),
                              8/9/99 with an empty value
      hmis/Enrollment.csv     one or more per client; a household shares HouseholdID
      ehr/patients.csv        facility 1, flat CSV; key mrn; dob MM/DD/YYYY,
                              gender male/female, ZIP or ZIP+4, names title case
      ehr/patients.ndjson     facility 2, FHIR R4 Patient per line; key = MR identifier
      truth.csv               source_system,source_record_id,person_id for every record,
                              source_system in calsaws / hmis / ehr_csv / ehr_fhir

How it works: `population.PopulationBuilder` makes households (families sharing surname and
address, single adults, twins, Jr/Sr namesakes, homeless clients at shelters) and decides,
as data in `population.Coverage`, which systems hold how many records of each person
(several CalSAWS cases, duplicate HMIS clients and MRNs). Each source writer turns a person
into a `noise.RecordDraft`, lets `noise.NoiseEngine` apply the noise registry, and formats
the draft in its source's habits (`formats.SOURCE_FORMATS`). Households stream through all
writers, so memory does not grow with the population.

The noise registry (`noise.NOISE_TYPES`) is a tuple of `NoiseType` entries: a name, a
description, a default rate per source system, when it can apply and what it does
(maiden and compound-surname variants, typos, OCR errors, nicknames, family-name-first and
first/last swaps, accents, case, placeholder names and SSNs, SSN typos, day/month swaps
and wrong DOB digits, moved address, missing and partial values, a relative's CIN). Rates
are probabilities per record where the noise is possible. Every default rate, the
coverage (several CalSAWS cases, MEDS duplicate CINs, duplicate HMIS clients and MRNs)
and the delivery change rates live in `noise_defaults.yaml`, each with its reason; a user
file with the same sections overrides them (`load_synth_config(path)`, passed as
`generate_population(..., config=...)`), and `noise={"hmis": {"partial_ssn": 0.3}}`
overrides single rates; unknown names are rejected with the valid options.

Profiles: `generate_population(..., profile="drift")` (`linkage synth --profile drift`) lays
`profiles/drift.yaml` over the defaults: records years apart (previous address, earlier
phone, e-mail and surname), sparse records, dates in several formats and about 1% that
cannot exist, pseudopeople-like error kinds at its 1% rates, and sources that overlap less.
Noise types only a profile uses default to 0, so the default population is unchanged.

Deliveries: `generate_population(..., deliveries=K)` also writes
`out_dir/deliveries/day01..dayKK/{snapshot,delta}/` with new, changed and deleted
records and truth for each (layout in deliveries.py).

Program extracts (opt-in): `generate_population(..., extracts=("wic", "behavioral_health"))`
(`linkage synth --extract wic`) also writes `wic/participants.csv` and
`behavioral_health/clients.csv` in their own layouts, for `kind: person` sources, with their
records in truth.csv (programs.py declares them, with the config each needs). They draw from
their own RNGs, so the other files are byte-identical with or without them.

Determinism: one seed, from which each stage and source derives its own `random.Random`
(seeded by a string, which does not depend on PYTHONHASHSEED); no clock, no set iteration;
UTF-8 with `\\n` line endings. Same arguments, byte-identical files.
"""

from linkage.synth.generator import SynthSummary, generate_population
from linkage.synth.noise import NOISE_TYPES, NoiseType, default_noise_rates
from linkage.synth.population import SOURCE_SYSTEMS, Coverage
from linkage.synth.settings import SynthConfig, load_synth_config

# Where a generated population keeps each source, as a run config's `path` (source = kind).
SOURCE_PATHS = {"calsaws": "calsaws/persons.csv", "hmis": "hmis",
                "ehr_csv": "ehr/patients.csv", "ehr_fhir": "ehr/patients.ndjson"}

__all__ = [
    "NOISE_TYPES",
    "SOURCE_PATHS",
    "SOURCE_SYSTEMS",
    "Coverage",
    "NoiseType",
    "SynthConfig",
    "SynthSummary",
    "default_noise_rates",
    "generate_population",
    "load_synth_config",
]
