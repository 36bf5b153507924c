//! Keeps `docs/data-model.md` true: each test builds a fresh database the way
//! the application does (sqlx migrations; `ensure_indexes` for MongoDB), reads
//! its live schema back and compares it with what the document says.
//!
//! The document is read as "facts", one line each, and so is the database:
//!
//! ```text
//! table orders
//! column orders.price: bigint NOT NULL
//! primary key orders(id)
//! unique users(email)
//! foreign key refresh_tokens.session_id
//! reference refresh_tokens -> sessions
//! index orders_created_at_id on orders (created_at DESC, id DESC)
//! index outbox_dead on outbox (created_at) where status = 'DEAD'
//! collection refreshTokens
//! index refreshTokens_sessionId on refreshTokens {sessionId: 1}
//! field refreshTokens.sessionId
//! ```
//!
//! A test fails, listing every fact the database has and the document lacks and
//! every one the document has and the database lacks. The facts come from:
//!
//! - the Mermaid `erDiagram`: entity blocks (`type name PK|FK|UK "comment"`)
//!   give the tables, columns and keys; solid relationships (`--`) are the
//!   foreign keys a database enforces, dotted ones (`..`) are not checked;
//! - one mapping table per entity, under a heading naming its SQL table
//!   (`| column | Postgres | SQLite | null? | MongoDB field | BSON |`): each
//!   column's type on each SQL backend, its nullability and its MongoDB field;
//! - the entities table (`| entity | SQL table | MongoDB collection | …`);
//! - the SQL index table (`| table | index | columns | where | unique | backends | serves |`)
//!   and the MongoDB index table (`| collection | index | keys | unique | serves |`);
//! - the MongoDB-only tables (`| collection | field | BSON | what it holds |`):
//!   collections with no SQL table (guard documents) and fields no column maps
//!   to (a composite `_id`), one row per field.
//!
//! The document must also agree with itself (the diagram and the mapping tables
//! name the same columns, an index names existing columns…); that is checked
//! first. Ignored: `_sqlx_migrations`, SQLite's `sqlite_autoindex_*` (names
//! SQLite picks; the keys they enforce are still checked) and MongoDB's `_id_`.
//! MongoDB fields are read from one document of each collection, stored
//! through the adapter; their BSON types are documentation only.

use std::collections::{BTreeMap, BTreeSet};

use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use sqlx::{Connection, PgConnection, SqliteConnection};
use tozalash_domain::{
    Address, Email, EmailToken, Id, IdempotencyClaim, IdempotencyKey, MailKind, MailSlot, Money,
    NewService, Notes, Order, OrderStatus, OutboxMessage, OutboxStatus, PasswordHash, RefreshToken,
    RenderedMail, Repositories, Role, Service, ServiceName, Session, StoredResponse, TokenHash,
    TokenPurpose, User, Username,
};
use tozalash_store_mongo::MongoStore;
use tozalash_store_sql::SqlStore;

const DOC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/data-model.md");
const DOC: &str = "docs/data-model.md";

type Facts = BTreeSet<String>;

// --- The document --------------------------------------------------------------

/// A column as the document describes it.
#[derive(Debug)]
struct Column {
    name: String,
    /// `PK`, `FK`, `UK` from the diagram.
    keys: Vec<String>,
    postgres: String,
    sqlite: String,
    nullable: bool,
    /// Empty when the column has no MongoDB field.
    mongo_field: String,
}

#[derive(Debug)]
struct Entity {
    table: String,
    collection: String,
    columns: Vec<Column>,
}

/// A relationship line of the diagram.
#[derive(Debug)]
struct Relationship {
    parent: String,
    child: String,
    /// A solid line: a foreign key the SQL databases enforce.
    enforced: bool,
}

#[derive(Debug)]
struct SqlIndex {
    table: String,
    name: String,
    columns: String,
    predicate: String,
    unique: bool,
    on_postgres: bool,
    on_sqlite: bool,
}

#[derive(Debug)]
struct MongoIndex {
    collection: String,
    name: String,
    keys: String,
    unique: bool,
}

