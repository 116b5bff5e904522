-- sipr schema, SQLite: htable's table (version 2): key_type 0 a plain key,
-- 1 an array item; value_type 0 a string, 1 an integer; expires in Unix
-- seconds (0: never), read with db_expires=1.
CREATE TABLE htable (
    id INTEGER PRIMARY KEY NOT NULL,
    key_name VARCHAR(64) DEFAULT '' NOT NULL,
    key_type INTEGER DEFAULT 0 NOT NULL,
    value_type INTEGER DEFAULT 0 NOT NULL,
    key_value VARCHAR(128) DEFAULT '' NOT NULL,
    expires INTEGER DEFAULT 0 NOT NULL
);
INSERT INTO version (table_name, table_version) VALUES ('htable', 2);
