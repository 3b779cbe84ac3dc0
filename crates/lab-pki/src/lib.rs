//! The lab's certificates: an rcgen CA, the server leaves it signs, and rustls server configs.
//!
//! The lab CA ([`LabCa`]) is created once, written to `certs/ca.pem` and `certs/ca-key.pem`, and
//! reused on later runs, so a client that was told to trust `ca.pem` keeps trusting the lab. On
//! every start a fresh leaf ([`LeafCert`]) is issued for `localhost`, `127.0.0.1` and `::1`, and
//! [`LeafCert::server_config`] turns it into a rustls [`ServerConfig`] for whoever serves TLS.
//! [`load_or_create`] does all of that for a directory.
//!
//! A CA read back from disk is not parsed: its issuer is rebuilt from the fixed lab CA name and
//! the stored key, because the subject key identifier is derived from the key. This keeps
//! rcgen's `x509-parser` feature (and a second ASN.1 stack) out of the build, and
//! [`LabCa::from_pem`] verifies a throwaway leaf against the stored certificate to prove the
//! two still match.
//!
//! It deliberately does no network IO (binding sockets and serving TLS belong to
//! `lab-harness`), has no async, and uses aws-lc-rs as its only crypto provider, passed
//! explicitly instead of installed process-wide. It is a lab PKI: no revocation, no client
//! certificates, no intermediate CAs, and private keys are plain PEM files.

mod ca;
mod dir;
mod error;

pub use ca::{LAB_CA_COMMON_NAME, LAB_LEAF_NAMES, LAB_ORGANIZATION, LabCa, LeafCert};
pub use dir::{CA_CERT_FILE, CA_KEY_FILE, CertDir, LabPki, SERVER_CERT_FILE, SERVER_KEY_FILE, load_or_create};
pub use error::{CertFileError, CertFileErrorKind, PkiError};
pub use rustls::ServerConfig;
pub use rustls::pki_types::{CertificateDer, PrivateKeyDer};
