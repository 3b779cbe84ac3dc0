//! The lab CA and the leaf certificates it issues.

use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};

use crate::PkiError;

/// The common name of the lab CA.
///
/// A CA reloaded from disk is rebuilt from this name and the stored key, so changing it orphans
/// every `ca.pem` users already trust.
pub const LAB_CA_COMMON_NAME: &str = "MCP Auth Lab CA";

/// The organization of the lab CA and of its leaves.
pub const LAB_ORGANIZATION: &str = "MCP Auth Lab";

/// The names of the lab leaf: the loopback host name and both loopback addresses.
pub const LAB_LEAF_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Ten years: the CA is created once per checkout and trusted by hand, so it should outlive it.
const CA_VALIDITY: Duration = Duration::from_secs(3650 * 24 * 60 * 60);

/// One year: leaves are reissued on every start, and clients such as Apple's refuse leaves valid
/// for more than 398 days.
const LEAF_VALIDITY: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Certificates start a day in the past so a peer whose clock runs slow (a VM or a container)
/// still accepts a certificate issued seconds ago.
const BACKDATE: Duration = DAY;

/// The one crypto provider of the lab.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The lab CA parameters: everything an [`Issuer`] takes from them must be the same each time,
/// because a reloaded CA is rebuilt from these parameters rather than parsed from `ca.pem`.
fn lab_ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, LAB_CA_COMMON_NAME);
    name.push(DnType::OrganizationName, LAB_ORGANIZATION);
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    // The subject key identifier is derived from the public key with this method, so a leaf
    // signed by the rebuilt issuer carries an authority key identifier that matches `ca.pem`.
    params.key_identifier_method = rcgen::KeyIdMethod::Sha256;
    params
}

/// Sets `not_before` a little in the past and `not_after` `validity` after now.
fn set_validity(params: &mut CertificateParams, validity: Duration) {
    let now = SystemTime::now();
    params.not_before = (now - BACKDATE).into();
    params.not_after = (now + validity).into();
}

/// The lab certificate authority: a self-signed CA whose key signs the lab leaves.
///
/// `Debug` shows the subject and the certificate size; the key is never printed.
pub struct LabCa {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl LabCa {
    /// Generates a new CA with an ECDSA P-256 key, valid for about ten years.
    pub fn generate() -> Result<LabCa, PkiError> {
        let key = KeyPair::generate().map_err(|source| PkiError::Generate { what: "the lab ca key pair", source })?;
        let mut params = lab_ca_params();
        set_validity(&mut params, CA_VALIDITY);
        let cert =
            params.self_signed(&key).map_err(|source| PkiError::Generate { what: "the lab ca certificate", source })?;
        Ok(LabCa { cert_pem: cert.pem(), cert_der: cert.der().clone(), issuer: Issuer::new(lab_ca_params(), key) })
    }

    /// Loads a CA written earlier by [`LabCa::generate`] (through [`LabCa::key_pem`]).
    ///
    /// The issuer is rebuilt from the fixed lab CA name and the key; the certificate itself is
    /// only kept to be sent and trusted. To catch a `ca.pem` and a `ca-key.pem` from different
    /// CAs (or an expired CA) here rather than in a failing handshake, a throwaway leaf is signed
    /// and verified against `cert_pem` with webpki.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<LabCa, PkiError> {
        let cert_der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(PkiError::CaCertPem)?;
        let key = KeyPair::from_pem(key_pem).map_err(PkiError::CaKeyPem)?;
        let ca = LabCa { cert_pem: cert_pem.to_owned(), cert_der, issuer: Issuer::new(lab_ca_params(), key) };
        let probe_name = ServerName::IpAddress(Ipv4Addr::LOCALHOST.into());
        let probe = ca.issue_leaf(&["127.0.0.1"])?;
        ca.verifier()?
            .verify_server_cert(&probe.cert_der, &[], &probe_name, &[], UnixTime::now())
            .map_err(PkiError::CaMismatch)?;
        Ok(ca)
    }

