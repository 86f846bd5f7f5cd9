//! Where secrets come from: the SMTP password, the SSH key passphrase and reboot API tokens.
//!
//! Owns: the names of the secrets, the order in which their sources are asked, the rule for
//! secret files (no access for group or others), and the OS keyring (Secret Service, through
//! the `keyring` crate, only when built with the `keyring` feature: the desktop app and the
//! CLI). Every consumer asks here; none reads a variable, a file or the keyring by itself.
//! Must not know: what a secret is for (SMTP, SSH, HTTP), or the fleet beyond `secrets_dir`.
//!
//! # Sources, in order
//!
//! 1. The environment variable where there is one: `ANSHIN_SMTP_PASSWORD`,
//!    `ANSHIN_SSH_PASSPHRASE`, a reboot's `token_env`.
//! 2. systemd credentials: `$CREDENTIALS_DIRECTORY/<file>` (`LoadCredential=` in the unit).
//! 3. The fleet's `[noc] secrets_dir`: a folder of files readable by their owner only.
//! 4. The OS keyring: service `anshin-noc`, user `smtp`, `ssh-passphrase` or `reboot:LABEL`.
//!
//! File names are `smtp`, `ssh-passphrase` and `reboot-LABEL`. A file's content is the secret,
//! without one final line end (so `echo secret > file` works).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anshin_core::Fleet;

/// The Secret Service entries' service name.
pub const KEYRING_SERVICE: &str = "anshin-noc";
/// The environment variable holding the SMTP password.
pub const SMTP_PASSWORD_ENV: &str = "ANSHIN_SMTP_PASSWORD";
/// The environment variable holding the passphrase of encrypted SSH private keys.
pub const SSH_PASSPHRASE_ENV: &str = "ANSHIN_SSH_PASSPHRASE";
/// Set by systemd for a unit with `LoadCredential=`/`SetCredential=`.
pub const CREDENTIALS_ENV: &str = "CREDENTIALS_DIRECTORY";
/// A keyring call that takes longer (no Secret Service answering on the session bus, a
/// daemon being activated) is given up: the secret counts as not there, and the reason says so.
const KEYRING_TIMEOUT: Duration = Duration::from_secs(10);
/// A secret file larger than this is not a password.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// Which secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecretName {
    /// The password of the `[smtp]` URL's user.
    SmtpPassword,
    /// The passphrase of the SSH private keys.
    SshPassphrase,
    /// The bearer token of one server's reboot API.
    RebootToken { label: String },
}

impl SecretName {
    /// `smtp`, `ssh-passphrase` or `reboot:LABEL` (as `anshin secret set` takes it).
    pub fn parse(text: &str) -> Result<SecretName, SecretError> {
        let bad = || SecretError::BadName(text.to_string());
        match text {
            "smtp" => Ok(SecretName::SmtpPassword),
            "ssh-passphrase" => Ok(SecretName::SshPassphrase),
            _ => {
                let label = text.strip_prefix("reboot:").ok_or_else(bad)?;
                let plain = !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with(['-', '.'])
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
                plain.then(|| SecretName::RebootToken { label: label.to_string() }).ok_or_else(bad)
            }
        }
    }

    /// The keyring entry's user: `smtp`, `ssh-passphrase`, `reboot:LABEL`.
    pub fn keyring_user(&self) -> String {
        self.to_string()
    }

    /// The file name in `$CREDENTIALS_DIRECTORY` and `secrets_dir`: `reboot-LABEL` for a token
    /// (a credential name cannot hold ':').
    pub fn file_name(&self) -> String {
        match self {
            SecretName::RebootToken { label } => format!("reboot-{label}"),
            other => other.to_string(),
        }
    }

    fn what(&self) -> String {
        match self {
            SecretName::SmtpPassword => "the SMTP password".into(),
            SecretName::SshPassphrase => "the SSH key passphrase".into(),
            SecretName::RebootToken { label } => format!("the reboot API token of {label}"),
        }
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretName::SmtpPassword => f.write_str("smtp"),
            SecretName::SshPassphrase => f.write_str("ssh-passphrase"),
            SecretName::RebootToken { label } => write!(f, "reboot:{label}"),
        }
    }
}

/// Where a secret was found (for logs: never the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Env(String),
    Credential(PathBuf),
    File(PathBuf),
    Keyring,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Env(var) => write!(f, "the environment variable {var}"),
            Source::Credential(p) => write!(f, "the systemd credential {}", p.display()),
            Source::File(p) => write!(f, "the file {}", p.display()),
            Source::Keyring => write!(f, "the OS keyring ({KEYRING_SERVICE})"),
        }
    }
}

