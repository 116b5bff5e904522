-- sipr schema, PostgreSQL: the version table every module checks its tables
-- against (Kamailio's layout and version numbers, so a database made by
-- Kamailio's own schema files works with sipr unchanged, and the reverse).
CREATE TABLE version (
    id SERIAL PRIMARY KEY NOT NULL,
    table_name VARCHAR(32) NOT NULL,
    table_version INTEGER DEFAULT 0 NOT NULL,
    CONSTRAINT version_table_name_idx UNIQUE (table_name)
);
INSERT INTO version (table_name, table_version) VALUES ('version', 1);
