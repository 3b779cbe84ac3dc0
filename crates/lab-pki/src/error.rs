//! Errors of the lab PKI.

use std::io;
use std::path::{Path, PathBuf};

/// Everything that can go wrong while making, loading or using the lab certificates.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// rcgen refused to generate a key pair or to sign a certificate.
    #[error("failed to generate {what}")]
    Generate {
        /// What was being generated, for example "the lab ca certificate".
        what: &'static str,
        /// The rcgen error.
        #[source]
        source: rcgen::Error,
    },

    /// A leaf was requested without any name, and webpki accepts no certificate without a SAN.
    #[error("a leaf certificate needs at least one subject alternative name")]
    NoLeafNames,

    /// A requested name is neither an IP address nor a valid DNS name (IA5 string).
    #[error("invalid subject alternative names {names:?}")]
    InvalidLeafNames {
        /// The names as requested.
        names: Vec<String>,
        /// The rcgen error.
        #[source]
        source: rcgen::Error,
    },

    /// The CA certificate PEM holds no parsable `CERTIFICATE` section.
    #[error("invalid ca certificate pem")]
    CaCertPem(#[source] rustls::pki_types::pem::Error),

    /// The CA certificate DER is not a certificate webpki can use as a trust anchor.
    #[error("invalid ca certificate")]
    CaCert(#[source] rustls::Error),

    /// The CA key PEM holds no private key rcgen can sign with.
    #[error("invalid ca key pem")]
    CaKeyPem(#[source] rcgen::Error),

    /// A leaf signed with the CA key under the lab CA name does not verify against the CA
    /// certificate: the two files belong to different CAs, or the CA has expired.
    #[error("ca certificate does not match the ca key and the lab ca name")]
    CaMismatch(#[source] rustls::Error),

    /// rustls could not build a certificate verifier over the CA certificate.
    #[error("failed to build a certificate verifier for the ca")]
    Verifier(#[source] rustls::client::VerifierBuilderError),

    /// rustls refused the protocol versions, the certificate chain or the key.
    #[error("failed to build the rustls server config")]
    ServerConfig(#[source] rustls::Error),

    /// Reading, writing or parsing a file under the certificate directory failed.
    #[error(transparent)]
    File(#[from] CertFileError),
}

/// An error about one file or directory: the message always names the path.
#[derive(Debug, thiserror::Error)]
#[error("failed to {} `{}`", kind.action(), path.display())]
pub struct CertFileError {
    path: PathBuf,
    #[source]
    kind: CertFileErrorKind,
}

impl CertFileError {
    pub(crate) fn new(path: impl Into<PathBuf>, kind: CertFileErrorKind) -> Self {
        Self { path: path.into(), kind }
    }

    /// The file or directory the error is about.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What went wrong with it.
    pub fn kind(&self) -> &CertFileErrorKind {
        &self.kind
    }
}

/// What went wrong with a file or directory; the path lives in [`CertFileError`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertFileErrorKind {
    /// The directory could not be created.
    #[error(transparent)]
    CreateDir(io::Error),
    /// Whether the file exists could not be determined.
    #[error(transparent)]
    Probe(io::Error),
    /// The file could not be read, or is not UTF-8.
    #[error(transparent)]
    Read(io::Error),
    /// The file could not be written, or its permissions could not be restricted.
    #[error(transparent)]
    Write(io::Error),
    /// The file was read but its content is not what the lab expects.
    #[error(transparent)]
    Parse(Box<PkiError>),
}

impl CertFileErrorKind {
    /// The verb of the message, read after "failed to".
    fn action(&self) -> &'static str {
        match self {
            Self::CreateDir(_) => "create directory",
            Self::Probe(_) => "check for",
            Self::Read(_) => "read",
            Self::Write(_) => "write",
            Self::Parse(_) => "load",
        }
    }
}