/// A secret and where it came from. Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    value: String,
    pub source: Source,
}

impl Secret {
    pub fn expose(&self) -> &str {
        &self.value
    }

    pub fn into_value(self) -> String {
        self.value
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret").field("value", &"***").field("source", &self.source).finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("\"{0}\" is not a secret name: use smtp, ssh-passphrase or reboot:LABEL (LABEL: a server's label)")]
    BadName(String),
    /// No source had it; `tried` says what was looked at, in order.
    #[error("{what} was not found ({}); give it in one of those places, or store it with `anshin secret set {name}`", tried.join("; "))]
    Missing { name: String, what: String, tried: Vec<String> },
    /// A secret file others may read: refused rather than used.
    #[error("{} holds a secret but group or others may access it (mode {mode:04o}): run `chmod 600 {}`", path.display(), path.display())]
    Exposed { path: PathBuf, mode: u32 },
    #[error("cannot read {}: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("OS keyring: {0}")]
    Keyring(String),
}

/// The sources of one process (or one fleet): which folders, and whether the keyring is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secrets {
    credentials_dir: Option<PathBuf>,
    secrets_dir: Option<PathBuf>,
    keyring: bool,
}

/// The sources consumers use when they are not handed any (the SSH pool): set by
/// [`Secrets::activate`] when an engine starts on a fleet.
static ACTIVE: RwLock<Option<Arc<Secrets>>> = RwLock::new(None);

impl Secrets {
    /// Explicit sources (tests; the variables are still read from the environment).
    pub fn new(credentials_dir: Option<PathBuf>, secrets_dir: Option<PathBuf>, keyring: bool) -> Secrets {
        Secrets { credentials_dir, secrets_dir, keyring }
    }

    /// The process's sources: `$CREDENTIALS_DIRECTORY`, and the keyring when built with it.
    pub fn from_process() -> Secrets {
        let credentials_dir = std::env::var_os(CREDENTIALS_ENV).filter(|d| !d.is_empty()).map(PathBuf::from);
        Secrets::new(credentials_dir, None, keyring_built_in())
    }

    /// The process's sources plus the fleet's `secrets_dir` (already absolute after
    /// `Fleet::resolve_paths`).
    pub fn for_fleet(fleet: &Fleet) -> Secrets {
        Secrets { secrets_dir: fleet.secrets_dir.as_ref().map(PathBuf::from), ..Secrets::from_process() }
    }

    /// Makes these the sources of consumers that are not handed any; returns them shared.
    pub fn activate(self) -> Arc<Secrets> {
        let shared = Arc::new(self);
        if let Ok(mut active) = ACTIVE.write() {
            *active = Some(shared.clone());
        }
        shared
    }

    /// The activated sources, else the process's.
    pub fn active() -> Arc<Secrets> {
        ACTIVE.read().ok().and_then(|a| a.clone()).unwrap_or_else(|| Arc::new(Secrets::from_process()))
    }

    pub fn smtp_password(&self) -> Result<Secret, SecretError> {
        self.get(&SecretName::SmtpPassword, Some(SMTP_PASSWORD_ENV))
    }

    pub fn ssh_passphrase(&self) -> Result<Secret, SecretError> {
        self.get(&SecretName::SshPassphrase, Some(SSH_PASSPHRASE_ENV))
    }

    /// The token of `label`'s reboot API; `token_env` is the fleet's variable for it.
    pub fn reboot_token(&self, label: &str, token_env: &str) -> Result<Secret, SecretError> {
        self.get(&SecretName::RebootToken { label: label.to_string() }, Some(token_env))
    }

    /// Asks each source in order; the first that has the secret wins. A secret file that
    /// others may read is an error, not a miss: the operator must fix it, not be surprised
    /// by a later source.
    pub fn get(&self, name: &SecretName, env: Option<&str>) -> Result<Secret, SecretError> {
        let mut tried = Vec::new();
        if let Some(var) = env {
            match std::env::var(var) {
                Ok(v) if !v.is_empty() => return Ok(Secret { value: v, source: Source::Env(var.to_string()) }),
                _ => tried.push(format!("{var} is not set")),
            }
        }
        match &self.credentials_dir {
            Some(dir) => {
                let path = dir.join(name.file_name());
                if let Some(value) = read_secret_file(&path, false)? {
                    return Ok(Secret { value, source: Source::Credential(path) });
                }
                tried.push(format!("no credential {}", path.display()));
            }
            None => tried.push(format!("no systemd credentials (${CREDENTIALS_ENV} is not set)")),
        }
        match &self.secrets_dir {
            Some(dir) => {
                let path = dir.join(name.file_name());
                if let Some(value) = read_secret_file(&path, true)? {
                    return Ok(Secret { value, source: Source::File(path) });
                }
                tried.push(format!("no file {}", path.display()));
            }
            None => tried.push("no [noc] secrets_dir".into()),
        }
        if self.keyring {
            match keyring_get(&name.keyring_user()) {
                Ok(Some(value)) if !value.is_empty() => return Ok(Secret { value, source: Source::Keyring }),
                Ok(_) => tried.push(format!("no OS keyring entry {KEYRING_SERVICE}/{}", name.keyring_user())),
                Err(why) => tried.push(format!("OS keyring not usable: {why}")),
            }
        }
        Err(SecretError::Missing { name: name.to_string(), what: name.what(), tried })
    }
}

