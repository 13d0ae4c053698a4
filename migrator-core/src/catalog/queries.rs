//! The catalog queries. Every session that runs them has `search_path = ''`, so the server's
//! renderers (`format_type`, `pg_get_*def`, `pg_get_expr`) qualify every name they print.
//! Written for PostgreSQL 13 and later.

/// Schemas that are never migrated, as a SQL condition on `n.nspname`.
pub(super) const USER_SCHEMA: &str =
    "n.nspname !~ '^pg_' AND n.nspname NOT IN ('information_schema', '_migrator')";

pub(super) const SERVER: &str = "SELECT current_setting('server_version_num')::int4, \
     current_setting('server_version'), current_database()";

pub(super) const EXTENSION_MEMBERS: &str =
    "SELECT classid::oid, objid::oid, refobjid::oid FROM pg_catalog.pg_depend WHERE deptype = 'e'";

pub(super) fn schemas() -> String {
    format!(
        "SELECT n.oid, n.nspname::text, pg_catalog.obj_description(n.oid, 'pg_namespace') \
         FROM pg_catalog.pg_namespace n WHERE {USER_SCHEMA} ORDER BY n.nspname"
    )
}

pub(super) const EXTENSIONS: &str = "SELECT e.oid, e.extname::text, n.nspname::text, e.extversion \
     FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace \
     WHERE e.extname <> 'plpgsql' ORDER BY e.extname";

/// Every user-defined type, with what dependency resolution and binary-format checks need.
pub(super) fn type_info(version: i32) -> String {
    let multirange = if version >= 140000 {
        "(SELECT rg.rngtypid FROM pg_catalog.pg_range rg WHERE rg.rngmultitypid = t.oid)"
    } else {
        "NULL::oid"
    };
    format!(
        "SELECT t.oid, t.typtype::text, t.typrelid, COALESCE(r.relkind::text, ''), t.typelem, \
         t.typlen::int4, t.typbasetype, t.typsend <> 0, {multirange} \
         FROM pg_catalog.pg_type t LEFT JOIN pg_catalog.pg_class r ON r.oid = t.typrelid \
         WHERE t.oid >= 16384"
    )
}

/// Collation of `$oid_expr`, qualified and quoted, or NULL.
fn collation(oid_expr: &str) -> String {
    format!(
        "(SELECT pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname) \
         FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace \
         WHERE co.oid = {oid_expr})"
    )
}

pub(super) fn types() -> String {
    format!(
        "SELECT t.oid, n.nspname::text, t.typname::text, t.typtype::text, \
         pg_catalog.obj_description(t.oid, 'pg_type'), \
         CASE WHEN t.typtype = 'd' THEN pg_catalog.format_type(t.typbasetype, t.typtypmod) END, \
         t.typnotnull, pg_catalog.pg_get_expr(t.typdefaultbin, 0), \
         CASE WHEN t.typtype = 'd' AND t.typcollation <> bt.typcollation THEN {} END, \
         t.typrelid, t.typbasetype, pg_catalog.format_type(t.oid, NULL) \
         FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
         LEFT JOIN pg_catalog.pg_type bt ON bt.oid = t.typbasetype \
         LEFT JOIN pg_catalog.pg_class r ON r.oid = t.typrelid \
         WHERE {USER_SCHEMA} AND (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND r.relkind = 'c')) \
         ORDER BY n.nspname, t.typname",
        collation("t.typcollation")
    )
}

pub(super) const ENUM_LABELS: &str = "SELECT enumtypid, array_agg(enumlabel::text ORDER BY enumsortorder) \
     FROM pg_catalog.pg_enum GROUP BY enumtypid";

pub(super) const DOMAIN_CONSTRAINTS: &str = "SELECT contypid, conname::text, \
     pg_catalog.pg_get_constraintdef(oid), pg_catalog.obj_description(oid, 'pg_constraint') \
     FROM pg_catalog.pg_constraint WHERE contypid <> 0 ORDER BY contypid, conname";

pub(super) fn composite_attributes() -> String {
    format!(
        "SELECT a.attrelid, a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), \
         CASE WHEN a.attcollation <> t.typcollation THEN {} END \
         FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
         JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
         WHERE c.relkind = 'c' AND a.attnum > 0 AND NOT a.attisdropped \
         ORDER BY a.attrelid, a.attnum",
        collation("a.attcollation")
    )
}

