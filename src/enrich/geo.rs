//! Where an outside address is: country, city, AS number and organisation, from MaxMind-format
//! databases (GeoIP2/GeoLite2 Country, City and ASN, and the free DB-IP and IPinfo "lite"
//! files in the same format).
//!
//! Why: the engineer's next questions about `sent 2.4 GB to 185.220.101.45` are which country
//! and which network, answered offline from files the user already has. Each file is
//! memory-mapped once per process (a shell or a report opens several sessions) and told
//! apart by its `database_type`; `geo_country(ip)`, `geo_country_name(ip)`, `geo_city(ip)`,
//! `asn(ip)` and `as_org(ip)` ask the first loaded database that carries the field, and are
//! NULL for private or unknown addresses or when no database is loaded.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use datafusion::arrow::array::{ArrayRef, StringViewBuilder, UInt32Builder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use maxminddb::{PathElement, Reader};
use serde::{Deserialize, Serialize};

use super::functions::{STRINGS, for_each_bytes};
use crate::addr::{AddrClass, IpBits};

/// What a database file holds, from its metadata's `database_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    /// Country (GeoIP2/GeoLite2/DB-IP Country).
    Country,
    /// City, with its country (GeoIP2/GeoLite2/DB-IP City).
    City,
    /// Autonomous systems (GeoLite2/DB-IP ASN).
    Asn,
    /// IPinfo's lite file: country and AS in one flat record.
    IpinfoLite,
}

impl DbKind {
    fn of(database_type: &str) -> Option<DbKind> {
        let t = database_type.to_ascii_lowercase();
        Some(if t.contains("ipinfo") {
            DbKind::IpinfoLite
        } else if t.contains("asn") || t.contains("isp") {
            DbKind::Asn
        } else if t.contains("city") {
            DbKind::City
        } else if t.contains("country") {
            DbKind::Country
        } else {
            return None;
        })
    }
}

/// One memory-mapped database.
pub struct GeoDb {
    path: PathBuf,
    kind: DbKind,
    id: DbId,
    reader: Reader<maxminddb::Mmap>,
}

/// What tells a database apart wherever its file lies: its type, build time and the size of
/// its search tree, from its metadata. A cluster's plan names the client's databases by these
/// ([`GeoDbs::ids`]); each node finds the same ones among the files it opened.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DbId {
    /// `database_type`, e.g. `GeoLite2-City`.
    pub database_type: String,
    /// `build_epoch`, seconds since the epoch.
    pub build_epoch: u64,
    /// `node_count`.
    pub node_count: u32,
}

impl std::fmt::Display for DbId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let built = chrono::DateTime::from_timestamp(self.build_epoch as i64, 0).map_or_else(
            || self.build_epoch.to_string(),
            |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
        );
        write!(f, "{} built {built}", self.database_type)
    }
}

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoDb")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .finish()
    }
}

/// Databases opened by this process, by canonical path.
static OPEN: LazyLock<Mutex<HashMap<PathBuf, Arc<GeoDb>>>> = LazyLock::new(Mutex::default);

impl GeoDb {
    /// Opens (once per process) the database at `path`.
    pub fn open(path: &Path) -> crate::Result<Arc<GeoDb>> {
        let bad = |message: String| crate::Error::Input {
            path: path.to_path_buf(),
            line: None,
            message,
        };
        let key = path
            .canonicalize()
            .map_err(|e| bad(format!("cannot open the database: {e}")))?;
        let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(db) = open.get(&key) {
            return Ok(db.clone());
        }
        // SAFETY: the file is mapped read-only; like every MaxMind reader, flowlake expects
        // database files to be replaced (renamed over), not rewritten in place.
        let reader = unsafe { Reader::open_mmap(&key) }
            .map_err(|e| bad(format!("not a MaxMind DB file: {e}")))?;
        let meta = reader.metadata();
        let database_type = meta.database_type.clone();
        let id = DbId {
            database_type: database_type.clone(),
            build_epoch: meta.build_epoch,
            node_count: meta.node_count,
        };
        let kind = DbKind::of(&database_type).ok_or_else(|| {
            bad(format!(
                "database type {database_type:?} is none of Country, City, ASN or IPinfo lite"
            ))
        })?;
        let db = Arc::new(GeoDb {
            path: key.clone(),
            kind,
            id,
            reader,
        });
        open.insert(key, db.clone());
        Ok(db)
    }
}

