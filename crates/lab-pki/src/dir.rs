//! The certificate directory (`certs/` in a checkout): PEM files on disk.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::{CertFileError, CertFileErrorKind, LabCa, LeafCert, PkiError};

/// The CA certificate: the file users and clients trust.
pub const CA_CERT_FILE: &str = "ca.pem";

/// The CA private key, written with mode 0o600 on unix.
pub const CA_KEY_FILE: &str = "ca-key.pem";

/// The lab leaf followed by the CA certificate: the chain the lab servers present.
pub const SERVER_CERT_FILE: &str = "server.pem";

/// The lab leaf private key, written with mode 0o600 on unix.
pub const SERVER_KEY_FILE: &str = "server-key.pem";

/// The CA and the lab leaf after [`load_or_create`].
#[derive(Debug)]
pub struct LabPki {
    /// The lab CA, reused from disk or freshly generated.
    pub ca: LabCa,
    /// A lab leaf issued on this call for `localhost`, `127.0.0.1` and `::1`.
    pub leaf: LeafCert,
    /// Whether the CA was generated on this call (and clients must be told to trust it anew).
    pub created_ca: bool,
}

/// A directory of lab PEM files, named by the `*_FILE` constants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertDir {
    path: PathBuf,
}

impl CertDir {
    /// A certificate directory at `path`; nothing is touched until [`CertDir::load_or_create`].
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of [`CA_CERT_FILE`].
    pub fn ca_cert_path(&self) -> PathBuf {
        self.path.join(CA_CERT_FILE)
    }

    /// The path of [`CA_KEY_FILE`].
    pub fn ca_key_path(&self) -> PathBuf {
        self.path.join(CA_KEY_FILE)
    }

    /// The path of [`SERVER_CERT_FILE`].
    pub fn server_cert_path(&self) -> PathBuf {
        self.path.join(SERVER_CERT_FILE)
    }

    /// The path of [`SERVER_KEY_FILE`].
    pub fn server_key_path(&self) -> PathBuf {
        self.path.join(SERVER_KEY_FILE)
    }

    /// Reuses the CA in this directory, or creates one, then issues and writes a fresh lab leaf.
    ///
    /// The CA is reused when both [`CA_CERT_FILE`] and [`CA_KEY_FILE`] exist; a file that cannot
    /// be read or parsed is an error naming it, never a reason to replace the CA users trust.
    /// When either file is missing, a new CA is generated and both files are (over)written,
    /// since half a CA cannot issue leaves that chain to a trusted certificate. The directory is
    /// created when missing.
    pub fn load_or_create(&self) -> Result<LabPki, PkiError> {
        let ca_cert_path = self.ca_cert_path();
        let ca_key_path = self.ca_key_path();
        let (ca, created_ca) = if exists(&ca_cert_path)? && exists(&ca_key_path)? {
            (load_ca(&ca_cert_path, &ca_key_path)?, false)
        } else {
            fs::create_dir_all(&self.path)
                .map_err(|source| CertFileError::new(&self.path, CertFileErrorKind::CreateDir(source)))?;
            let ca = LabCa::generate()?;
            // The key goes first: a `ca.pem` without its key would be trusted but useless.
            write_file(&ca_key_path, &ca.key_pem(), FileMode::Secret)?;
            write_file(&ca_cert_path, ca.cert_pem(), FileMode::Public)?;
            (ca, true)
        };

        let leaf = ca.issue_lab_leaf()?;
        let chain_pem = format!("{}{}", leaf.cert_pem(), ca.cert_pem());
        write_file(&self.server_key_path(), leaf.key_pem(), FileMode::Secret)?;
        write_file(&self.server_cert_path(), &chain_pem, FileMode::Public)?;
        Ok(LabPki { ca, leaf, created_ca })
    }

    /// Reads the lab CA of the directory and issues a leaf in memory, writing nothing. For a lab
    /// that shares its CA with a server serving the directory's own leaf (`run --rs-url
    /// --certs`): the files that server reads must not change under it. A missing or unreadable
    /// CA is an error naming the file.
    pub fn load_without_writing(&self) -> Result<LabPki, PkiError> {
        let ca = load_ca(&self.ca_cert_path(), &self.ca_key_path())?;
        let leaf = ca.issue_lab_leaf()?;
        Ok(LabPki { ca, leaf, created_ca: false })
    }
}