pub(super) fn ranges(version: i32) -> String {
    let multi = if version >= 140000 {
        "CASE WHEN rg.rngmultitypid <> 0 THEN (SELECT mn.nspname::text || '.' || m.typname::text \
         FROM pg_catalog.pg_type m JOIN pg_catalog.pg_namespace mn ON mn.oid = m.typnamespace \
         WHERE m.oid = rg.rngmultitypid) END"
    } else {
        "NULL::text"
    };
    format!(
        "SELECT rg.rngtypid, pg_catalog.format_type(rg.rngsubtype, NULL), \
         CASE WHEN NOT opc.opcdefault THEN pg_catalog.quote_ident(opn.nspname) || '.' || \
              pg_catalog.quote_ident(opc.opcname) END, \
         CASE WHEN rg.rngcollation <> st.typcollation THEN {} END, \
         CASE WHEN rg.rngcanonical <> 0 THEN rg.rngcanonical::regproc::text END, \
         CASE WHEN rg.rngsubdiff <> 0 THEN rg.rngsubdiff::regproc::text END, \
         {multi} \
         FROM pg_catalog.pg_range rg JOIN pg_catalog.pg_type st ON st.oid = rg.rngsubtype \
         JOIN pg_catalog.pg_opclass opc ON opc.oid = rg.rngsubopc \
         JOIN pg_catalog.pg_namespace opn ON opn.oid = opc.opcnamespace",
        collation("rg.rngcollation")
    )
}

pub(super) fn functions() -> String {
    format!(
        "SELECT p.oid, n.nspname::text, p.proname::text, p.prokind::text, \
         pg_catalog.pg_get_function_identity_arguments(p.oid), l.lanname::text, \
         pg_catalog.obj_description(p.oid, 'pg_proc'), \
         CASE WHEN p.prokind <> 'a' THEN pg_catalog.pg_get_functiondef(p.oid) END \
         FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
         JOIN pg_catalog.pg_language l ON l.oid = p.prolang \
         WHERE {USER_SCHEMA} AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
               WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'i') \
         ORDER BY n.nspname, p.proname, 5"
    )
}

/// Aggregate attributes; functions and types print qualified under `search_path = ''`.
pub(super) const AGGREGATES: &str = "SELECT a.aggfnoid::oid, a.aggkind::text, \
     a.aggtransfn::regproc::text, pg_catalog.format_type(a.aggtranstype, NULL), a.aggtransspace, \
     CASE WHEN a.aggfinalfn <> 0 THEN a.aggfinalfn::regproc::text END, a.aggfinalextra, \
     a.aggfinalmodify::text, \
     CASE WHEN a.aggcombinefn <> 0 THEN a.aggcombinefn::regproc::text END, \
     CASE WHEN a.aggserialfn <> 0 THEN a.aggserialfn::regproc::text END, \
     CASE WHEN a.aggdeserialfn <> 0 THEN a.aggdeserialfn::regproc::text END, \
     CASE WHEN a.aggmtransfn <> 0 THEN a.aggmtransfn::regproc::text END, \
     CASE WHEN a.aggminvtransfn <> 0 THEN a.aggminvtransfn::regproc::text END, \
     CASE WHEN a.aggmfinalfn <> 0 THEN a.aggmfinalfn::regproc::text END, a.aggmfinalextra, \
     CASE WHEN a.aggmtranstype <> 0 THEN pg_catalog.format_type(a.aggmtranstype, NULL) END, \
     a.aggmtransspace, a.agginitval, a.aggminitval, \
     CASE WHEN a.aggsortop <> 0 THEN (SELECT pg_catalog.quote_ident(opn.nspname) || '.' || o.oprname \
       FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace opn ON opn.oid = o.oprnamespace \
       WHERE o.oid = a.aggsortop) END, \
     p.proparallel::text, pg_catalog.pg_get_function_arguments(p.oid) \
     FROM pg_catalog.pg_aggregate a JOIN pg_catalog.pg_proc p ON p.oid = a.aggfnoid";

pub(super) fn sequences() -> String {
    format!(
        "SELECT c.oid, n.nspname::text, c.relname::text, pg_catalog.format_type(s.seqtypid, NULL), \
         s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle, \
         d.refobjid, a.attname::text, COALESCE(d.deptype = 'i', false), \
         pg_catalog.obj_description(c.oid, 'pg_class'), \
         ARRAY(SELECT ad.adrelid::text || ':' || att.attname::text FROM pg_catalog.pg_depend dd \
               JOIN pg_catalog.pg_attrdef ad ON dd.classid = 'pg_catalog.pg_attrdef'::regclass AND dd.objid = ad.oid \
               JOIN pg_catalog.pg_attribute att ON att.attrelid = ad.adrelid AND att.attnum = ad.adnum \
               WHERE dd.refclassid = 'pg_catalog.pg_class'::regclass AND dd.refobjid = c.oid) \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid \
         LEFT JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_class'::regclass \
              AND d.objid = c.oid AND d.refclassid = 'pg_catalog.pg_class'::regclass \
              AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0 \
         LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid \
         WHERE c.relkind = 'S' AND {USER_SCHEMA} ORDER BY n.nspname, c.relname"
    )
}

