-- Every kind of schema object the catalog reads, in the shapes applications use them.
-- Loaded into a source; a copy must reproduce it exactly (pg_dump --schema-only equal).
CREATE EXTENSION citext;
CREATE EXTENSION pg_trgm WITH SCHEMA public;

CREATE SCHEMA app;
CREATE SCHEMA "Weird Schema";
COMMENT ON SCHEMA "Weird Schema" IS 'quoted ''schema''';

CREATE TYPE "Weird Schema"."Status" AS ENUM ('new', 'in progress', 'it''s done');
COMMENT ON TYPE "Weird Schema"."Status" IS 'status';
CREATE TYPE app.pair AS (a int, b text COLLATE "C");
CREATE DOMAIN app.email AS citext CHECK (VALUE ~ '@');
COMMENT ON DOMAIN app.email IS 'an e-mail address';
CREATE DOMAIN app.posint AS int NOT NULL DEFAULT 1 CONSTRAINT posint_check CHECK (VALUE > 0);
ALTER DOMAIN app.posint ADD CONSTRAINT posint_small CHECK (VALUE < 1000000) NOT VALID;
CREATE TYPE app.floatrange AS RANGE (subtype = float8, subtype_diff = float8mi);

CREATE FUNCTION app.slugify(t text) RETURNS text LANGUAGE sql IMMUTABLE
    AS $$ SELECT lower(regexp_replace(t, '[^a-zA-Z0-9]+', '-', 'g')) $$;
COMMENT ON FUNCTION app.slugify(text) IS 'url-safe';
CREATE FUNCTION app.is_even(i bigint) RETURNS boolean LANGUAGE sql IMMUTABLE RETURN i % 2 = 0;

CREATE SEQUENCE app.odd_seq AS integer START WITH 100 INCREMENT BY -3 MINVALUE -1000 MAXVALUE 100 CACHE 5 CYCLE;

CREATE TABLE app.account (
    id bigint GENERATED ALWAYS AS IDENTITY (START WITH 1000 INCREMENT BY 10) PRIMARY KEY,
    email app.email NOT NULL UNIQUE,
    name text COLLATE "C" NOT NULL,
    slug text GENERATED ALWAYS AS (app.slugify(name)) STORED,
    balance numeric(12,2) NOT NULL DEFAULT 0 CHECK (balance >= 0),
    status "Weird Schema"."Status" NOT NULL DEFAULT 'new',
    tags text[] DEFAULT '{}',
    legacy_no int DEFAULT nextval('app.odd_seq'),
    stats app.pair,
    quota app.posint,
    CONSTRAINT even_check CHECK (app.is_even(id) OR id > 0)
) WITH (fillfactor = 80);
ALTER TABLE app.account ALTER COLUMN name SET STATISTICS 500;
ALTER TABLE app.account ALTER COLUMN tags SET STORAGE EXTERNAL;
ALTER TABLE app.account ALTER COLUMN balance SET (n_distinct = 100);
COMMENT ON TABLE app.account IS 'accounts';
COMMENT ON COLUMN app.account.email IS 'login e-mail';
COMMENT ON CONSTRAINT even_check ON app.account IS 'silly';

