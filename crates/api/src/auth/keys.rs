//! The API's access keys: `ACCESS_KEY_ID:SECRET` pairs, given inline (comma-separated)
//! or in a file (one a line; `#` starts a comment), and the policy of each key.
//!
//! A file is re-read when it changes: every lookup compares the file's modification time
//! and length with those of the copy in memory (one `stat`), so rotating a mounted
//! Kubernetes Secret takes effect on the next request, with no restart. A file that
//! stops parsing keeps the last good keys and says so in the log once per change.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::policy::Policy;

/// One key's secret and policy. `Debug` never prints the secret.
#[derive(Clone)]
pub struct Key {
    pub secret: String,
    pub policy: Arc<Policy>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("secret", &"<redacted>")
            .field("policy", &self.policy)
            .finish()
    }
}

/// Why a credentials or policies text is refused. Never carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeysError {
    #[error("entry {0} is not ACCESS_KEY_ID:SECRET")]
    NotAPair(usize),
    #[error("access key id '{0}' appears twice")]
    Duplicate(String),
    #[error("access key id '{0}' must be 1 to 128 characters of letters, digits, '_', '-' or '.'")]
    BadKeyId(String),
    #[error("the policies name access key id '{0}', which no credential has")]
    UnknownKey(String),
    #[error("{0}")]
    Policy(String),
    #[error("reading {path}: {error}")]
    Read { path: String, error: String },
}

/// Parses `ID:SECRET` entries separated by commas and newlines; blank entries and lines
/// starting with `#` are skipped.
pub fn parse_credentials(text: &str) -> Result<BTreeMap<String, String>, KeysError> {
    let mut keys = BTreeMap::new();
    let entries = text
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .flat_map(|line| line.split(','))
        .map(str::trim)
        .filter(|entry| !entry.is_empty());
    for (n, entry) in entries.enumerate() {
        let Some((id, secret)) = entry.split_once(':') else {
            return Err(KeysError::NotAPair(n + 1));
        };
        let (id, secret) = (id.trim(), secret.trim());
        if secret.is_empty() {
            return Err(KeysError::NotAPair(n + 1));
        }
        let valid = (1..=128).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !valid {
            return Err(KeysError::BadKeyId(id.chars().take(128).collect()));
        }
        if keys.insert(id.to_string(), secret.to_string()).is_some() {
            return Err(KeysError::Duplicate(id.to_string()));
        }
    }
    Ok(keys)
}

/// Where a text comes from: inline (fixed) or a file (re-read when it changes).
#[derive(Debug, Clone)]
pub enum Source {
    Inline(String),
    File(PathBuf),
}

/// Where the credentials and (optionally) the policies come from.
#[derive(Debug, Clone)]
pub struct KeysConfig {
    pub credentials: Source,
    pub policies: Option<Source>,
}

/// The keys in force, reloaded from their files when those change.
pub struct Keys {
    config: KeysConfig,
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    /// The (modification time, length) of each file when last read.
    stamp: Vec<Option<(SystemTime, u64)>>,
    keys: Arc<BTreeMap<String, Key>>,
}

impl Keys {
    /// Loads the keys once; an error here stops start-up.
    pub fn load(config: KeysConfig) -> Result<Keys, KeysError> {
        let keys = Keys {
            config,
            cache: Mutex::new(Cache::default()),
        };
        let (stamp, loaded) = keys.read()?;
        if let Ok(mut cache) = keys.cache.lock() {
            cache.stamp = stamp;
            cache.keys = Arc::new(loaded);
        }
        Ok(keys)
    }

    /// How many keys are in force.
    pub fn count(&self) -> usize {
        self.current().len()
    }

    /// The key with id `access_key`, as the files now say.
    pub fn get(&self, access_key: &str) -> Option<Key> {
        self.current().get(access_key).cloned()
    }