pub(super) fn tables() -> String {
    format!(
        "SELECT c.oid, n.nspname::text, c.relname::text, c.relkind::text, c.relpersistence::text, \
         COALESCE(c.reloptions, '{{}}')::text[], c.relreplident::text, c.relrowsecurity, \
         c.relforcerowsecurity, \
         CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END, \
         CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END, \
         (SELECT i.inhparent FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid AND c.relispartition), \
         ARRAY(SELECT i.inhparent FROM pg_catalog.pg_inherits i \
               WHERE i.inhrelid = c.oid AND NOT c.relispartition ORDER BY i.inhseqno), \
         c.reltuples::int8, c.relpages::int8, pg_catalog.pg_table_size(c.oid), \
         pg_catalog.obj_description(c.oid, 'pg_class'), c.reloftype <> 0, \
         COALESCE(am.amname::text, 'heap') \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam \
         WHERE c.relkind IN ('r', 'p') AND {USER_SCHEMA} ORDER BY n.nspname, c.relname"
    )
}

pub(super) fn columns(version: i32) -> String {
    let compression = if version >= 140000 {
        "NULLIF(a.attcompression::text, '')"
    } else {
        "NULL::text"
    };
    format!(
        "SELECT a.attrelid, a.attnum, a.attname::text, \
         pg_catalog.format_type(a.atttypid, a.atttypmod), a.atttypid, a.attnotnull, \
         pg_catalog.pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, a.attgenerated::text, \
         CASE WHEN a.attcollation <> t.typcollation THEN {} END, a.attislocal, \
         a.attstorage::text, t.typstorage::text, COALESCE(a.attstattarget::int4, -1), \
         COALESCE(a.attoptions, '{{}}')::text[], {compression}, \
         pg_catalog.col_description(a.attrelid, a.attnum), c.relkind::text \
         FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
         LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         WHERE c.relkind IN ('r', 'p', 'v', 'm') AND a.attnum > 0 AND NOT a.attisdropped \
         AND {USER_SCHEMA} ORDER BY a.attrelid, a.attnum",
        collation("a.attcollation")
    )
}

pub(super) fn constraints() -> String {
    format!(
        "SELECT co.oid, co.conrelid, co.conname::text, co.contype::text, \
         pg_catalog.pg_get_constraintdef(co.oid), co.convalidated, co.conparentid, co.conindid, \
         co.conislocal, pg_catalog.obj_description(co.oid, 'pg_constraint'), \
         ARRAY(SELECT a.attname::text FROM unnest(co.conkey) WITH ORDINALITY k(num, ord) \
               JOIN pg_catalog.pg_attribute a ON a.attrelid = co.conrelid AND a.attnum = k.num \
               ORDER BY k.ord), co.confrelid, \
         ARRAY(SELECT a.attname::text FROM unnest(co.confkey) WITH ORDINALITY k(num, ord) \
               JOIN pg_catalog.pg_attribute a ON a.attrelid = co.confrelid AND a.attnum = k.num \
               ORDER BY k.ord) \
         FROM pg_catalog.pg_constraint co JOIN pg_catalog.pg_class c ON c.oid = co.conrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE co.contypid = 0 AND co.contype IN ('p', 'u', 'c', 'f', 'x') AND {USER_SCHEMA} \
         ORDER BY co.conrelid, co.conname"
    )
}

pub(super) fn indexes() -> String {
    format!(
        "SELECT i.indexrelid, i.indrelid, ic.relname::text, pg_catalog.pg_get_indexdef(i.indexrelid), \
         (SELECT inh.inhparent FROM pg_catalog.pg_inherits inh WHERE inh.inhrelid = i.indexrelid), \
         i.indisclustered, i.indisreplident, \
         (SELECT co.oid FROM pg_catalog.pg_constraint co WHERE co.conindid = i.indexrelid \
            AND co.conrelid = i.indrelid AND co.contype IN ('p', 'u', 'x')), \
         pg_catalog.obj_description(i.indexrelid, 'pg_class'), \
         ARRAY(SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(num, ord) \
               JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.num \
               ORDER BY k.ord), \
         i.indexprs IS NOT NULL OR i.indpred IS NOT NULL \
         FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
         JOIN pg_catalog.pg_class c ON c.oid = i.indrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p', 'm') AND {USER_SCHEMA} ORDER BY c.oid, ic.relname"
    )
}

pub(super) fn views() -> String {
    format!(
        "SELECT c.oid, n.nspname::text, c.relname::text, c.relkind = 'm', \
         pg_catalog.pg_get_viewdef(c.oid), COALESCE(c.reloptions, '{{}}')::text[], c.relispopulated, \
         pg_catalog.obj_description(c.oid, 'pg_class') \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('v', 'm') AND {USER_SCHEMA} ORDER BY n.nspname, c.relname"
    )
}

