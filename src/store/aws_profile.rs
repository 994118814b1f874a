//! AWS named profiles: keys, region and endpoint from `~/.aws/credentials` and `~/.aws/config`.
//!
//! Why: AWS users keep credentials in profiles (`aws configure`, `AWS_PROFILE=prod`), but
//! `object_store` reads only environment variables and instance or container credentials.
//! This fills in what the environment leaves unset from the profile `AWS_PROFILE` (or
//! `default`), as the AWS CLI does: static keys and session token, `region`, `endpoint_url`.
//! Profiles that get credentials some other way (SSO, `role_arn`, `credential_process`) are
//! named in a clear error with the command that exports usable keys.

use std::collections::BTreeMap;
use std::path::PathBuf;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};

/// One profile's settings, merged from both files (credentials file first).
type Profile = BTreeMap<String, String>;

/// The `[section]`s of an INI file, with `key = value` lines; `#` and `;` start comments.
fn sections(text: &str) -> BTreeMap<String, Profile> {
    let mut out: BTreeMap<String, Profile> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim().to_string();
            out.entry(name.clone()).or_default();
            current = Some(name);
        } else if let (Some(section), Some((k, v))) = (&current, line.split_once('=')) {
            out.entry(section.clone())
                .or_default()
                .insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    out
}

fn file(var: &str, default: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(p) => Some(PathBuf::from(p)),
        None => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(default)),
    }
}

/// The profile `name` from the credentials file text and the config file text (where it is
/// `[profile NAME]`, or `[default]`), or `None` when neither has it.
fn profile(name: &str, credentials: &str, config: &str) -> Option<Profile> {
    let creds = sections(credentials).remove(name);
    let conf_name = if name == "default" {
        "default".to_string()
    } else {
        format!("profile {name}")
    };
    let conf = sections(config).remove(&conf_name);
    if creds.is_none() && conf.is_none() {
        return None;
    }
    let mut p = conf.unwrap_or_default();
    p.extend(creds.unwrap_or_default());
    Some(p)
}

/// Adds to `b` what the environment left unset and the profile has. Errors name the profile
/// and the files.
pub(super) fn apply(mut b: AmazonS3Builder) -> Result<AmazonS3Builder, String> {
    let chosen = std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty());
    let name = chosen.clone().unwrap_or_else(|| "default".into());
    let cred_path = file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
    let conf_path = file("AWS_CONFIG_FILE", ".aws/config");
    let read = |p: &Option<PathBuf>| {
        p.as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    };
    let Some(p) = profile(&name, &read(&cred_path), &read(&conf_path)) else {
        return match chosen {
            Some(n) => Err(format!(
                "AWS profile {n:?} (AWS_PROFILE) is in neither {} nor {}",
                show(&cred_path),
                show(&conf_path)
            )),
            None => Ok(b),
        };
    };
    let unset = |b: &AmazonS3Builder, k: AmazonS3ConfigKey| b.get_config_value(&k).is_none();
    if unset(&b, AmazonS3ConfigKey::AccessKeyId) {
        match (p.get("aws_access_key_id"), p.get("aws_secret_access_key")) {
            (Some(id), Some(secret)) => {
                b = b
                    .with_config(AmazonS3ConfigKey::AccessKeyId, id)
                    .with_config(AmazonS3ConfigKey::SecretAccessKey, secret);
                if let Some(t) = p.get("aws_session_token") {
                    b = b.with_config(AmazonS3ConfigKey::Token, t);
                }
            }
            _ => {
                let other = [
                    "sso_session",
                    "sso_start_url",
                    "role_arn",
                    "credential_process",
                ]
                .into_iter()
                .find(|k| p.contains_key(*k));
                if let Some(k) = other {
                    return Err(format!(
                        "AWS profile {name:?} gets its credentials through {k}, which flowlake cannot use; run `eval \"$(aws configure export-credentials --profile {name} --format env)\"` first"
                    ));
                }
            }
        }
    }
    if unset(&b, AmazonS3ConfigKey::Region)
        && let Some(r) = p.get("region")
    {
        b = b.with_config(AmazonS3ConfigKey::Region, r);
    }
    if unset(&b, AmazonS3ConfigKey::Endpoint)
        && let Some(e) = p.get("endpoint_url")
    {
        b = b.with_config(AmazonS3ConfigKey::Endpoint, e);
        if e.starts_with("http://") {
            b = b.with_config(
                AmazonS3ConfigKey::Client(object_store::ClientConfigKey::AllowHttp),
                "true",
            );
        }
    }
    Ok(b)
}

fn show(p: &Option<PathBuf>) -> String {
    p.as_ref()
        .map_or_else(|| "(no HOME)".into(), |p| p.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDENTIALS: &str = "
[default]
aws_access_key_id = AKIDEFAULT
aws_secret_access_key = s1

[prod]
# comment
aws_access_key_id=AKIPROD
aws_secret_access_key = s2
aws_session_token = tok
";
    const CONFIG: &str = "
[default]
region = eu-west-1
[profile prod]
region = us-east-2
endpoint_url = http://127.0.0.1:9000
[profile sso]
sso_session = corp
";

    #[test]
    fn profiles_merge_both_files_and_name_config_sections_with_a_prefix() {
        let p = profile("prod", CREDENTIALS, CONFIG).unwrap();
        assert_eq!(p["aws_access_key_id"], "AKIPROD");
        assert_eq!(p["aws_session_token"], "tok");
        assert_eq!(p["region"], "us-east-2");
        assert_eq!(p["endpoint_url"], "http://127.0.0.1:9000");
        let d = profile("default", CREDENTIALS, CONFIG).unwrap();
        assert_eq!(
            (d["aws_access_key_id"].as_str(), d["region"].as_str()),
            ("AKIDEFAULT", "eu-west-1")
        );
        assert!(
            profile("sso", CREDENTIALS, CONFIG)
                .unwrap()
                .contains_key("sso_session")
        );
        assert!(profile("nope", CREDENTIALS, CONFIG).is_none());
    }
}