#[derive(Debug)]
struct DataModel {
    entities: Vec<Entity>,
    relationships: Vec<Relationship>,
    sql_indexes: Vec<SqlIndex>,
    mongo_indexes: Vec<MongoIndex>,
    /// `(collection, field)` of the collections only MongoDB has.
    mongo_only: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SqlBackend {
    Postgres,
    Sqlite,
}

/// A markdown table and the heading it sits under.
#[derive(Debug)]
struct Table {
    heading: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// The cells of a table row, trimmed and without backticks.
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(|cell| cell.trim().replace('`', "")).collect()
}

fn is_separator(row: &[String]) -> bool {
    row.iter().all(|cell| !cell.is_empty() && cell.chars().all(|c| matches!(c, '-' | ':')))
}

/// Every table of the document outside code fences.
fn markdown_tables(text: &str) -> Vec<Table> {
    let mut tables = Vec::new();
    let mut heading = String::new();
    let mut in_fence = false;
    let mut current: Option<Table> = None;
    for line in text.lines() {
        let line = line.trim();
        let is_fence = line.starts_with("```");
        if is_fence {
            in_fence = !in_fence;
        }
        let is_row = !in_fence && !is_fence && line.starts_with('|');
        if !is_row {
            tables.extend(current.take());
        }
        if in_fence || is_fence {
            continue;
        }
        if line.starts_with('#') {
            heading = line.trim_start_matches('#').trim().replace('`', "");
        } else if is_row {
            let row = cells(line);
            match &mut current {
                None => {
                    current = Some(Table { heading: heading.clone(), header: row, rows: vec![] })
                }
                Some(table) if !is_separator(&row) => table.rows.push(row),
                Some(_) => {}
            }
        }
    }
    tables.extend(current);
    tables
}

/// The lines of the ```mermaid block that holds the `erDiagram`.
fn mermaid_lines(text: &str) -> Vec<&str> {
    let mut lines = text.lines().map(str::trim);
    let mut block = Vec::new();
    while let Some(line) = lines.next() {
        if line == "```mermaid" {
            block = lines.by_ref().take_while(|l| !l.starts_with("```")).collect();
            if block.contains(&"erDiagram") {
                return block;
            }
        }
    }
    block
}

/// An attribute line of a diagram entity block.
#[derive(Debug)]
struct Attribute {
    ty: String,
    name: String,
    /// `PK`, `FK`, `UK`.
    keys: Vec<String>,
}

/// An entity block of the diagram: its name and attributes.
type Block = (String, Vec<Attribute>);

/// A diagram attribute `type name [PK[, FK…]] ["comment"]`.
fn attribute(line: &str) -> Option<Attribute> {
    let declaration = line.split('"').next().unwrap_or_default();
    let mut words = declaration.split_whitespace();
    let ty = words.next()?.to_owned();
    let name = words.next()?.to_owned();
    let keys = words
        .flat_map(|w| w.split(','))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect();
    Some(Attribute { ty, name, keys })
}

/// A relationship `a |o..o{ b : label`; the side with the crow's foot is the child.
fn relationship(line: &str) -> Option<Relationship> {
    let (ends, _label) = line.split_once(':')?;
    let words: Vec<&str> = ends.split_whitespace().collect();
    let [left, shape, right] = words[..] else { return None };
    let enforced = shape.contains("--");
    let line_mark = if enforced { "--" } else { ".." };
    let (left_end, right_end) = shape.split_once(line_mark)?;
    let (parent, child) = if right_end.contains('{') || !left_end.contains('}') {
        (left, right)
    } else {
        (right, left)
    };
    Some(Relationship { parent: parent.to_owned(), child: child.to_owned(), enforced })
}

/// Column names in order, `DESC` kept, spacing normalised: `a, b DESC`.
fn normalise_columns(columns: &str) -> String {
    columns
        .split(',')
        // An operator class shows as `public.gin_trgm_ops` or `gin_trgm_ops`
        // depending on the reader's search_path; the document writes the former.
        .map(|c| c.split_whitespace().collect::<Vec<_>>().join(" ").replace(" public.", " "))
        .filter(|c| !c.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

/// An index predicate without parentheses, casts (`::text`) or extra spaces, so
/// Postgres's `(status = 'PENDING'::text)` reads as SQLite's `status = 'PENDING'`.
fn normalise_predicate(predicate: &str) -> String {
    let mut out = String::new();
    let mut chars = predicate.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '(' | ')' => out.push(' '),
            ':' if chars.peek() == Some(&':') => {
                chars.next();
                while chars.peek().is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_') {
                    chars.next();
                }
            }
            _ => out.push(c),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// MongoDB index keys as `{a: 1, b: -1}`, spacing normalised.
fn normalise_keys(keys: &str) -> String {
    let inner = keys.trim().trim_start_matches('{').trim_end_matches('}');
    let pairs: Vec<String> = inner
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| match pair.split_once(':') {
            Some((key, value)) => format!("{}: {}", key.trim(), value.trim()),
            None => pair.trim().to_owned(),
        })
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

fn yes_no(cell: &str, what: &str, problems: &mut Vec<String>) -> bool {
    match cell {
        "yes" => true,
        "no" => false,
        other => {
            problems.push(format!("{what}: {other:?} is neither yes nor no"));
            false
        }
    }
}

/// The one table whose header is exactly `header`.
fn table_with<'a>(
    tables: &'a [Table],
    header: &[&str],
    problems: &mut Vec<String>,
) -> &'a [Vec<String>] {
    let matching: Vec<&Table> = tables
        .iter()
        .filter(|t| t.header.iter().map(String::as_str).eq(header.iter().copied()))
        .collect();
    match matching[..] {
        [table] => &table.rows,
        _ => {
            problems.push(format!(
                "expected exactly one table with the header | {} |, found {}",
                header.join(" | "),
                matching.len()
            ));
            &[]
        }
    }
}

/// A row with the header's number of cells, else a problem and `None`.
fn row_of<'a, const N: usize>(
    row: &'a [String],
    what: &str,
    problems: &mut Vec<String>,
) -> Option<[&'a str; N]> {
    let cells: Vec<&str> = row.iter().map(String::as_str).collect();
    let array: Result<[&str; N], _> = cells.try_into();
    if array.is_err() {
        problems.push(format!("{what}: a row with {} cells instead of {N}: {row:?}", row.len()));
    }
    array.ok()
}