pub(super) fn triggers() -> String {
    format!(
        "SELECT t.oid, t.tgrelid, t.tgname::text, pg_catalog.pg_get_triggerdef(t.oid), \
         t.tgenabled::text, pg_catalog.obj_description(t.oid, 'pg_trigger') \
         FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE NOT t.tgisinternal AND t.tgparentid = 0 AND {USER_SCHEMA} \
         ORDER BY t.tgrelid, t.tgname"
    )
}

pub(super) fn rules() -> String {
    format!(
        "SELECT r.oid, r.ev_class, r.rulename::text, pg_catalog.pg_get_ruledef(r.oid), \
         r.ev_enabled::text, pg_catalog.obj_description(r.oid, 'pg_rewrite') \
         FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class c ON c.oid = r.ev_class \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE r.rulename <> '_RETURN' AND {USER_SCHEMA} ORDER BY r.ev_class, r.rulename"
    )
}

pub(super) fn policies() -> String {
    format!(
        "SELECT p.oid, p.polrelid, p.polname::text, p.polpermissive, p.polcmd::text, \
         ARRAY(SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r)) END \
               FROM unnest(p.polroles) r), \
         pg_catalog.pg_get_expr(p.polqual, p.polrelid), pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid), \
         pg_catalog.obj_description(p.oid, 'pg_policy') \
         FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_class c ON c.oid = p.polrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE {USER_SCHEMA} ORDER BY p.polrelid, p.polname"
    )
}

pub(super) fn statistics() -> String {
    format!(
        "SELECT s.oid, n.nspname::text, s.stxname::text, pg_catalog.pg_get_statisticsobjdef(s.oid), \
         pg_catalog.obj_description(s.oid, 'pg_statistic_ext'), s.stxrelid \
         FROM pg_catalog.pg_statistic_ext s JOIN pg_catalog.pg_namespace n ON n.oid = s.stxnamespace \
         WHERE {USER_SCHEMA} ORDER BY n.nspname, s.stxname"
    )
}

pub(super) const ATTRDEFS: &str =
    "SELECT oid, adrelid FROM pg_catalog.pg_attrdef WHERE adrelid >= 16384";

pub(super) const REWRITES: &str = "SELECT oid, ev_class, rulename = '_RETURN' \
     FROM pg_catalog.pg_rewrite WHERE ev_class >= 16384";

pub(super) const DEPENDS: &str = "SELECT classid::oid, objid::oid, refclassid::oid, refobjid::oid, \
     pg_catalog.pg_describe_object(refclassid, refobjid, 0) \
     FROM pg_catalog.pg_depend \
     WHERE objid >= 16384 AND refobjid >= 16384 AND deptype IN ('n', 'a')";

/// Objects of kinds that are never migrated, counted per kind, for the plan's findings.
pub(super) fn unsupported() -> String {
    format!(
        "SELECT 'foreign table ' || n.nspname || '.' || c.relname, 'foreign tables are not migrated' \
           FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
           WHERE c.relkind = 'f' AND {USER_SCHEMA} \
         UNION ALL SELECT 'event trigger ' || evtname, 'event triggers are not migrated' \
           FROM pg_catalog.pg_event_trigger \
         UNION ALL SELECT 'publication ' || pubname, 'publications are not migrated' \
           FROM pg_catalog.pg_publication \
         UNION ALL SELECT count(*) || ' large objects', 'large objects are not migrated' \
           FROM pg_catalog.pg_largeobject_metadata HAVING count(*) > 0 \
         UNION ALL SELECT 'operator ' || n.nspname || '.' || o.oprname, 'user-defined operators are not migrated' \
           FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace \
           WHERE o.oid >= 16384 AND {USER_SCHEMA} \
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.objid = o.oid AND d.deptype = 'e') \
         UNION ALL SELECT 'collation ' || n.nspname || '.' || co.collname, 'user-defined collations are not migrated' \
           FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace n ON n.oid = co.collnamespace \
           WHERE co.oid >= 16384 AND {USER_SCHEMA} \
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.objid = co.oid AND d.deptype = 'e') \
         UNION ALL SELECT 'text search configuration ' || n.nspname || '.' || cfg.cfgname, \
           'user-defined text search configurations are not migrated' \
           FROM pg_catalog.pg_ts_config cfg JOIN pg_catalog.pg_namespace n ON n.oid = cfg.cfgnamespace \
           WHERE cfg.oid >= 16384 AND {USER_SCHEMA} \
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.objid = cfg.oid AND d.deptype = 'e')"
    )
}
