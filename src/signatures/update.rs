//! Installing signed bundles into a state directory, where a running sensor finds them.
//!
//! Layout of the state directory (`/var/lib/aigress/signatures` by default):
//!
//! ```text
//! versions/<version>/   the database files of each installed version, and its bundle
//! current -> versions/<version>    what sensors load (`--signatures <state>/current`)
//! previous -> versions/<version>   what `--rollback` returns to
//! ```
//!
//! A version is written to a temporary directory, synced and renamed into `versions/`;
//! `current` is switched by renaming a new symlink over it, so a reader sees the old
//! database or the new one, never a mix. Nothing is installed before the bundle's
//! signature verifies and the whole database loads and checks.

use std::cmp::Ordering;
use std::fs;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::bundle::{self, Bundle, BundleError, MAX_BUNDLE_BYTES, PublicKey};
use super::{Database, LoadError};

/// The state directory when none is configured.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/aigress/signatures";
/// One byte more than a bundle may have, so a larger one is read far enough to be
/// refused as too large and no further.
const READ_LIMIT: u64 = MAX_BUNDLE_BYTES as u64 + 1;
/// How long a download may take in all.
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);

const CURRENT: &str = "current";
const PREVIOUS: &str = "previous";
const VERSIONS: &str = "versions";
/// The bundle kept beside each installed version's files.
const BUNDLE_FILE: &str = "bundle.sig";

/// Why an update did not install; the database in use is left as it was.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("{0}: only https:// URLs or local files")]
    NotHttps(String),
    #[error("downloading {url}: {message}")]
    Fetch { url: String, message: String },
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    #[error("no trusted key: give --trusted-key or signatures.trusted_keys")]
    NoTrustedKey,
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error("the bundle's database does not load, nothing installed:\n{0}")]
    Invalid(LoadError),
    #[error(
        "version {offered} is older than the installed {installed}: nothing installed (--allow-downgrade to install it anyway)"
    )]
    Downgrade { offered: String, installed: String },
    #[error("no previous version to roll back to in {0}")]
    NoPrevious(PathBuf),
    #[error("the CA file {path}: {message}")]
    Ca { path: PathBuf, message: String },
}

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> UpdateError {
    let context = context.into();
    move |source| UpdateError::Io { context, source }
}

/// What an install did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The version that was current before, if any.
    pub from: Option<String>,
    pub to: String,
    /// The same version was already current: nothing changed.
    pub unchanged: bool,
}

/// Writes a new key pair: `<out>.key` (private, PKCS#8 PEM, readable by its owner only)
/// and `<out>.pub`; returns the key id.
///
/// # Errors
/// Either file exists already, or cannot be written.
pub fn write_key_pair(out: &Path) -> Result<String, UpdateError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let (key, pem) = bundle::SigningKey::generate()?;
    let private = out.with_extension("key");
    let public = out.with_extension("pub");
    for path in [&private, &public] {
        if path.exists() {
            return Err(UpdateError::Io {
                context: path.display().to_string(),
                source: io::Error::new(io::ErrorKind::AlreadyExists, "it exists: not overwritten"),
            });
        }
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&private)
        .map_err(io_error(private.display().to_string()))?;
    io::Write::write_all(&mut file, pem.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io_error(private.display().to_string()))?;
    write_synced(&public, key.public().to_text().as_bytes())?;
    Ok(key.public().id())
}

/// Checks the database in `dir` and signs it with the private key at `key` into `out`
/// (written beside and renamed into place). Returns the version.
///
/// # Errors
/// The database does not load, the key is not a key, a file cannot be read or written.
pub fn make_bundle(dir: &Path, key: &Path, out: &Path, made: &str) -> Result<String, UpdateError> {
    Database::from_dir(dir).map_err(|e| match e {
        super::DatabaseError::Invalid(e) => UpdateError::Invalid(e),
        other => UpdateError::Io {
            context: dir.display().to_string(),
            source: io::Error::other(other.to_string()),
        },
    })?;
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir.display().to_string()))? {
        let path = entry.map_err(io_error(dir.display().to_string()))?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = fs::read_to_string(&path).map_err(io_error(path.display().to_string()))?;
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            files.push((name, text));
        }
    }
    files.sort();
    let pem = fs::read_to_string(key).map_err(io_error(key.display().to_string()))?;
    let key = bundle::SigningKey::from_pem(&pem)?;
    let sealed = bundle::seal(&files, made, &key)?;
    let staging = out.with_extension("partial");
    write_synced(&staging, &sealed)?;
    fs::rename(&staging, out).map_err(io_error(out.display().to_string()))?;
    let opened = bundle::open(&sealed, &[key.public()])?;
    Ok(opened.version)
}