const ENTITIES_HEADER: [&str; 5] =
    ["entity", "SQL table", "MongoDB collection", "domain type", "what one is"];
const MAPPING_HEADER: [&str; 6] =
    ["column", "Postgres", "SQLite", "null?", "MongoDB field", "BSON"];
const SQL_INDEX_HEADER: [&str; 7] =
    ["table", "index", "columns", "where", "unique", "backends", "serves"];
const MONGO_INDEX_HEADER: [&str; 5] = ["collection", "index", "keys", "unique", "serves"];
const MONGO_ONLY_HEADER: [&str; 4] = ["collection", "field", "BSON", "what it holds"];

impl DataModel {
    /// Reads `docs/data-model.md`; panics, listing every problem, if the
    /// document cannot be read or does not agree with itself.
    fn load() -> DataModel {
        let text = std::fs::read_to_string(DOC_PATH)
            .unwrap_or_else(|e| panic!("reading {DOC} ({DOC_PATH}): {e}"));
        let mut problems = Vec::new();
        let model = Self::parse(&text, &mut problems);
        assert!(
            problems.is_empty(),
            "{DOC} does not agree with itself (fix the document first):\n  {}",
            problems.join("\n  ")
        );
        model
    }

    fn parse(text: &str, problems: &mut Vec<String>) -> DataModel {
        // The diagram: entity blocks and relationships.
        let mut diagram: Vec<Block> = Vec::new();
        let mut relationships = Vec::new();
        let mut open: Option<Block> = None;
        let lines = mermaid_lines(text);
        if lines.is_empty() {
            problems.push("no ```mermaid block with an erDiagram".into());
        }
        for line in lines {
            if line.is_empty() || line.starts_with("%%") || line == "erDiagram" {
                continue;
            }
            if let Some((name, attributes)) = &mut open {
                if line == "}" {
                    diagram.extend(open.take());
                } else if let Some(attr) = attribute(line) {
                    attributes.push(attr);
                } else {
                    problems.push(format!("diagram, entity {name}: unreadable attribute {line:?}"));
                }
            } else if let Some(name) = line.strip_suffix('{') {
                open = Some((name.trim().to_owned(), Vec::new()));
            } else if let Some(rel) = relationship(line) {
                relationships.push(rel);
            } else {
                problems.push(format!("diagram: unreadable line {line:?}"));
            }
        }
        if let Some((name, _)) = open {
            problems.push(format!("diagram: entity {name} is not closed"));
        }

        let tables = markdown_tables(text);

        // The entities table: SQL table → MongoDB collection.
        let mut collections = BTreeMap::new();
        for row in table_with(&tables, &ENTITIES_HEADER, problems) {
            if let Some([_, table, collection, _, _]) = row_of::<5>(row, "entities table", problems)
            {
                collections.insert(table.to_owned(), collection.to_owned());
            }
        }

        // The mapping tables, one per SQL table, under a heading naming it.
        let mut mappings: BTreeMap<String, &[Vec<String>]> = BTreeMap::new();
        for table in
            tables.iter().filter(|t| t.header.iter().map(String::as_str).eq(MAPPING_HEADER))
        {
            if mappings.insert(table.heading.clone(), &table.rows).is_some() {
                problems.push(format!("two mapping tables under the heading {:?}", table.heading));
            }
        }

        // Every list of entities must name the same tables.
        let in_diagram: BTreeSet<&String> = diagram.iter().map(|(name, _)| name).collect();
        let in_entities: BTreeSet<&String> = collections.keys().collect();
        let in_mappings: BTreeSet<&String> = mappings.keys().collect();
        if in_diagram != in_entities || in_diagram != in_mappings {
            problems.push(format!(
                "the diagram names the tables {in_diagram:?}, the entities table {in_entities:?} \
                 and the mapping headings {in_mappings:?}"
            ));
        }

        let mut entities = Vec::new();
        for (table, attributes) in diagram {
            let mapping = mappings.get(&table).copied().unwrap_or_default();
            let what = format!("mapping table of {table}");
            let rows: Vec<[&str; 6]> =
                mapping.iter().filter_map(|row| row_of::<6>(row, &what, problems)).collect();
            let diagram_names: Vec<&str> = attributes.iter().map(|a| a.name.as_str()).collect();
            let mapping_names: Vec<&str> = rows.iter().map(|r| r[0]).collect();
            // A missing mapping table is reported above.
            if mappings.contains_key(&table) && diagram_names != mapping_names {
                problems.push(format!(
                    "{table}: the diagram lists the columns {diagram_names:?}, its mapping table {mapping_names:?}"
                ));
            }
            let mut columns = Vec::new();
            for (Attribute { ty, name, keys }, row) in attributes.into_iter().zip(rows) {
                let [_, postgres, sqlite, null, mongo_field, _bson] = row;
                if postgres.split_whitespace().next() != Some(ty.as_str()) {
                    problems.push(format!(
                        "{table}.{name}: the diagram says {ty}, the mapping table's Postgres type {postgres:?}"
                    ));
                }
                for key in &keys {
                    if !["PK", "FK", "UK"].contains(&key.as_str()) {
                        problems
                            .push(format!("{table}.{name}: unknown key {key:?} in the diagram"));
                    }
                }
                let nullable = yes_no(null, &format!("{table}.{name} null?"), problems);
                let mongo_field =
                    if mongo_field == "—" { String::new() } else { mongo_field.to_owned() };
                columns.push(Column {
                    name,
                    keys,
                    postgres: postgres.to_owned(),
                    sqlite: sqlite.to_owned(),
                    nullable,
                    mongo_field,
                });
            }
            let collection = collections.get(&table).cloned().unwrap_or_default();
            entities.push(Entity { table, collection, columns });
        }

        for rel in &relationships {
            for end in [&rel.parent, &rel.child] {
                if !entities.iter().any(|e| &e.table == end) {
                    problems
                        .push(format!("diagram: a relationship names {end}, which is no entity"));
                }
            }
        }

        let mut sql_indexes = Vec::new();
        for row in table_with(&tables, &SQL_INDEX_HEADER, problems) {
            let Some([table, name, columns, predicate, unique, backends, _]) =
                row_of::<7>(row, "SQL index table", problems)
            else {
                continue;
            };
            let what = format!("SQL index {name}");
            let (on_postgres, on_sqlite) = match backends {
                "both" => (true, true),
                "Postgres" => (true, false),
                "SQLite" => (false, true),
                other => {
                    problems.push(format!(
                        "{what}: backends {other:?} is not both, Postgres or SQLite"
                    ));
                    (false, false)
                }
            };
            match entities.iter().find(|e| e.table == table) {
                None => problems.push(format!("{what}: no table {table}")),
                Some(entity) => {
                    for column in normalise_columns(columns).split(", ") {
                        // The name, without `DESC`/`ASC` or an operator class.
                        let column = column.split(' ').next().unwrap_or(column);
                        if !entity.columns.iter().any(|c| c.name == column) {
                            problems.push(format!("{what}: {table} has no column {column}"));
                        }
                    }
                }
            }
            sql_indexes.push(SqlIndex {
                table: table.to_owned(),
                name: name.to_owned(),
                columns: normalise_columns(columns),
                predicate: normalise_predicate(predicate),
                unique: yes_no(unique, &what, problems),
                on_postgres,
                on_sqlite,
            });
        }

        let mut mongo_only = Vec::new();
        for row in table_with(&tables, &MONGO_ONLY_HEADER, problems) {
            let Some([collection, field, _, _]) = row_of::<4>(row, "MongoDB-only table", problems)
            else {
                continue;
            };
            let entity = entities.iter().find(|e| e.collection == collection);
            if entity.is_some_and(|e| e.columns.iter().any(|c| c.mongo_field == field)) {
                problems.push(format!(
                    "MongoDB-only table: {collection}.{field} is a column's field; map it there"
                ));
            }
            mongo_only.push((collection.to_owned(), field.to_owned()));
        }

        let mut mongo_indexes = Vec::new();
        for row in table_with(&tables, &MONGO_INDEX_HEADER, problems) {
            let Some([collection, name, keys, unique, _]) =
                row_of::<5>(row, "MongoDB index table", problems)
            else {
                continue;
            };
            let what = format!("MongoDB index {name}");
            let keys = normalise_keys(keys);
            let mapped = entities.iter().filter(|e| e.collection == collection);
            let fields: Vec<&str> = mapped
                .flat_map(|entity| entity.columns.iter().map(|c| c.mongo_field.as_str()))
                .chain(mongo_only.iter().filter(|(c, _)| c == collection).map(|(_, f)| f.as_str()))
                .collect();
            if fields.is_empty() {
                problems.push(format!("{what}: no collection {collection}"));
            }
            let inner = keys.trim_start_matches('{').trim_end_matches('}');
            for field in inner.split(", ").filter_map(|pair| pair.split(':').next()) {
                if !fields.is_empty() && !fields.contains(&field) {
                    problems.push(format!("{what}: {collection} has no field {field}"));
                }
            }
            mongo_indexes.push(MongoIndex {
                collection: collection.to_owned(),
                name: name.to_owned(),
                keys,
                unique: yes_no(unique, &what, problems),
            });
        }

        DataModel { entities, relationships, sql_indexes, mongo_indexes, mongo_only }
    }