/// The loaded databases, asked in order.
#[derive(Debug, Default)]
pub struct GeoDbs {
    dbs: Vec<Arc<GeoDb>>,
}

impl GeoDbs {
    /// Opens every database in `paths`.
    pub fn load(paths: &[PathBuf]) -> crate::Result<GeoDbs> {
        let dbs = paths
            .iter()
            .map(|p| GeoDb::open(p))
            .collect::<crate::Result<_>>()?;
        Ok(GeoDbs { dbs })
    }

    /// True when none is loaded.
    pub fn is_empty(&self) -> bool {
        self.dbs.is_empty()
    }

    fn paths(&self) -> Vec<&Path> {
        self.dbs.iter().map(|d| d.path.as_path()).collect()
    }

    /// The databases' identities, in the order they are asked.
    pub fn ids(&self) -> Vec<DbId> {
        self.dbs.iter().map(|d| d.id.clone()).collect()
    }

    /// The databases `ids` name, in that order, among those this process has opened (a
    /// client's own, or the `--geo-db` files a cluster node opened at start): the same
    /// databases as on the machine that wrote `ids`, wherever their files lie here.
    pub fn opened(ids: &[DbId]) -> std::result::Result<GeoDbs, String> {
        let open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
        let mut dbs = Vec::with_capacity(ids.len());
        for id in ids {
            match open.values().find(|d| &d.id == id) {
                Some(d) => dbs.push(d.clone()),
                None => {
                    let mut here: Vec<String> = open.values().map(|d| d.id.to_string()).collect();
                    here.sort();
                    let here = if here.is_empty() {
                        "none".to_string()
                    } else {
                        here.join(", ")
                    };
                    return Err(format!(
                        "location database {id} is not loaded on this node (loaded: {here}); start the cluster's scheduler and executors with --geo-db naming the same files as the client"
                    ));
                }
            }
        }
        Ok(GeoDbs { dbs })
    }

    /// Where `ip` is: every field a loaded database has for it (all `None` for private and
    /// unknown addresses, or with no database).
    pub fn place(&self, ip: IpBits) -> Place {
        if self.dbs.is_empty() || ip.class() != AddrClass::Public {
            return Place::default();
        }
        let addr = ip.to_ip();
        let text = |f| match value(self, f, addr) {
            Some(Value::Text(t)) => Some(t),
            Some(Value::Number(n)) => Some(n.to_string()),
            None => None,
        };
        Place {
            country: text(GeoField::Country),
            country_name: text(GeoField::CountryName),
            city: text(GeoField::City),
            asn: value(self, GeoField::Asn, addr).and_then(|v| v.as_asn()),
            as_org: text(GeoField::AsOrg),
        }
    }

    /// The autonomous system `ip` is in (`None` for private and unknown addresses, or
    /// without an ASN database).
    pub fn place_asn(&self, ip: IpBits) -> Option<u32> {
        if ip.class() != AddrClass::Public {
            return None;
        }
        value(self, GeoField::Asn, ip.to_ip())?.as_asn()
    }

    /// Whether a loaded database carries `field`.
    pub fn carries(&self, field: GeoField) -> bool {
        self.dbs.iter().any(|d| field.path(d.kind).is_some())
    }
}

/// Where an address is, as far as the loaded databases know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    /// ISO 3166-1 alpha-2 country code.
    pub country: Option<String>,
    /// Country name in English.
    pub country_name: Option<String>,
    /// City name in English.
    pub city: Option<String>,
    /// Autonomous system number.
    pub asn: Option<u32>,
    /// Autonomous system organisation.
    pub as_org: Option<String>,
}

/// The values the functions return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GeoField {
    /// ISO 3166-1 alpha-2 country code.
    Country,
    /// Country name in English.
    CountryName,
    /// City name in English.
    City,
    /// Autonomous system number.
    Asn,
    /// Autonomous system organisation.
    AsOrg,
}