CREATE TABLE app.ledger (
    id bigserial,
    account_id bigint NOT NULL,
    at date NOT NULL,
    amount numeric NOT NULL,
    note text,
    PRIMARY KEY (id, at),
    FOREIGN KEY (account_id) REFERENCES app.account (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
) PARTITION BY RANGE (at);
CREATE TABLE app.ledger_2024 PARTITION OF app.ledger FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE app.ledger_2025 PARTITION OF app.ledger FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE app.ledger_default PARTITION OF app.ledger DEFAULT;
CREATE INDEX ledger_account_idx ON app.ledger (account_id);
CREATE UNIQUE INDEX ledger_note_uniq ON app.ledger (note, at) WHERE note IS NOT NULL;
ALTER TABLE app.ledger ADD CONSTRAINT ledger_amount_check CHECK (amount <> 0);

CREATE TABLE app.room_booking (
    id serial PRIMARY KEY,
    room int NOT NULL,
    during tstzrange NOT NULL,
    EXCLUDE USING gist (during WITH &&)
);

CREATE TABLE app.base_item (id int PRIMARY KEY, label text NOT NULL DEFAULT 'x', CHECK (length(label) < 100));
CREATE TABLE app.special_item (extra int) INHERITS (app.base_item);

CREATE UNLOGGED TABLE app.cache (k text PRIMARY KEY, v jsonb);
CREATE RULE protect_cache AS ON DELETE TO app.cache WHERE old.k = 'keep' DO INSTEAD NOTHING;

CREATE TABLE app.tree (id int PRIMARY KEY, parent_id int REFERENCES app.tree (id), name text);

CREATE TABLE app.doc (id int PRIMARY KEY, account_id bigint, body text);
CREATE INDEX doc_body_trgm ON app.doc USING gin (body gin_trgm_ops);
CREATE INDEX doc_lower ON app.doc (lower(body)) WHERE account_id IS NOT NULL;
COMMENT ON INDEX app.doc_lower IS 'expression index';
ALTER TABLE app.doc CLUSTER ON doc_pkey;
ALTER TABLE app.doc REPLICA IDENTITY FULL;
ALTER TABLE app.doc ENABLE ROW LEVEL SECURITY;
CREATE POLICY doc_owner ON app.doc FOR SELECT TO PUBLIC USING (account_id IS NOT NULL);

CREATE TABLE app.notes (id int NOT NULL, body text);
CREATE UNIQUE INDEX notes_id_key ON app.notes (id);
ALTER TABLE app.notes REPLICA IDENTITY USING INDEX notes_id_key;

CREATE TABLE "Weird Schema"."Odd ""Name""" ("Mixed Case" int PRIMARY KEY, "select" text);

CREATE STATISTICS app.account_stats (dependencies) ON status, balance FROM app.account;

CREATE VIEW app.rich_accounts WITH (security_barrier) AS
    SELECT id, email, balance FROM app.account WHERE balance > 100;
COMMENT ON VIEW app.rich_accounts IS 'rich';
CREATE VIEW app.rich_slugs AS SELECT app.slugify(email::text) AS s FROM app.rich_accounts;
CREATE MATERIALIZED VIEW app.balance_by_status AS
    SELECT status, sum(balance) AS total FROM app.account GROUP BY status;
CREATE UNIQUE INDEX balance_by_status_status ON app.balance_by_status (status);
COMMENT ON MATERIALIZED VIEW app.balance_by_status IS 'totals';

CREATE FUNCTION app.accounts_over(n numeric) RETURNS SETOF app.account LANGUAGE sql STABLE
    AS $$ SELECT * FROM app.account WHERE balance > n $$;
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN NEW.note := coalesce(NEW.note, 'touched'); RETURN NEW; END $$;
CREATE FUNCTION app.noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER ledger_touch BEFORE INSERT ON app.ledger FOR EACH ROW EXECUTE FUNCTION app.touch();
COMMENT ON TRIGGER ledger_touch ON app.ledger IS 'fills note';
CREATE TRIGGER tree_noop AFTER UPDATE ON app.tree FOR EACH STATEMENT EXECUTE FUNCTION app.noop();
ALTER TABLE app.tree DISABLE TRIGGER tree_noop;
CREATE PROCEDURE app.reset_cache() LANGUAGE sql AS $$ DELETE FROM app.cache $$;
CREATE AGGREGATE app.product(numeric) (SFUNC = numeric_mul, STYPE = numeric, INITCOND = '1');

-- Data.
INSERT INTO app.account (email, name, balance, status, tags, stats, quota)
SELECT 'user' || g || '@example.com', 'User ' || g || ' Ünïcode', g * 10.5,
       (ARRAY['new', 'in progress', 'it''s done'])[1 + g % 3]::"Weird Schema"."Status",
       ARRAY['t' || g, 'x,y'], ROW(g, 'p' || g)::app.pair, g
FROM generate_series(1, 300) g;
INSERT INTO app.ledger (account_id, at, amount, note)
SELECT 1000 + 10 * (g % 300), date '2023-06-01' + (g % 900), g - 0.5, 'n' || g
FROM generate_series(1, 3000) g;
INSERT INTO app.room_booking (room, during)
SELECT g, tstzrange('2024-01-01'::timestamptz + g * interval '1 hour', '2024-01-01'::timestamptz + (g + 1) * interval '1 hour')
FROM generate_series(1, 200) g;
INSERT INTO app.base_item SELECT g, 'base ' || g FROM generate_series(1, 50) g;
INSERT INTO app.special_item (id, label, extra) SELECT g, 'special ' || g, g FROM generate_series(51, 80) g;
INSERT INTO app.cache SELECT 'k' || g, jsonb_build_object('g', g) FROM generate_series(1, 100) g;
INSERT INTO app.cache VALUES ('keep', '{}');
INSERT INTO app.tree VALUES (1, NULL, 'root'), (2, 1, 'child'), (3, 2, '');
INSERT INTO app.doc SELECT g, CASE WHEN g % 5 = 0 THEN NULL ELSE 1000 + 10 * g END, 'Document ' || g || E'\nline two\ttab'
FROM generate_series(1, 400) g;
INSERT INTO app.doc VALUES (401, 424242, 'points at a missing account: the FK is NOT VALID');
INSERT INTO app.notes SELECT g, 'note ' || g FROM generate_series(1, 20) g;
INSERT INTO "Weird Schema"."Odd ""Name""" SELECT g, 'sel' || g FROM generate_series(1, 10) g;
REFRESH MATERIALIZED VIEW app.balance_by_status;

-- Constraints added NOT VALID over rows that break them: the target must keep them so.
ALTER TABLE app.tree ADD CONSTRAINT tree_name_check CHECK (name <> '') NOT VALID;
ALTER TABLE app.doc ADD CONSTRAINT doc_account_fk FOREIGN KEY (account_id) REFERENCES app.account (id) NOT VALID;

-- Functions whose bodies name other objects without a schema, as most application code
-- does: an index and a materialized view that call them must build in the target too
-- (pg_restore, which runs with an empty search_path, fails on exactly this).
CREATE FUNCTION public.twice(i int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT i * 2 $$;
CREATE FUNCTION public.twice_plus_one(i int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT twice(i) + 1 $$;
CREATE TABLE public.measure (id int PRIMARY KEY, x int NOT NULL);
INSERT INTO public.measure SELECT g, g % 50 FROM generate_series(1, 500) g;
CREATE INDEX measure_twice ON public.measure (public.twice_plus_one(x));
CREATE MATERIALIZED VIEW public.measure_summary AS SELECT public.twice_plus_one(x) AS y, count(*) AS n FROM public.measure GROUP BY 1;

-- A table with no columns still holds rows; one whose only column is generated stores none.
CREATE TABLE app.no_columns ();
INSERT INTO app.no_columns SELECT FROM generate_series(1, 7);
CREATE TABLE app.only_generated (g int GENERATED ALWAYS AS (42) STORED);
INSERT INTO app.only_generated SELECT FROM generate_series(1, 3);