    /// What the document says a SQL backend's schema is.
    fn sql_facts(&self, backend: SqlBackend) -> Facts {
        let mut facts = Facts::new();
        for entity in &self.entities {
            let table = &entity.table;
            facts.insert(format!("table {table}"));
            let mut primary_key = Vec::new();
            for c in &entity.columns {
                let ty = match backend {
                    SqlBackend::Postgres => &c.postgres,
                    SqlBackend::Sqlite => &c.sqlite,
                };
                facts.insert(column_fact(table, &c.name, ty, c.nullable));
                for key in &c.keys {
                    match key.as_str() {
                        "PK" => primary_key.push(c.name.as_str()),
                        "UK" => {
                            facts.insert(format!("unique {table}({})", c.name));
                        }
                        "FK" => {
                            facts.insert(format!("foreign key {table}.{}", c.name));
                        }
                        _ => {}
                    }
                }
            }
            if !primary_key.is_empty() {
                facts.insert(format!("primary key {table}({})", primary_key.join(", ")));
            }
        }
        for rel in self.relationships.iter().filter(|r| r.enforced) {
            facts.insert(format!("reference {} -> {}", rel.child, rel.parent));
        }
        for index in &self.sql_indexes {
            let on = match backend {
                SqlBackend::Postgres => index.on_postgres,
                SqlBackend::Sqlite => index.on_sqlite,
            };
            if on {
                facts.insert(sql_index_fact(
                    &index.name,
                    &index.table,
                    &index.columns,
                    &index.predicate,
                    index.unique,
                ));
            }
        }
        facts
    }