/// `Ok(None)` when there is no such file. `private`: refuse a file group or others may access.
fn read_secret_file(path: &Path, private: bool) -> Result<Option<String>, SecretError> {
    use std::io::Read as _;
    use std::os::unix::fs::PermissionsExt as _;
    let unreadable = |e: std::io::Error| SecretError::Unreadable { path: path.to_path_buf(), reason: e.to_string() };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unreadable(e)),
    };
    let meta = file.metadata().map_err(unreadable)?;
    let mode = meta.permissions().mode() & 0o7777;
    if private && mode & 0o077 != 0 {
        return Err(SecretError::Exposed { path: path.to_path_buf(), mode });
    }
    if !meta.is_file() {
        return Err(SecretError::Unreadable { path: path.to_path_buf(), reason: "not a regular file".into() });
    }
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_BYTES + 1).read_to_end(&mut bytes).map_err(unreadable)?;
    if bytes.len() as u64 > MAX_SECRET_BYTES {
        return Err(SecretError::Unreadable {
            path: path.to_path_buf(),
            reason: format!("larger than {MAX_SECRET_BYTES} bytes"),
        });
    }
    let mut text = String::from_utf8(bytes)
        .map_err(|_| SecretError::Unreadable { path: path.to_path_buf(), reason: "not UTF-8 text".into() })?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(Some(text).filter(|t| !t.is_empty()))
}

/// True when this build can ask the OS keyring (the `keyring` feature).
pub fn keyring_built_in() -> bool {
    cfg!(feature = "keyring")
}

/// Stores `name` in the OS keyring (replacing an older value).
pub fn keyring_set(name: &SecretName, value: &str) -> Result<(), SecretError> {
    let (user, value) = (name.keyring_user(), value.to_string());
    bounded(move || os_keyring::set(&user, &value)).map_err(SecretError::Keyring)
}

/// Removes `name` from the OS keyring; `false` when there was no such entry.
pub fn keyring_delete(name: &SecretName) -> Result<bool, SecretError> {
    let user = name.keyring_user();
    bounded(move || os_keyring::delete(&user)).map_err(SecretError::Keyring)
}

fn keyring_get(user: &str) -> Result<Option<String>, String> {
    let user = user.to_string();
    bounded(move || os_keyring::get(&user))
}

/// Runs a keyring call on a thread of its own, given up after [`KEYRING_TIMEOUT`]. Its own
/// thread because the Secret Service client blocks on an executor of its own, which must
/// not run inside a tokio worker; and a D-Bus activation that never answers must not hold a
/// start or a reboot for the bus's 25 s default.
fn bounded<T: Send + 'static>(call: impl FnOnce() -> Result<T, String> + Send + 'static) -> Result<T, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("anshin-keyring".into())
        .spawn(move || {
            let _ = tx.send(call());
        })
        .map_err(|e| format!("cannot start a thread: {e}"))?;
    rx.recv_timeout(KEYRING_TIMEOUT).unwrap_or_else(|_| {
        Err(format!("no answer within {} s from the Secret Service on the session bus", KEYRING_TIMEOUT.as_secs()))
    })
}

#[cfg(feature = "keyring")]
mod os_keyring {
    use super::KEYRING_SERVICE;

    fn entry(user: &str) -> Result<keyring::Entry, String> {
        keyring::Entry::new(KEYRING_SERVICE, user).map_err(|e| match e {
            keyring::Error::NoDefaultStore => {
                "no Secret Service on the session bus (is a keyring daemon running and unlocked?)".into()
            }
            other => other.to_string(),
        })
    }