    /// The CA certificate as PEM, exactly as generated or loaded: what clients trust.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate as DER.
    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.cert_der.clone()
    }

    /// The CA private key as PKCS #8 PEM, for `ca-key.pem`.
    ///
    /// # Security warning
    /// Whoever holds this key can mint certificates every client of the lab trusts. Never log it.
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// Issues a server leaf for `names`, valid for about a year, with a fresh ECDSA P-256 key.
    ///
    /// Names that parse as IP addresses become IP SANs, the others DNS SANs. The leaf carries
    /// the serverAuth extended key usage, which webpki requires of a server certificate.
    pub fn issue_leaf(&self, names: &[&str]) -> Result<LeafCert, PkiError> {
        let Some(first_name) = names.first() else {
            return Err(PkiError::NoLeafNames);
        };
        let owned_names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = CertificateParams::new(owned_names.clone())
            .map_err(|source| PkiError::InvalidLeafNames { names: owned_names.clone(), source })?;
        let mut subject = DistinguishedName::new();
        subject.push(DnType::CommonName, *first_name);
        subject.push(DnType::OrganizationName, LAB_ORGANIZATION);
        params.distinguished_name = subject;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, LEAF_VALIDITY);

        let key = KeyPair::generate().map_err(|source| PkiError::Generate { what: "a leaf key pair", source })?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|source| PkiError::Generate { what: "a leaf certificate", source })?;
        Ok(LeafCert {
            names: owned_names,
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            key_pem: key.serialize_pem(),
            key_der: PrivatePkcs8KeyDer::from(key.serialize_der()),
            spki_der: rcgen::PublicKeyData::subject_public_key_info(&key),
        })
    }

    /// Issues the lab leaf: `localhost`, `127.0.0.1` and `::1`.
    pub fn issue_lab_leaf(&self) -> Result<LeafCert, PkiError> {
        self.issue_leaf(&LAB_LEAF_NAMES)
    }

    /// A webpki verifier that trusts this CA only, as a client of the lab would.
    fn verifier(&self) -> Result<Arc<WebPkiServerVerifier>, PkiError> {
        let mut roots = RootCertStore::empty();
        roots.add(self.cert_der()).map_err(PkiError::CaCert)?;
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider()).build().map_err(PkiError::Verifier)
    }
}

impl fmt::Debug for LabCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LabCa")
            .field("common_name", &LAB_CA_COMMON_NAME)
            .field("cert_der_len", &self.cert_der.len())
            .field("key", &"[redacted]")
            .finish()
    }
}

/// A server certificate issued by the [`LabCa`], with its private key.
///
/// `Debug` shows the names and the certificate size; the key is never printed.
pub struct LeafCert {
    names: Vec<String>,
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    key_pem: String,
    key_der: PrivatePkcs8KeyDer<'static>,
    spki_der: Vec<u8>,
}

impl LeafCert {
    /// `base64(SHA-256(SubjectPublicKeyInfo))` of the leaf key: the pin Chromium's
    /// `--ignore-certificate-errors-spki-list` takes, so a browser test trusts exactly this key
    /// instead of switching certificate checks off.
    pub fn spki_sha256_base64(&self) -> String {
        use base64::Engine as _;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &self.spki_der);
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    }

    /// The names the leaf was issued for, as requested.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The leaf certificate as PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The leaf private key as PKCS #8 PEM.
    ///
    /// # Security warning
    /// Never log it; anyone holding it can impersonate the lab servers.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The leaf certificate as DER.
    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.cert_der.clone()
    }

    /// The leaf private key as PKCS #8 DER.
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key_der.clone_key())
    }

    /// A rustls server configuration that presents this leaf, with `ca` as the rest of the chain.
    ///
    /// It uses the aws-lc-rs provider explicitly, so it never depends on a process-wide default
    /// provider being installed. Clients are not asked for certificates.
    pub fn server_config(&self, ca: &LabCa) -> Result<Arc<rustls::ServerConfig>, PkiError> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(PkiError::ServerConfig)?
            .with_no_client_auth()
            .with_single_cert(vec![self.cert_der(), ca.cert_der()], self.key_der())
            .map_err(PkiError::ServerConfig)?;
        // Only HTTP/1.1 is offered, so every client of the lab (reqwest, curl, hand-written
        // raw-socket probes) negotiates the same protocol and transcripts stay comparable.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