    /// What the document says the MongoDB database holds.
    fn mongo_facts(&self) -> Facts {
        let mut facts = Facts::new();
        for entity in &self.entities {
            facts.insert(format!("collection {}", entity.collection));
            for c in entity.columns.iter().filter(|c| !c.mongo_field.is_empty()) {
                facts.insert(format!("field {}.{}", entity.collection, c.mongo_field));
            }
        }
        for (collection, field) in &self.mongo_only {
            facts.insert(format!("collection {collection}"));
            facts.insert(format!("field {collection}.{field}"));
        }
        for index in &self.mongo_indexes {
            facts.insert(mongo_index_fact(
                &index.name,
                &index.collection,
                &index.keys,
                index.unique,
            ));
        }
        facts
    }
}

fn column_fact(table: &str, column: &str, ty: &str, nullable: bool) -> String {
    let null = if nullable { "NULL" } else { "NOT NULL" };
    format!("column {table}.{column}: {ty} {null}")
}

fn sql_index_fact(name: &str, table: &str, columns: &str, predicate: &str, unique: bool) -> String {
    let mut fact = format!("index {name} on {table} ({columns})");
    if !predicate.is_empty() {
        fact.push_str(&format!(" where {predicate}"));
    }
    if unique {
        fact.push_str(" unique");
    }
    fact
}

fn mongo_index_fact(name: &str, collection: &str, keys: &str, unique: bool) -> String {
    format!("index {name} on {collection} {keys}{}", if unique { " unique" } else { "" })
}

/// Panics, naming every difference, unless the database and the document agree.
fn assert_agree(database: &str, documented: &Facts, live: &Facts) {
    let undocumented: Vec<&String> = live.difference(documented).collect();
    let stale: Vec<&String> = documented.difference(live).collect();
    if undocumented.is_empty() && stale.is_empty() {
        return;
    }
    let list = |facts: &[&String]| {
        if facts.is_empty() {
            "    (none)".to_owned()
        } else {
            facts.iter().map(|f| format!("    {f}")).collect::<Vec<_>>().join("\n")
        }
    };
    panic!(
        "{DOC} and the live {database} schema disagree; update the document (or the \
         migration / adapter) until they match.\n  in the database but not in {DOC}:\n{}\n  \
         in {DOC} but not in the database:\n{}",
        list(&undocumented),
        list(&stale)
    );
}

#[test]
fn the_document_agrees_with_itself() {
    let model = DataModel::load();
    // Every entity of the issue is there, with its columns, keys and indexes.
    for table in
        ["users", "services", "orders", "sessions", "refresh_tokens", "email_tokens", "outbox"]
    {
        let entity = model.entities.iter().find(|e| e.table == table);
        let entity = entity.unwrap_or_else(|| panic!("{DOC} has no entity {table}"));
        assert!(!entity.columns.is_empty(), "{table} has no columns in {DOC}");
        assert!(!entity.collection.is_empty(), "{table} has no MongoDB collection in {DOC}");
    }
    assert!(!model.sql_indexes.is_empty() && !model.mongo_indexes.is_empty());
}

// --- SQLite -----------------------------------------------------------------------