    fn current(&self) -> Arc<BTreeMap<String, Key>> {
        let Ok(mut cache) = self.cache.lock() else {
            return Arc::default();
        };
        let stamp = self.stamps();
        if stamp != cache.stamp {
            match self.read() {
                Ok((stamp, keys)) => {
                    tracing::info!(keys = keys.len(), "API credentials reloaded");
                    cache.stamp = stamp;
                    cache.keys = Arc::new(keys);
                }
                Err(error) => {
                    tracing::error!(%error, "API credentials not reloaded: the last good ones stay in force");
                    cache.stamp = stamp;
                }
            }
        }
        cache.keys.clone()
    }

    fn sources(&self) -> impl Iterator<Item = &Source> {
        std::iter::once(&self.config.credentials).chain(self.config.policies.as_ref())
    }

    fn stamps(&self) -> Vec<Option<(SystemTime, u64)>> {
        self.sources()
            .map(|source| match source {
                Source::Inline(_) => None,
                Source::File(path) => std::fs::metadata(path)
                    .ok()
                    .and_then(|m| Some((m.modified().ok()?, m.len()))),
            })
            .collect()
    }

    #[allow(clippy::type_complexity)]
    fn read(&self) -> Result<(Vec<Option<(SystemTime, u64)>>, BTreeMap<String, Key>), KeysError> {
        // Stamped before reading: a change during the read is seen on the next lookup.
        let stamp = self.stamps();
        let credentials = parse_credentials(&text(&self.config.credentials)?)?;
        let mut policies = match &self.config.policies {
            Some(source) => super::policy::parse_policies(&text(source)?)
                .map_err(|e| KeysError::Policy(e.to_string()))?,
            None => BTreeMap::new(),
        };
        if let Some(unknown) = policies.keys().find(|id| !credentials.contains_key(*id)) {
            return Err(KeysError::UnknownKey(unknown.clone()));
        }
        let full = Arc::new(Policy::full());
        let keys = credentials
            .into_iter()
            .map(|(id, secret)| {
                let policy = policies
                    .remove(&id)
                    .map(Arc::new)
                    .unwrap_or_else(|| full.clone());
                (id, Key { secret, policy })
            })
            .collect();
        Ok((stamp, keys))
    }
}

fn text(source: &Source) -> Result<String, KeysError> {
    match source {
        Source::Inline(text) => Ok(text.clone()),
        Source::File(path) => std::fs::read_to_string(path).map_err(|e| KeysError::Read {
            path: path.display().to_string(),
            error: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_parse_from_commas_and_lines() {
        let keys = parse_credentials("AKID1:s1, AKID2:s2:with:colons\n# comment\n\nAKID3:s3\n")
            .expect("valid");
        assert_eq!(keys.len(), 3);
        assert_eq!(keys["AKID2"], "s2:with:colons");
        assert_eq!(parse_credentials("AKID"), Err(KeysError::NotAPair(1)));
        assert_eq!(
            parse_credentials("A:b,A:c"),
            Err(KeysError::Duplicate("A".into()))
        );
        assert!(matches!(
            parse_credentials("a b:c"),
            Err(KeysError::BadKeyId(_))
        ));
        assert_eq!(parse_credentials("A:"), Err(KeysError::NotAPair(1)));
    }

    #[test]
    fn a_changed_file_is_reread_and_a_broken_one_keeps_the_last_good_keys() {
        let dir = std::env::temp_dir().join(format!("cairn-keys-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("credentials");
        std::fs::write(&path, "ONE:first\n").expect("write");
        let keys = Keys::load(KeysConfig {
            credentials: Source::File(path.clone()),
            policies: None,
        })
        .expect("loads");
        assert_eq!(keys.get("ONE").map(|k| k.secret), Some("first".to_string()));
        std::fs::write(&path, "TWO:second-secret\n").expect("rewrite");
        assert!(keys.get("ONE").is_none(), "the old key is gone");
        assert_eq!(
            keys.get("TWO").map(|k| k.secret),
            Some("second-secret".to_string())
        );
        std::fs::write(&path, "broken line without a colon\n").expect("break");
        assert!(keys.get("TWO").is_some(), "the last good keys stay");
        assert!(!format!("{:?}", keys.get("TWO")).contains("second-secret"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