impl fmt::Debug for LeafCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeafCert")
            .field("names", &self.names)
            .field("cert_der_len", &self.cert_der.len())
            .field("key", &"[redacted]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error;

    use super::*;

    type TestResult = Result<(), Box<dyn Error>>;

    /// Verifies `leaf` for `name` the way a client that trusts only `ca` would.
    fn verify(ca: &LabCa, leaf: &LeafCert, name: &str) -> TestResult {
        let server_name = ServerName::try_from(name.to_owned())?;
        ca.verifier()?.verify_server_cert(&leaf.cert_der(), &[], &server_name, &[], UnixTime::now())?;
        Ok(())
    }

    /// The webpki error a failed [`verify`] carries.
    fn verify_error(ca: &LabCa, leaf: &LeafCert, name: &str) -> Option<rustls::Error> {
        let error = verify(ca, leaf, name).err()?;
        error.downcast::<rustls::Error>().ok().map(|error| *error)
    }

    #[test]
    fn lab_leaf_verifies_for_every_loopback_name() -> TestResult {
        let ca = LabCa::generate()?;
        let leaf = ca.issue_lab_leaf()?;
        for name in LAB_LEAF_NAMES {
            verify(&ca, &leaf, name)?;
        }
        assert_eq!(leaf.names(), LAB_LEAF_NAMES);
        Ok(())
    }

    #[test]
    fn leaf_does_not_verify_for_other_names() -> TestResult {
        let ca = LabCa::generate()?;
        let leaf = ca.issue_lab_leaf()?;
        for name in ["example.test", "127.0.0.2", "::2"] {
            let error = verify_error(&ca, &leaf, name);
            assert!(
                matches!(
                    error,
                    Some(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext { .. }))
                ),
                "{name}: {error:?}"
            );
        }
        Ok(())
    }

    #[test]
    fn leaf_from_another_ca_does_not_verify() -> TestResult {
        let ca = LabCa::generate()?;
        let other_ca = LabCa::generate()?;
        let leaf = other_ca.issue_lab_leaf()?;
        let error = verify_error(&ca, &leaf, "localhost");
        // Every lab CA has the same subject name, so webpki takes the trusted CA for the issuer
        // and then finds the signature wrong, rather than finding no issuer at all.
        assert!(
            matches!(error, Some(rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature))),
            "{error:?}"
        );
        Ok(())
    }

    /// The rebuilt issuer has the same name and key identifier as the stored certificate, so
    /// leaves it signs chain to the original `ca.pem`.
    #[test]
    fn reloaded_ca_issues_leaves_that_chain_to_the_original_certificate() -> TestResult {
        let original = LabCa::generate()?;
        let reloaded = LabCa::from_pem(original.cert_pem(), &original.key_pem())?;
        assert_eq!(reloaded.cert_pem(), original.cert_pem());
        assert_eq!(reloaded.cert_der(), original.cert_der());
        let leaf = reloaded.issue_lab_leaf()?;
        for name in LAB_LEAF_NAMES {
            verify(&original, &leaf, name)?;
        }
        Ok(())
    }

    #[test]
    fn from_pem_rejects_a_key_of_another_ca() -> TestResult {
        let ca = LabCa::generate()?;
        let other_ca = LabCa::generate()?;
        let error = LabCa::from_pem(ca.cert_pem(), &other_ca.key_pem()).err();
        assert!(matches!(error, Some(PkiError::CaMismatch(_))), "{error:?}");
        Ok(())
    }

    #[test]
    fn from_pem_rejects_garbage() -> TestResult {
        let ca = LabCa::generate()?;
        let error = LabCa::from_pem("garbage", &ca.key_pem()).err();
        assert!(matches!(error, Some(PkiError::CaCertPem(_))), "{error:?}");
        let error = LabCa::from_pem(ca.cert_pem(), "garbage").err();
        assert!(matches!(error, Some(PkiError::CaKeyPem(_))), "{error:?}");
        // A certificate where the key belongs is not a key either.
        let error = LabCa::from_pem(ca.cert_pem(), ca.cert_pem()).err();
        assert!(matches!(error, Some(PkiError::CaKeyPem(_))), "{error:?}");
        Ok(())
    }

    #[test]
    fn issue_leaf_rejects_no_names_and_invalid_names() -> TestResult {
        let ca = LabCa::generate()?;
        assert!(matches!(ca.issue_leaf(&[]), Err(PkiError::NoLeafNames)));
        let error = ca.issue_leaf(&["caf\u{e9}.test"]).err();
        assert!(matches!(error, Some(PkiError::InvalidLeafNames { .. })), "{error:?}");
        Ok(())
    }

    #[test]
    fn debug_never_prints_keys() -> TestResult {
        let ca = LabCa::generate()?;
        let leaf = ca.issue_lab_leaf()?;
        let ca_debug = format!("{ca:?}");
        let leaf_debug = format!("{leaf:?}");
        for debug in [&ca_debug, &leaf_debug] {
            assert!(debug.contains("[redacted]"), "{debug}");
            assert!(!debug.contains("PRIVATE KEY"), "{debug}");
        }
        let ca_key_pem = ca.key_pem();
        let ca_key_body = ca_key_pem.lines().nth(1).unwrap_or_default();
        let leaf_key_body = leaf.key_pem().lines().nth(1).unwrap_or_default();
        assert!(!ca_key_body.is_empty() && !ca_debug.contains(ca_key_body));
        assert!(!leaf_key_body.is_empty() && !leaf_debug.contains(leaf_key_body));
        Ok(())
    }

    #[test]
    fn server_config_offers_http_1_1_only() -> TestResult {
        let ca = LabCa::generate()?;
        let leaf = ca.issue_lab_leaf()?;
        let config = leaf.server_config(&ca)?;
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        Ok(())
    }

    #[test]
    fn key_der_matches_key_pem() -> TestResult {
        let ca = LabCa::generate()?;
        let leaf = ca.issue_lab_leaf()?;
        let from_pem = PrivateKeyDer::from_pem_slice(leaf.key_pem().as_bytes())?;
        assert_eq!(from_pem.secret_der(), leaf.key_der().secret_der());
        Ok(())
    }
}