async fn sqlite_facts(url: &str) -> Facts {
    let mut conn = SqliteConnection::connect(url).await.expect("SQLite opens");
    let mut facts = Facts::new();
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await
    .expect("sqlite_master");
    for (table,) in tables {
        facts.insert(format!("table {table}"));

        let columns: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1) ORDER BY cid",
        )
        .bind(&table)
        .fetch_all(&mut conn)
        .await
        .expect("pragma_table_info");
        let mut primary_key: Vec<(i64, &str)> = Vec::new();
        for (name, ty, not_null, pk) in &columns {
            facts.insert(column_fact(&table, name, ty, *not_null == 0));
            if *pk > 0 {
                primary_key.push((*pk, name));
            }
        }
        primary_key.sort();
        if !primary_key.is_empty() {
            let names: Vec<&str> = primary_key.iter().map(|(_, n)| *n).collect();
            facts.insert(format!("primary key {table}({})", names.join(", ")));
        }

        let foreign_keys: Vec<(String, String)> =
            sqlx::query_as("SELECT \"from\", \"table\" FROM pragma_foreign_key_list(?1)")
                .bind(&table)
                .fetch_all(&mut conn)
                .await
                .expect("pragma_foreign_key_list");
        for (column, parent) in foreign_keys {
            facts.insert(format!("foreign key {table}.{column}"));
            facts.insert(format!("reference {table} -> {parent}"));
        }

        let indexes: Vec<(String, i64, String, i64)> = sqlx::query_as(
            "SELECT name, \"unique\", origin, partial FROM pragma_index_list(?1) ORDER BY name",
        )
        .bind(&table)
        .fetch_all(&mut conn)
        .await
        .expect("pragma_index_list");
        for (index, unique, origin, partial) in indexes {
            let keys: Vec<(Option<String>, i64)> = sqlx::query_as(
                "SELECT name, \"desc\" FROM pragma_index_xinfo(?1) WHERE key = 1 ORDER BY seqno",
            )
            .bind(&index)
            .fetch_all(&mut conn)
            .await
            .expect("pragma_index_xinfo");
            let columns: Vec<String> = keys
                .iter()
                .map(|(name, desc)| {
                    let name = name.clone().unwrap_or_else(|| "<expression>".into());
                    if *desc == 1 {
                        format!("{name} DESC")
                    } else {
                        name
                    }
                })
                .collect();
            // UK: the only column of a full unique index other than the primary key.
            if unique == 1 && origin != "pk" && partial == 0 && columns.len() == 1 {
                facts.insert(format!("unique {table}({})", columns[0]));
            }
            if index.starts_with("sqlite_autoindex_") {
                continue;
            }
            let predicate = if partial == 1 {
                let (sql,): (String,) = sqlx::query_as(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1",
                )
                .bind(&index)
                .fetch_one(&mut conn)
                .await
                .expect("the index's SQL");
                let at =
                    sql.to_ascii_uppercase().rfind("WHERE").expect("a partial index has a WHERE");
                normalise_predicate(&sql[at + "WHERE".len()..])
            } else {
                String::new()
            };
            facts.insert(sql_index_fact(
                &index,
                &table,
                &columns.join(", "),
                &predicate,
                unique == 1,
            ));
        }
    }
    conn.close().await.expect("SQLite closes");
    facts
}

#[tokio::test]
async fn sqlite_schema_is_the_documented_one() {
    let model = DataModel::load();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("tozalash.db").display());
    let store = SqlStore::open(&url).await.expect("SQLite opens");
    store.migrate().await.expect("SQLite migrates");
    store.close().await;

    let live = sqlite_facts(&url).await;
    assert_agree("SQLite", &model.sql_facts(SqlBackend::Sqlite), &live);
}

// --- Postgres ---------------------------------------------------------------------

fn postgres_url() -> String {
    // Never skip: a check that did not run must not look green.
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| panic!("TEST_POSTGRES_URL is not set; run scripts/test.sh"))
}

/// `information_schema`'s spelling of a type, as the document writes it.
fn postgres_type(data_type: &str, collation: Option<&str>) -> String {
    let ty = match data_type {
        "timestamp with time zone" => "timestamptz",
        "timestamp without time zone" => "timestamp",
        "character varying" => "varchar",
        other => other,
    };
    match collation {
        Some(collation) => format!("{ty} COLLATE \"{collation}\""),
        None => ty.to_owned(),
    }
}

/// The column list and predicate of `pg_get_indexdef`'s
/// `CREATE [UNIQUE] INDEX n ON s.t USING btree (a, b DESC) [WHERE (…)]`.
fn index_definition(definition: &str) -> (String, String) {
    let after_using = definition.find(" USING ").map_or(definition, |at| &definition[at..]);
    let open = after_using.find('(').expect("an index definition has a column list");
    let mut depth = 0;
    let mut close = after_using.len();
    for (i, c) in after_using.char_indices().skip(open) {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    close = i;
                    break;
                }
            }
            _ => {}
        }
    }
    let columns = normalise_columns(&after_using[open + 1..close]);
    let rest = &after_using[close + 1..];
    let predicate = rest.find("WHERE").map(|at| normalise_predicate(&rest[at + 5..]));
    (columns, predicate.unwrap_or_default())
}