    pub fn get(user: &str) -> Result<Option<String>, String> {
        match entry(user)?.get_password() {
            Ok(v) => Ok(Some(v)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    pub fn set(user: &str, value: &str) -> Result<(), String> {
        entry(user)?.set_password(value).map_err(|e| e.to_string())
    }

    pub fn delete(user: &str) -> Result<bool, String> {
        match entry(user)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(e) => Err(e.to_string()),
        }
    }
}

#[cfg(not(feature = "keyring"))]
mod os_keyring {
    const ABSENT: &str = "this build has no OS keyring support (the `keyring` feature)";

    pub fn get(_user: &str) -> Result<Option<String>, String> {
        Err(ABSENT.into())
    }

    pub fn set(_user: &str, _value: &str) -> Result<(), String> {
        Err(ABSENT.into())
    }

    pub fn delete(_user: &str) -> Result<bool, String> {
        Err(ABSENT.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn write(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn names() {
        for (text, user, file) in [
            ("smtp", "smtp", "smtp"),
            ("ssh-passphrase", "ssh-passphrase", "ssh-passphrase"),
            ("reboot:web01", "reboot:web01", "reboot-web01"),
        ] {
            let name = SecretName::parse(text).unwrap();
            assert_eq!((name.keyring_user().as_str(), name.file_name().as_str()), (user, file));
        }
        for bad in ["", "SMTP", "reboot:", "reboot:../x", "reboot:a/b", "reboot:-x", "password"] {
            assert_eq!(SecretName::parse(bad), Err(SecretError::BadName(bad.to_string())), "{bad}");
        }
    }

    /// The order: variable, credential, secrets_dir. Each source is removed in turn and the
    /// next one answers. (Variables are process-wide: this test uses one no other test uses.)
    #[test]
    fn sources_are_asked_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let (creds, dir) = (tmp.path().join("creds"), tmp.path().join("secrets"));
        std::fs::create_dir_all(&creds).unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        let secrets = Secrets::new(Some(creds.clone()), Some(dir.clone()), false);
        let var = "ANSHIN_TEST_SECRETS_ORDER_TOKEN";
        write(&creds, "reboot-web01", "from-credential\n", 0o400);
        write(&dir, "reboot-web01", "from-dir\r\n", 0o600);
        std::env::set_var(var, "from-env");
        let got = secrets.reboot_token("web01", var).unwrap();
        assert_eq!((got.expose(), &got.source), ("from-env", &Source::Env(var.into())));
        assert!(!format!("{got:?}").contains("from-env"), "Debug hides the value");
        std::env::set_var(var, "");
        let got = secrets.reboot_token("web01", var).unwrap();
        assert_eq!((got.expose(), &got.source), ("from-credential", &Source::Credential(creds.join("reboot-web01"))));
        std::env::remove_var(var);
        std::fs::remove_file(creds.join("reboot-web01")).unwrap();
        let got = secrets.reboot_token("web01", var).unwrap();
        assert_eq!((got.expose(), &got.source), ("from-dir", &Source::File(dir.join("reboot-web01"))));
        // Another server's token is not this one's.
        let err = secrets.reboot_token("web02", var).unwrap_err().to_string();
        assert!(err.starts_with("the reboot API token of web02 was not found"), "{err}");
        assert!(err.contains(&format!("{var} is not set")), "{err}");
        assert!(err.contains(&format!("no credential {}", creds.join("reboot-web02").display())), "{err}");
        assert!(err.contains(&format!("no file {}", dir.join("reboot-web02").display())), "{err}");
        assert!(err.contains("anshin secret set reboot:web02"), "{err}");
    }

    #[test]
    fn a_secret_file_others_can_read_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let secrets = Secrets::new(None, Some(tmp.path().to_path_buf()), false);
        let path = write(tmp.path(), "ssh-passphrase", "hunter2", 0o644);
        let err = secrets.get(&SecretName::SshPassphrase, None).unwrap_err();
        assert_eq!(err, SecretError::Exposed { path: path.clone(), mode: 0o644 });
        assert!(err.to_string().contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(secrets.get(&SecretName::SshPassphrase, None), Err(SecretError::Exposed { .. })));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(secrets.get(&SecretName::SshPassphrase, None).unwrap().expose(), "hunter2");
        // An empty file is no secret.
        write(tmp.path(), "smtp", "\n", 0o600);
        assert!(matches!(secrets.get(&SecretName::SmtpPassword, None), Err(SecretError::Missing { .. })));
    }

    #[cfg(not(feature = "keyring"))]
    #[test]
    fn without_the_feature_the_keyring_says_so() {
        let err = keyring_set(&SecretName::SmtpPassword, "x").unwrap_err().to_string();
        assert!(err.contains("no OS keyring support"), "{err}");
        let secrets = Secrets::new(None, None, true);
        let err = secrets.get(&SecretName::SmtpPassword, None).unwrap_err().to_string();
        assert!(err.contains("OS keyring not usable: this build has no OS keyring support"), "{err}");
    }
}