/// Same as `CertDir::new(dir).load_or_create()`.
pub fn load_or_create(dir: &Path) -> Result<LabPki, PkiError> {
    CertDir::new(dir).load_or_create()
}

fn exists(path: &Path) -> Result<bool, CertFileError> {
    path.try_exists().map_err(|source| CertFileError::new(path, CertFileErrorKind::Probe(source)))
}

fn read_file(path: &Path) -> Result<String, CertFileError> {
    fs::read_to_string(path).map_err(|source| CertFileError::new(path, CertFileErrorKind::Read(source)))
}

fn load_ca(ca_cert_path: &Path, ca_key_path: &Path) -> Result<LabCa, PkiError> {
    let cert_pem = read_file(ca_cert_path)?;
    let key_pem = read_file(ca_key_path)?;
    LabCa::from_pem(&cert_pem, &key_pem).map_err(|error| {
        // Name the file the user has to look at: the key when it does not parse, the
        // certificate otherwise (including when the two do not belong together).
        let path = match error {
            PkiError::CaKeyPem(_) => ca_key_path,
            _ => ca_cert_path,
        };
        CertFileError::new(path, CertFileErrorKind::Parse(Box::new(error))).into()
    })
}

#[derive(Clone, Copy)]
enum FileMode {
    /// Certificates: readable by everyone, like any public document.
    Public,
    /// Private keys: readable by the owner only.
    Secret,
}

fn write_file(path: &Path, contents: &str, mode: FileMode) -> Result<(), CertFileError> {
    write_file_inner(path, contents, mode).map_err(|source| CertFileError::new(path, CertFileErrorKind::Write(source)))
}

fn write_file_inner(path: &Path, contents: &str, mode: FileMode) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        if let FileMode::Secret = mode {
            options.mode(0o600);
        }
    }
    let mut file = options.open(path)?;
    // The mode above only applies to a new file; an existing key file (from an older run or
    // created by hand) is restricted before the new key is written into it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let FileMode::Secret = mode {
            file.set_permissions(fs::Permissions::from_mode(0o600))?;
        }
    }
    #[cfg(not(unix))]
    let _ = mode;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_directory_is_read_and_never_written() {
        let dir = std::env::temp_dir().join(format!("lab-pki-readonly-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let certs = CertDir::new(&dir);
        let missing = certs.load_without_writing().map(|_| ()).unwrap_err().to_string();
        assert!(missing.contains("ca.pem"), "{missing}");
        let created = certs.load_or_create().unwrap();
        let before = fs::read(certs.server_cert_path()).unwrap();
        let modified = fs::metadata(certs.server_cert_path()).unwrap().modified().unwrap();
        let shared = certs.load_without_writing().unwrap();
        assert_eq!(shared.ca.cert_pem(), created.ca.cert_pem(), "the same CA");
        assert_ne!(shared.leaf.cert_pem(), created.leaf.cert_pem(), "a leaf of its own, in memory");
        assert_eq!(fs::read(certs.server_cert_path()).unwrap(), before);
        assert_eq!(fs::metadata(certs.server_cert_path()).unwrap().modified().unwrap(), modified);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn paths_are_joined_under_the_directory() {
        let dir = CertDir::new("certs");
        assert_eq!(dir.path(), Path::new("certs"));
        assert_eq!(dir.ca_cert_path(), Path::new("certs/ca.pem"));
        assert_eq!(dir.ca_key_path(), Path::new("certs/ca-key.pem"));
        assert_eq!(dir.server_cert_path(), Path::new("certs/server.pem"));
        assert_eq!(dir.server_key_path(), Path::new("certs/server-key.pem"));
    }

    #[test]
    fn file_errors_name_the_path_and_keep_the_cause() {
        let error = PkiError::from(CertFileError::new(
            "certs/ca-key.pem",
            CertFileErrorKind::Parse(Box::new(PkiError::NoLeafNames)),
        ));
        assert_eq!(error.to_string(), "failed to load `certs/ca-key.pem`");
        let source = std::error::Error::source(&error).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("a leaf certificate needs at least one subject alternative name"));
    }
}