async fn postgres_facts(conn: &mut PgConnection, schema: &str) -> Facts {
    let mut facts = Facts::new();
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = $1 AND table_type = 'BASE TABLE' AND table_name <> '_sqlx_migrations'",
    )
    .bind(schema)
    .fetch_all(&mut *conn)
    .await
    .expect("information_schema.tables");
    for (table,) in &tables {
        facts.insert(format!("table {table}"));
    }

    let columns: Vec<(String, String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text, \
                collation_name::text \
         FROM information_schema.columns \
         WHERE table_schema = $1 AND table_name <> '_sqlx_migrations'",
    )
    .bind(schema)
    .fetch_all(&mut *conn)
    .await
    .expect("information_schema.columns");
    for (table, column, data_type, nullable, collation) in columns {
        let ty = postgres_type(&data_type, collation.as_deref());
        facts.insert(column_fact(&table, &column, &ty, nullable == "YES"));
    }

    let indexes: Vec<(String, String, bool, bool, bool, String)> = sqlx::query_as(
        "SELECT t.relname::text, i.relname::text, x.indisunique, x.indisprimary, \
                x.indpred IS NOT NULL, pg_get_indexdef(x.indexrelid) \
         FROM pg_index x \
         JOIN pg_class i ON i.oid = x.indexrelid \
         JOIN pg_class t ON t.oid = x.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE n.nspname = $1 AND t.relname <> '_sqlx_migrations'",
    )
    .bind(schema)
    .fetch_all(&mut *conn)
    .await
    .expect("pg_index");
    for (table, index, unique, primary, partial, definition) in indexes {
        let (columns, predicate) = index_definition(&definition);
        assert_eq!(partial, !predicate.is_empty(), "the predicate of {definition}");
        if primary {
            facts.insert(format!("primary key {table}({columns})"));
        } else if unique && !partial && !columns.contains(", ") {
            facts.insert(format!("unique {table}({columns})"));
        }
        facts.insert(sql_index_fact(&index, &table, &columns, &predicate, unique));
    }

    let foreign_keys: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT t.relname::text, a.attname::text, r.relname::text \
         FROM pg_constraint c \
         JOIN pg_class t ON t.oid = c.conrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         JOIN pg_class r ON r.oid = c.confrelid \
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey) \
         WHERE c.contype = 'f' AND n.nspname = $1",
    )
    .bind(schema)
    .fetch_all(&mut *conn)
    .await
    .expect("pg_constraint");
    for (table, column, parent) in foreign_keys {
        facts.insert(format!("foreign key {table}.{column}"));
        facts.insert(format!("reference {table} -> {parent}"));
    }
    facts
}

#[tokio::test]
async fn postgres_schema_is_the_documented_one() {
    let model = DataModel::load();
    let url = postgres_url();
    // Only hex digits go into the SQL and the URL below.
    let schema = format!("t_{:016x}", rand::random::<u64>());
    let mut conn = PgConnection::connect(&url).await.expect("Postgres accepts a connection");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .expect("CREATE SCHEMA");

    let separator = if url.contains('?') { '&' } else { '?' };
    let store_url = format!("{url}{separator}options=-c%20search_path%3D{schema}");
    let store = SqlStore::open(&store_url).await.expect("Postgres opens");
    store.migrate().await.expect("Postgres migrates");
    store.close().await;

    let live = postgres_facts(&mut conn, &schema).await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&mut conn)
        .await
        .expect("DROP SCHEMA");
    conn.close().await.expect("the connection closes");

    assert_agree("Postgres", &model.sql_facts(SqlBackend::Postgres), &live);
}

// --- MongoDB ----------------------------------------------------------------------

use tozalash_domain::clock::at;

