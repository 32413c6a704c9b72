-- linkage store schema version 1 (the first release), for the migration test.
CREATE TABLE IF NOT EXISTS store_meta (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS run (
    run_id INTEGER PRIMARY KEY,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP NOT NULL,
    config_fingerprint VARCHAR NOT NULL,
    model_file VARCHAR NOT NULL,
    model_fingerprint VARCHAR NOT NULL,
    summary JSON NOT NULL
);
CREATE TABLE IF NOT EXISTS source_record (
    run_id INTEGER NOT NULL,
    source_system VARCHAR NOT NULL,
    source_kind VARCHAR NOT NULL,
    source_file VARCHAR NOT NULL,
    source_row BIGINT NOT NULL,
    source_record_id VARCHAR NOT NULL,
    is_deleted BOOLEAN NOT NULL,
    first_name VARCHAR,
    middle_name VARCHAR,
    last_name VARCHAR,
    name_suffix VARCHAR,
    name_quality VARCHAR,
    dob VARCHAR,
    dob_quality VARCHAR,
    ssn VARCHAR,
    ssn_quality VARCHAR,
    sex VARCHAR,
    cin VARCHAR,
    mrn VARCHAR,
    mrn_authority VARCHAR,
    street VARCHAR,
    unit VARCHAR,
    city VARCHAR,
    state VARCHAR,
    zip VARCHAR,
    phone VARCHAR,
    email VARCHAR,
    household_id VARCHAR,
    raw JSON NOT NULL,
    PRIMARY KEY (source_system, source_record_id)
);
CREATE TABLE IF NOT EXISTS source_reject (
    run_id INTEGER NOT NULL,
    source_system VARCHAR NOT NULL,
    source_file VARCHAR NOT NULL,
    source_row BIGINT NOT NULL,
    reason VARCHAR NOT NULL,
    raw JSON NOT NULL
);
CREATE TABLE IF NOT EXISTS person (
    record_key VARCHAR PRIMARY KEY,
    source_system VARCHAR NOT NULL,
    source_record_id VARCHAR NOT NULL,
    run_id INTEGER NOT NULL,
    is_deleted BOOLEAN NOT NULL,
    first_name VARCHAR,
    middle_name VARCHAR,
    last_name VARCHAR,
    name_suffix VARCHAR,
    surname_parts VARCHAR[],
    first_name_canonical VARCHAR,
    first_name_phonetic VARCHAR,
    last_name_phonetic VARCHAR,
    name_quality VARCHAR,
    dob DATE,
    dob_quality VARCHAR,
    ssn VARCHAR,
    ssn_last4 VARCHAR,
    ssn_quality VARCHAR,
    sex VARCHAR,
    cin VARCHAR,
    mrn VARCHAR,
    mrn_authority VARCHAR,
    street VARCHAR,
    unit VARCHAR,
    city VARCHAR,
    state VARCHAR,
    zip5 VARCHAR,
    address_kind VARCHAR,
    phone VARCHAR,
    email VARCHAR,
    household_id VARCHAR
);
CREATE TABLE IF NOT EXISTS pair_score (
    run_id INTEGER NOT NULL,
    record_key_l VARCHAR NOT NULL,
    record_key_r VARCHAR NOT NULL,
    match_weight DOUBLE NOT NULL,
    match_probability DOUBLE NOT NULL
);
CREATE TABLE IF NOT EXISTS enterprise_id (
    enterprise_id VARCHAR PRIMARY KEY,
    seq BIGINT NOT NULL UNIQUE,
    created_run INTEGER NOT NULL,
    retired_run INTEGER,
    merged_into VARCHAR
);
CREATE TABLE IF NOT EXISTS crosswalk (
    source_system VARCHAR NOT NULL,
    source_record_id VARCHAR NOT NULL,
    enterprise_id VARCHAR NOT NULL,
    valid_from_run INTEGER NOT NULL,
    valid_to_run INTEGER
);
CREATE TABLE IF NOT EXISTS crosswalk_event (
    run_id INTEGER NOT NULL,
    event_type VARCHAR NOT NULL,
    enterprise_id VARCHAR NOT NULL,
    related_enterprise_id VARCHAR,
    source_system VARCHAR,
    source_record_id VARCHAR
);
INSERT INTO store_meta VALUES ('schema_version', '1');