const COUNTRY_ISO: &[PathElement<'static>] =
    &[PathElement::Key("country"), PathElement::Key("iso_code")];
const COUNTRY_NAME: &[PathElement<'static>] = &[
    PathElement::Key("country"),
    PathElement::Key("names"),
    PathElement::Key("en"),
];
const CITY_NAME: &[PathElement<'static>] = &[
    PathElement::Key("city"),
    PathElement::Key("names"),
    PathElement::Key("en"),
];
const AS_NUMBER: &[PathElement<'static>] = &[PathElement::Key("autonomous_system_number")];
const AS_ORG: &[PathElement<'static>] = &[PathElement::Key("autonomous_system_organization")];
const IPINFO_COUNTRY: &[PathElement<'static>] = &[PathElement::Key("country_code")];
const IPINFO_COUNTRY_NAME: &[PathElement<'static>] = &[PathElement::Key("country")];
const IPINFO_ASN: &[PathElement<'static>] = &[PathElement::Key("asn")];
const IPINFO_AS_NAME: &[PathElement<'static>] = &[PathElement::Key("as_name")];

impl GeoField {
    const ALL: [GeoField; 5] = [
        GeoField::Country,
        GeoField::CountryName,
        GeoField::City,
        GeoField::Asn,
        GeoField::AsOrg,
    ];

    fn function(self) -> &'static str {
        match self {
            GeoField::Country => "geo_country",
            GeoField::CountryName => "geo_country_name",
            GeoField::City => "geo_city",
            GeoField::Asn => "asn",
            GeoField::AsOrg => "as_org",
        }
    }

    /// Where the value is in a database of `kind`, if it has it.
    fn path(self, kind: DbKind) -> Option<&'static [PathElement<'static>]> {
        use DbKind as K;
        use GeoField as F;
        Some(match (self, kind) {
            (F::Country, K::Country | K::City) => COUNTRY_ISO,
            (F::CountryName, K::Country | K::City) => COUNTRY_NAME,
            (F::City, K::City) => CITY_NAME,
            (F::Asn, K::Asn) => AS_NUMBER,
            (F::AsOrg, K::Asn) => AS_ORG,
            (F::Country, K::IpinfoLite) => IPINFO_COUNTRY,
            (F::CountryName, K::IpinfoLite) => IPINFO_COUNTRY_NAME,
            (F::Asn, K::IpinfoLite) => IPINFO_ASN,
            (F::AsOrg, K::IpinfoLite) => IPINFO_AS_NAME,
            _ => return None,
        })
    }
}

/// A looked-up value.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Text(String),
    Number(u32),
}

impl Value {
    /// An AS number: a number in MaxMind's ASN files, `"AS15169"` in IPinfo's.
    fn as_asn(&self) -> Option<u32> {
        match self {
            Value::Number(n) => Some(*n),
            Value::Text(t) => t.trim_start_matches("AS").parse().ok(),
        }
    }
}

/// The value at `path` for `ip` in `db`, if it has one.
fn lookup(db: &GeoDb, path: &[PathElement<'_>], ip: IpAddr) -> Option<Value> {
    let found = db.reader.lookup(ip).ok()?;
    // Numbers are numbers in MaxMind's ASN files (stored in the smallest unsigned type that
    // holds them) and "AS15169" in IPinfo's.
    if let Ok(Some(n)) = found.decode_path::<u32>(path) {
        return Some(Value::Number(n));
    }
    if let Ok(Some(n)) = found.decode_path::<u16>(path) {
        return Some(Value::Number(u32::from(n)));
    }
    let text: String = found.decode_path(path).ok()??;
    Some(Value::Text(text))
}

/// The value of `field` for `ip`: from the first database that carries the field and has a
/// record for the address.
fn value(dbs: &GeoDbs, field: GeoField, ip: IpAddr) -> Option<Value> {
    dbs.dbs
        .iter()
        .filter_map(|d| Some((d, field.path(d.kind)?)))
        .find_map(|(d, path)| lookup(d, path, ip))
}

/// Addresses a function remembers before it starts over (a few tens of MB at most).
const CACHE_LIMIT: usize = 1 << 20;

struct GeoFn {
    field: GeoField,
    dbs: Arc<GeoDbs>,
    signature: Signature,
    /// Answers by address: flows repeat their peers across batches and partitions.
    cache: Mutex<HashMap<IpBits, Option<Value>, foldhash::fast::FixedState>>,
}

impl std::fmt::Debug for GeoFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoFn")
            .field("field", &self.field)
            .field("dbs", &self.dbs)
            .finish_non_exhaustive()
    }
}

impl PartialEq for GeoFn {
    fn eq(&self, other: &Self) -> bool {
        self.field == other.field && self.dbs.paths() == other.dbs.paths()
    }
}
impl Eq for GeoFn {}
impl std::hash::Hash for GeoFn {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.field.hash(state);
        self.dbs.paths().hash(state);
    }
}

impl ScalarUDFImpl for GeoFn {
    fn name(&self) -> &str {
        self.field.function()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(match self.field {
            GeoField::Asn => DataType::UInt32,
            _ => DataType::Utf8View,
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        super::documentation(self.name())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let ips = args.args[0].clone().into_array(n)?;
        let carried = self.dbs.carries(self.field);
        // Each distinct address is looked up once per process (up to CACHE_LIMIT of them).
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() > CACHE_LIMIT {
            cache.clear();
        }
        // Calls `k` with the answer for the address text `s`.
        let mut with = |s: Option<&[u8]>, k: &mut dyn FnMut(Option<&Value>)| {
            let ip = s
                .filter(|_| carried)
                .and_then(IpBits::parse)
                .filter(|ip| ip.class() == AddrClass::Public);
            match ip {
                Some(ip) => k(cache
                    .entry(ip)
                    .or_insert_with(|| value(&self.dbs, self.field, ip.to_ip()))
                    .as_ref()),
                None => k(None),
            }
        };
        let out: ArrayRef = match self.field {
            GeoField::Asn => {
                let mut b = UInt32Builder::with_capacity(n);
                for_each_bytes(&ips, |s| {
                    with(s, &mut |v| b.append_option(v.and_then(Value::as_asn)))
                })?;
                std::sync::Arc::new(b.finish())
            }
            _ => {
                let mut b = StringViewBuilder::with_capacity(n);
                for_each_bytes(&ips, |s| {
                    with(s, &mut |v| match v {
                        Some(Value::Text(t)) => b.append_value(t),
                        Some(Value::Number(n)) => b.append_value(n.to_string()),
                        None => b.append_null(),
                    })
                })?;
                std::sync::Arc::new(b.finish())
            }
        };
        Ok(ColumnarValue::Array(out))
    }
}

/// The databases behind `udf`, when it is one of the location functions.
pub fn dbs_of(udf: &ScalarUDF) -> Option<&Arc<GeoDbs>> {
    udf.inner().downcast_ref::<GeoFn>().map(|f| &f.dbs)
}

/// The location functions over `dbs`.
pub fn all(dbs: Arc<GeoDbs>) -> Vec<ScalarUDF> {
    let signature = Signature::uniform(1, STRINGS.to_vec(), Volatility::Immutable);
    GeoField::ALL
        .into_iter()
        .map(|field| {
            ScalarUDF::from(GeoFn {
                field,
                dbs: dbs.clone(),
                signature: signature.clone(),
                cache: Mutex::default(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_types_name_what_they_hold() {
        for (t, k) in [
            ("GeoLite2-Country", DbKind::Country),
            ("GeoIP2-City", DbKind::City),
            ("GeoLite2-ASN", DbKind::Asn),
            ("DBIP-Country-Lite", DbKind::Country),
            ("DBIP-City-Lite", DbKind::City),
            ("DBIP-ASN-Lite (compat=GeoLite2-ASN)", DbKind::Asn),
            ("ipinfo lite.mmdb", DbKind::IpinfoLite),
        ] {
            assert_eq!(DbKind::of(t), Some(k), "{t}");
        }
        assert_eq!(DbKind::of("GeoIP2-Anonymous-IP"), None);
    }

    #[test]
    fn a_missing_or_foreign_file_is_an_error_naming_it() {
        let e = GeoDb::open(Path::new("/nonexistent/GeoLite2-City.mmdb")).unwrap_err();
        assert!(
            e.to_string().contains("/nonexistent/GeoLite2-City.mmdb"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.mmdb");
        std::fs::write(&p, b"not a database").unwrap();
        let e = GeoDb::open(&p).unwrap_err();
        assert!(e.to_string().contains("not a MaxMind DB file"), "{e}");
    }
}