/// One document in every collection, through the adapter, every optional
/// value set, so each stored document shows every field the adapter writes.
async fn store_one_of_each(repos: &Repositories) {
    const T0: i64 = 1_764_201_600_123;
    let service = Service::create(
        NewService::parse("Deep clean", Some("Every room"), 450_000).expect("a service"),
        at(T0),
    );
    repos.services.insert(&service).await.expect("a service is stored");

    let user = User {
        id: Id::generate(),
        username: Username::parse("username", "Zarina_K").expect("a username"),
        email: Email::parse("email", "zarina@example.uz").expect("an e-mail"),
        pending_email: Some(Email::parse("email", "zarina.k@example.uz").expect("an e-mail")),
        password_hash: PasswordHash::from_phc("$argon2id$v=19$m=19456,t=2,p=1$salt$hash".into()),
        role: Role::User,
        is_verified: true,
        locale: Some(tozalash_domain::Locale::Ru),
        created_at: at(T0),
        updated_at: at(T0),
        version: tozalash_domain::Version::FIRST,
    };
    repos.users.insert(&user).await.expect("a user is stored");

    let order = Order {
        id: Id::generate(),
        user_id: user.id,
        customer_name: None,
        service_id: service.id,
        service_name: ServiceName::parse("Deep clean").expect("a name"),
        price: Money::parse("price", 450_000).expect("a price"),
        status: OrderStatus::Pending,
        scheduled_at: Some(at(T0 + 86_400_000)),
        address: Address::parse("Toshkent, Amir Temur 1").expect("an address"),
        notes: Notes::parse("Second floor").expect("notes"),
        created_at: at(T0),
        updated_at: at(T0),
        version: tozalash_domain::Version::FIRST,
    };
    repos.orders.insert(&order).await.expect("an order is stored");

    let session = Session {
        id: Id::generate(),
        user_id: user.id,
        created_at: at(T0),
        expires_at: at(T0 + 86_400_000),
        revoked_at: Some(at(T0 + 1)),
    };
    let token = RefreshToken {
        hash: TokenHash([1; 32]),
        session_id: session.id,
        created_at: at(T0),
        rotated_at: Some(at(T0 + 1)),
    };
    repos.sessions.create(&session, &token).await.expect("a session is stored");

    let email_token = EmailToken {
        hash: TokenHash([2; 32]),
        user_id: user.id,
        purpose: TokenPurpose::VerifyEmail,
        email: user.email.clone(),
        created_at: at(T0),
        expires_at: at(T0 + 3_600_000),
        used_at: Some(at(T0 + 1)),
    };
    repos.email_tokens.insert(&email_token).await.expect("an e-mail token is stored");

    let message = OutboxMessage {
        id: Id::generate(),
        kind: MailKind::VerifyEmail,
        mail: RenderedMail {
            to: user.email.clone(),
            subject: "Confirm your e-mail".into(),
            text: "Link: http://127.0.0.1:8080/verify?token=abc".into(),
            html: "<p>Link</p>".into(),
        },
        status: OutboxStatus::Pending,
        attempts: 1,
        next_attempt_at: at(T0),
        created_at: at(T0),
        last_error: Some("connection refused".into()),
    };
    repos.outbox.enqueue(&message).await.expect("a mail is stored");

    let slot = repos.users.claim_mail_slot(user.id, at(T0 + 1), at(T0 - 60_000));
    assert_eq!(slot.await.expect("a mail slot is taken"), MailSlot::Claimed);

    let claim = IdempotencyClaim {
        user_id: user.id,
        key: IdempotencyKey::parse("order-2031-06-12").expect("a key"),
        fingerprint: TokenHash([3; 32]),
        now: at(T0),
        locked_until: at(T0 + 60_000),
        expires_at: at(T0 + 86_400_000),
    };
    repos.idempotency.begin(&claim).await.expect("an idempotency key is claimed");
    let response =
        StoredResponse { status: 201, content_type: "application/json".into(), body: "{}".into() };
    repos.idempotency.complete(&claim, &response).await.expect("an answer is stored");

    repos.secrets.get_or_insert("jwt_key", "0123456789abcdef").await.expect("a secret is stored");
}

fn key_value(value: &Bson) -> String {
    match value {
        Bson::Int32(v) => v.to_string(),
        Bson::Int64(v) => v.to_string(),
        Bson::Double(v) => v.to_string(),
        Bson::String(v) => format!("{v:?}"),
        other => other.to_string(),
    }
}

async fn mongo_facts(store: &MongoStore) -> Result<Facts, String> {
    let db = store.client().database(store.database_name());
    let mut facts = Facts::new();
    let names = db.list_collection_names().await.expect("listCollections");
    let mut problems = Vec::new();
    for name in names.iter().filter(|n| !n.starts_with("system.")) {
        facts.insert(format!("collection {name}"));
        let collection = db.collection::<Document>(name);
        let indexes: Vec<mongodb::IndexModel> = collection
            .list_indexes()
            .await
            .expect("listIndexes")
            .try_collect()
            .await
            .expect("listIndexes cursor");
        for index in indexes {
            let options = index.options.unwrap_or_default();
            let index_name = options.name.unwrap_or_default();
            if index_name == "_id_" {
                continue;
            }
            let keys: Vec<String> =
                index.keys.iter().map(|(k, v)| format!("{k}: {}", key_value(v))).collect();
            let keys = format!("{{{}}}", keys.join(", "));
            facts.insert(mongo_index_fact(&index_name, name, &keys, options.unique == Some(true)));
        }
        match collection.find_one(doc! {}).await.expect("find") {
            Some(document) => {
                facts.extend(document.keys().map(|field| format!("field {name}.{field}")));
            }
            None => problems.push(format!(
                "collection {name} is empty: store_one_of_each in data_model.rs must store one \
                 document in it, so that its fields can be checked"
            )),
        }
    }
    if problems.is_empty() {
        Ok(facts)
    } else {
        Err(problems.join("\n"))
    }
}

#[tokio::test]
async fn mongodb_collections_are_the_documented_ones() {
    let model = DataModel::load();
    // Never skip: a check that did not run must not look green.
    let url = std::env::var("TEST_MONGODB_URL")
        .unwrap_or_else(|_| panic!("TEST_MONGODB_URL is not set; run scripts/test.sh"));
    let name = format!("t_{:016x}", rand::random::<u64>());
    let store = MongoStore::open_database(&url, &name).await.expect("MongoDB opens");
    store.ensure_indexes().await.expect("the indexes are created");
    store_one_of_each(&store.repositories()).await;

    let live = mongo_facts(&store).await;
    store.drop_database().await.expect("the test database is dropped");

    let live = live.unwrap_or_else(|problem| panic!("{problem}"));
    assert_agree("MongoDB", &model.mongo_facts(), &live);
}
