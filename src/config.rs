//! `flowlake.toml`: settings that outlive one command line.
//!
//! Why: a batch job and an engineer's shell should see the same IP sets and report settings
//! without repeating flags. Paths in the file are relative to the file. Unknown keys are errors, so a
//! misspelt setting is reported instead of silently ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::enrich::SetSpec;
use crate::error::{Error, IoContext, Result};

/// The parsed configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Named IP sets: `name = "path"` (a plain list or a `ServiceTags_*.json` file).
    #[serde(default)]
    pub sets: BTreeMap<String, PathBuf>,
    /// Report settings (`[report]`): internal ranges, expected ports, thresholds, NSG files.
    #[serde(default)]
    pub report: crate::report::Settings,
    /// Location databases (`[geo]`).
    #[serde(default)]
    pub geo: Geo,
    /// How long the lake keeps each table (`[retain]`, for `flowlake retain`).
    #[serde(default)]
    pub retain: Retain,
}

/// `[retain]`: spans such as `30d` or `400d`; a table without one is kept forever.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retain {
    /// Keep raw tuples (`flows`) and rejects this long.
    pub raw: Option<String>,
    /// Keep the hourly rollup this long.
    pub hourly: Option<String>,
}

/// `[geo]`: MaxMind-format databases (GeoIP2/GeoLite2 Country, City, ASN; DB-IP and IPinfo
/// lite files) for `geo_country`, `asn`, ... and the reports.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Geo {
    /// Database files, asked in order.
    #[serde(default)]
    pub databases: Vec<PathBuf>,
}

impl Config {
    /// Reads `path`; relative set and NSG file paths are resolved against its directory.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).ctx("read config", path)?;
        let mut c: Config = toml::from_str(&text).map_err(|e| Error::Input {
            path: path.to_path_buf(),
            line: None,
            message: format!("not a valid flowlake config: {e}"),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in c
            .sets
            .values_mut()
            .chain(c.report.nsg_files.iter_mut())
            .chain(c.geo.databases.iter_mut())
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(c)
    }

    /// The configured sets as specs, in name order.
    pub fn set_specs(&self) -> Vec<SetSpec> {
        self.sets
            .iter()
            .map(|(name, path)| SetSpec {
                name: name.clone(),
                path: path.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_set_paths_follow_the_file_and_unknown_keys_fail() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("flowlake.toml");
        std::fs::write(
            &p,
            "[sets]\nthreat = \"intel/ti.txt\"\nabs = \"/etc/x.txt\"\n",
        )
        .unwrap();
        let c = Config::load(&p).unwrap();
        assert_eq!(c.sets["threat"], d.path().join("intel/ti.txt"));
        assert_eq!(c.sets["abs"], PathBuf::from("/etc/x.txt"));
        std::fs::write(&p, "[set]\nthreat = \"x\"\n").unwrap();
        let e = Config::load(&p).unwrap_err().to_string();
        assert!(e.contains("flowlake.toml") && e.contains("set"), "{e}");
    }
}