/// Reads trusted public key files.
///
/// # Errors
/// None given, an unreadable file or one that is not a public key (named).
pub fn trusted_keys(paths: &[PathBuf]) -> Result<Vec<PublicKey>, UpdateError> {
    if paths.is_empty() {
        return Err(UpdateError::NoTrustedKey);
    }
    paths
        .iter()
        .map(|p| {
            let text = fs::read_to_string(p).map_err(io_error(p.display().to_string()))?;
            PublicKey::from_text(&text).map_err(|e| UpdateError::Io {
                context: p.display().to_string(),
                source: io::Error::new(io::ErrorKind::InvalidData, e.to_string()),
            })
        })
        .collect()
}

/// The bundle's bytes from an `https://` URL (checked against the system's roots, or
/// only `ca` when given) or a local file, at most [`MAX_BUNDLE_BYTES`].
///
/// # Errors
/// A plain `http://` URL, a failed or refused download, an unreadable file.
pub fn fetch(from: &str, ca: Option<&Path>) -> Result<Vec<u8>, UpdateError> {
    if from.starts_with("http://") {
        return Err(UpdateError::NotHttps(from.to_owned()));
    }
    if !from.starts_with("https://") {
        let mut bytes = Vec::new();
        fs::File::open(from)
            .and_then(|f| f.take(READ_LIMIT).read_to_end(&mut bytes))
            .map_err(io_error(from))?;
        return Ok(bytes);
    }
    let fetch_error = |message: String| UpdateError::Fetch {
        url: from.to_owned(),
        message,
    };
    let mut tls = ureq::tls::TlsConfig::builder();
    if let Some(path) = ca {
        let roots = crate::pem::client_roots(path).map_err(|message| UpdateError::Ca {
            path: path.to_owned(),
            message,
        })?;
        tls = tls.root_certs(roots);
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls.build())
        .timeout_global(Some(FETCH_TIMEOUT))
        .https_only(true)
        .user_agent(concat!("aigress/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let response = agent
        .get(from)
        .call()
        .map_err(|e| fetch_error(e.to_string()))?;
    response
        .into_body()
        .with_config()
        .limit(READ_LIMIT)
        .read_to_vec()
        .map_err(|e| fetch_error(e.to_string()))
}

/// A state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    path: PathBuf,
}

impl StateDir {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The directory sensors load: `<state>/current`.
    pub fn current_dir(&self) -> PathBuf {
        self.path.join(CURRENT)
    }

    /// The version `current` (or `previous`) points at.
    pub fn version_of(&self, link: &str) -> Option<String> {
        let target = fs::read_link(self.path.join(link)).ok()?;
        Some(target.file_name()?.to_str()?.to_owned())
    }

    pub fn current_version(&self) -> Option<String> {
        self.version_of(CURRENT)
    }

    /// Verifies, loads and checks a bundle, then installs it as `current`; the old
    /// `current` becomes `previous`.
    ///
    /// # Errors
    /// Any [`UpdateError`]; then nothing in the state directory has changed.
    pub fn install(
        &self,
        bytes: &[u8],
        trusted: &[PublicKey],
        allow_downgrade: bool,
    ) -> Result<(Installed, Bundle), UpdateError> {
        let bundle = bundle::open(bytes, trusted)?;
        Database::from_files(&bundle.file_list()).map_err(UpdateError::Invalid)?;
        let from = self.current_version();
        if let Some(installed) = &from {
            let order = bundle::compare_versions(&bundle.version, installed)?;
            if order == Ordering::Equal {
                let installed = Installed {
                    from: from.clone(),
                    to: bundle.version.clone(),
                    unchanged: true,
                };
                return Ok((installed, bundle));
            }
            if order == Ordering::Less && !allow_downgrade {
                return Err(UpdateError::Downgrade {
                    offered: bundle.version,
                    installed: installed.clone(),
                });
            }
        }
        let versions = self.path.join(VERSIONS);
        fs::create_dir_all(&versions).map_err(io_error(versions.display().to_string()))?;
        let target = versions.join(&bundle.version);
        if !target.exists() {
            self.write_version(&versions, &target, &bundle, bytes)?;
        }
        if let Some(old) = &from {
            self.point(PREVIOUS, old)?;
        }
        self.point(CURRENT, &bundle.version)?;
        let installed = Installed {
            from,
            to: bundle.version.clone(),
            unchanged: false,
        };
        Ok((installed, bundle))
    }

    /// Makes `previous` current again (and the current one previous).
    ///
    /// # Errors
    /// No previous version, or the links cannot be switched.
    pub fn rollback(&self) -> Result<Installed, UpdateError> {
        let previous = self
            .version_of(PREVIOUS)
            .ok_or_else(|| UpdateError::NoPrevious(self.path.clone()))?;
        let current = self.current_version();
        let dir = self.path.join(VERSIONS).join(&previous);
        Database::from_dir(&dir).map_err(|e| UpdateError::Io {
            context: format!("the previous version {previous} no longer loads"),
            source: io::Error::new(io::ErrorKind::InvalidData, e.to_string()),
        })?;
        if let Some(current) = &current {
            self.point(PREVIOUS, current)?;
        }
        self.point(CURRENT, &previous)?;
        Ok(Installed {
            from: current,
            to: previous,
            unchanged: false,
        })
    }

    /// Writes the bundle's files to a temporary directory, syncs them and renames it to
    /// `target`.
    fn write_version(
        &self,
        versions: &Path,
        target: &Path,
        bundle: &Bundle,
        bytes: &[u8],
    ) -> Result<(), UpdateError> {
        let staging = versions.join(format!(".staging-{}", std::process::id()));
        let context = staging.display().to_string();
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(io_error(&context))?;
        }
        fs::create_dir(&staging).map_err(io_error(&context))?;
        let mut files: Vec<(&str, &[u8])> = bundle
            .files
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_bytes()))
            .collect();
        files.push((BUNDLE_FILE, bytes));
        for (name, data) in files {
            if name.contains('/') || name.contains('\\') || name.starts_with('.') {
                return Err(UpdateError::Bundle(BundleError::Payload(format!(
                    "file name {name:?} is not a plain name"
                ))));
            }
            write_synced(&staging.join(name), data)?;
        }
        sync_dir(&staging)?;
        fs::rename(&staging, target).map_err(io_error(target.display().to_string()))?;
        sync_dir(versions)
    }

    /// Points `link` at `versions/<version>` by renaming a fresh symlink over it.
    fn point(&self, link: &str, version: &str) -> Result<(), UpdateError> {
        let fresh = self.path.join(format!(".{link}.{}", std::process::id()));
        let context = fresh.display().to_string();
        if fresh.symlink_metadata().is_ok() {
            fs::remove_file(&fresh).map_err(io_error(&context))?;
        }
        std::os::unix::fs::symlink(Path::new(VERSIONS).join(version), &fresh)
            .map_err(io_error(&context))?;
        let path = self.path.join(link);
        fs::rename(&fresh, &path).map_err(io_error(path.display().to_string()))?;
        sync_dir(&self.path)
    }
}

fn write_synced(path: &Path, data: &[u8]) -> Result<(), UpdateError> {
    let context = path.display().to_string();
    let mut file = fs::File::create(path).map_err(io_error(&context))?;
    io::Write::write_all(&mut file, data).map_err(io_error(&context))?;
    file.sync_all().map_err(io_error(context))
}

fn sync_dir(dir: &Path) -> Result<(), UpdateError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir.display().to_string()))
}
